"""How an export's entries are written (lifecycle/archive.py): JSON arrays one item at a time,
CSV rows with every cell neutralised against formula injection, from rows streamed out of the
database, so memory holds one batch of rows."""

from __future__ import annotations

import csv
import json
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from lifecycle.zip_sink import TextEntry, ZipSink
from workspaces.csv_cells import csv_safe


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return str(value)


def dump(value: Any) -> str:
    return json.dumps(value, default=_json_default, ensure_ascii=False)


class JsonArray:
    """A JSON array written one item at a time."""

    def __init__(self, out: TextEntry, *, end: str = "\n]\n") -> None:
        self.out = out
        self.first = True
        self.end = end
        out.write("[")

    def _next(self) -> None:
        self.out.write("\n" if self.first else ",\n")
        self.first = False

    def add(self, item: Mapping[str, Any]) -> None:
        self._next()
        self.out.write(dump(item))

    def add_open(self, item: Mapping[str, Any], key: str) -> JsonArray:
        """Add ``item`` with its ``key`` (the last) an array written afterwards, one element at a
        time: memory holds one element, never the whole list (a conversation of any length).
        Close the returned array before the next ``add``."""
        self._next()
        head = dump({**item, key: None})
        self.out.write(head.removesuffix("null}"))
        return JsonArray(self.out, end="]}")

    def close(self) -> None:
        self.out.write(self.end)


def csv_writer(out: TextEntry, columns: Sequence[str]) -> Any:
    writer = csv.writer(out, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerow(columns)
    return writer


def csv_row(writer: Any, row: Mapping[str, Any], columns: Sequence[str]) -> None:
    writer.writerow([csv_safe(_cell(row.get(column))) for column in columns])


def _cell(value: Any) -> Any:
    if isinstance(value, list | dict):
        return dump(value)
    return value


async def write_json(archive: ZipSink, name: str, rows: AsyncIterator[Mapping[str, Any]]) -> None:
    async with archive.text_entry(name) as out:
        array = JsonArray(out)
        async for row in rows:
            array.add(row)
            await out.drain()
        array.close()


async def write_csv(
    archive: ZipSink,
    name: str,
    rows: AsyncIterator[Mapping[str, Any]],
    columns: Sequence[str],
) -> None:
    async with archive.text_entry(name) as out:
        writer = csv_writer(out, columns)
        async for row in rows:
            csv_row(writer, row, columns)
            await out.drain()

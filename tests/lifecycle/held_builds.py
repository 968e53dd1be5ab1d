"""Export builds held before their first write until the test lets them go: an export stays
``running`` (so a new request gets 409 ``export_in_progress``) for as long as the test needs,
whatever the schedule. Unheld, the in-process job builds a small workspace's zip in a moment:
a request that follows the 202 may find it ``ready`` already and rightly start another."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from lifecycle import exports


@contextmanager
def builds_held(monkeypatch: pytest.MonkeyPatch) -> Iterator[asyncio.Event]:
    """Every export build started in the block waits before writing until the event yielded
    is set; set when the block ends however it ends, so no build is left waiting."""
    go = asyncio.Event()
    write_archive = exports.archive_writer.write_archive

    async def held(*args: Any, **kwargs: Any) -> None:
        await go.wait()
        await write_archive(*args, **kwargs)

    monkeypatch.setattr(exports.archive_writer, "write_archive", held)
    try:
        yield go
    finally:
        go.set()

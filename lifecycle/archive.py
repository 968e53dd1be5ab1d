"""The zip of a workspace export (lifecycle/exports.py builds it in a job), written entry by entry.

The zip holds:

- ``README.txt``: what each file is;
- ``workspace.json``: name, slug, plan, persona, widget settings;
- ``documents.json``: each document's metadata and its text as indexed (``chunks``: position
  and text; neighbouring chunks overlap by CHUNK_OVERLAP_TOKENS), and ``documents/<id>/<name>``:
  the original file or page as it was ingested, where it is kept;
- ``sources.json``: the web sources (URL, kind, schedule, excluded pages, last sync);
- ``faqs.json`` and ``faqs.csv``;
- ``leads.csv`` (the leads export's columns) and ``lead_submissions.csv``;
- ``conversations.json`` (each conversation with its messages, each message with the rating and
  comment it got) and ``messages.csv``;
- ``unanswered.csv``: the questions the bot could not answer, and whether each was resolved.

Every CSV cell is neutralised against formula injection (``workspaces.leads.csv_safe``). Rows are
streamed from a server-side cursor straight into the zip, a conversation's messages and a
document's chunks included: memory holds one batch of rows (and one document's original file),
never the workspace nor one whole conversation. The zip is written and deflated by a thread of
its own (``lifecycle.zip_sink``), never in the event loop.
"""

from __future__ import annotations

import csv
import json
import re
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.models import utcnow
from lifecycle import export_repository as repo
from lifecycle.zip_sink import TextEntry, ZipSink
from workspaces import lead_repository as lead_repo
from workspaces import leads
from workspaces.leads import csv_safe

README = """TrulyBot workspace export

workspace.json          the workspace's settings (name, slug, plan, persona, widget)
documents.json          each document's metadata, and its text as indexed ("chunks", in order;
                        neighbouring chunks overlap by a few words)
documents/<id>/<name>   the original file or page of a document, where it was kept
sources.json            the web sources: URL, kind, sync schedule, excluded pages, last sync
faqs.json, faqs.csv     the FAQ knowledge base
leads.csv               the leads (as the leads export), lead_submissions.csv every form sent
conversations.json      each conversation with its messages, and each message's feedback
                        (rating, who rated, comment); messages.csv the same messages flat
unanswered.csv          the questions the bot could not answer, and whether each was resolved

CSV cells that a spreadsheet would run as a formula start with an apostrophe.
Times are ISO 8601 in UTC.
"""


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return str(value)


def _dump(value: Any) -> str:
    return json.dumps(value, default=_json_default, ensure_ascii=False)


class _JsonArray:
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
        self.out.write(_dump(item))

    def add_open(self, item: Mapping[str, Any], key: str) -> _JsonArray:
        """Add ``item`` with its ``key`` (the last) an array written afterwards, one element at a
        time: memory holds one element, never the whole list (a conversation of any length).
        Close the returned array before the next ``add``."""
        self._next()
        head = _dump({**item, key: None})
        self.out.write(head.removesuffix("null}"))
        return _JsonArray(self.out, end="]}")

    def close(self) -> None:
        self.out.write(self.end)


def _csv(out: TextEntry, columns: Sequence[str]) -> Any:
    writer = csv.writer(out, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerow(columns)
    return writer


def _csv_row(writer: Any, row: Mapping[str, Any], columns: Sequence[str]) -> None:
    writer.writerow([csv_safe(_cell(row.get(column))) for column in columns])


async def _write_json(archive: ZipSink, name: str, rows: AsyncIterator[Mapping[str, Any]]) -> None:
    async with archive.text_entry(name) as out:
        array = _JsonArray(out)
        async for row in rows:
            array.add(row)
            await out.drain()
        array.close()


async def _write_csv(
    archive: ZipSink,
    name: str,
    rows: AsyncIterator[Mapping[str, Any]],
    columns: Sequence[str],
) -> None:
    async with archive.text_entry(name) as out:
        writer = _csv(out, columns)
        async for row in rows:
            _csv_row(writer, row, columns)
            await out.drain()


def _cell(value: Any) -> Any:
    if isinstance(value, list | dict):
        return _dump(value)
    return value


async def write_archive(archive: ZipSink, session: AsyncSession, workspace: Any) -> None:
    workspace_id: uuid.UUID = workspace.id
    await archive.writestr("README.txt", README)
    await archive.writestr(
        "workspace.json",
        _dump(
            {
                "id": workspace.id,
                "name": workspace.name,
                "slug": workspace.slug,
                "plan": workspace.plan,
                "persona": workspace.persona,
                "widget_config": workspace.widget_config,
                "created_at": workspace.created_at,
                "exported_at": utcnow(),
            }
        )
        + "\n",
    )
    originals = await _write_documents(archive, session, workspace_id)
    for document_id, source in originals:
        body = await repo.document_original(
            session, workspace_id=workspace_id, document_id=document_id
        )
        if body is not None:
            await archive.writestr(f"documents/{document_id}/{_safe_name(source)}", body)
    await _write_sources(archive, session, workspace_id)
    await _write_faqs(archive, session, workspace_id)
    await _write_leads(archive, session, workspace_id)
    await _write_conversations(archive, session, workspace_id)
    await _write_unanswered(archive, session, workspace_id)


def _safe_name(source: str) -> str:
    name = source.rsplit("/", 1)[-1].split("?", 1)[0]
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "original"
    return name[:100]


async def _write_documents(
    archive: ZipSink, session: AsyncSession, workspace_id: uuid.UUID
) -> list[tuple[uuid.UUID, str]]:
    originals: list[tuple[uuid.UUID, str]] = []  # ids only: the bodies are read one by one
    async with archive.text_entry("documents.json") as out:
        array = _JsonArray(out)
        async for row in repo.stream_documents(session, workspace_id=workspace_id):
            item = {k: v for k, v in row.items() if k != "has_original"}
            chunks = array.add_open(item, "chunks")
            async for chunk in repo.stream_chunks(
                session, workspace_id=workspace_id, document_id=row["id"]
            ):
                chunks.add({"position": chunk["position"], "text": chunk["text"]})
                await out.drain()
            chunks.close()
            if row["has_original"]:
                originals.append((row["id"], row["source"] or "original"))
        array.close()
    return originals


FAQ_COLUMNS = ("id", "question", "answer", "alt_questions", "enabled", "created_at", "updated_at")


async def _write_faqs(archive: ZipSink, session: AsyncSession, workspace_id: uuid.UUID) -> None:
    await _write_json(archive, "faqs.json", repo.stream_faqs(session, workspace_id=workspace_id))
    await _write_csv(
        archive, "faqs.csv", repo.stream_faqs(session, workspace_id=workspace_id), FAQ_COLUMNS
    )


SUBMISSION_COLUMNS = (
    "id",
    "lead_id",
    "email",
    "name",
    "phone",
    "message",
    "source",
    "conversation_id",
    "created_at",
)


async def _write_leads(archive: ZipSink, session: AsyncSession, workspace_id: uuid.UUID) -> None:
    async with archive.text_entry("leads.csv") as out:
        rows = lead_repo.stream_leads_with_submissions(
            session,
            workspace_id=workspace_id,
            status=None,
            q=None,
            created_after=None,
            created_before=None,
        )
        pieces: AsyncIterator[str] = leads.export_csv(rows)
        async for piece in pieces:
            out.write(piece)
            await out.drain()
    await _write_csv(
        archive,
        "lead_submissions.csv",
        repo.stream_lead_submissions(session, workspace_id=workspace_id),
        SUBMISSION_COLUMNS,
    )


MESSAGE_FIELDS = ("message_id", "role", "text", "intent", "source", "citations", "created_at")
FEEDBACK_FIELDS = ("feedback_rating", "feedback_rater", "feedback_comment", "feedback_at")
MESSAGE_COLUMNS = ("conversation_id", "session_id", *MESSAGE_FIELDS, *FEEDBACK_FIELDS)


def _message(row: Mapping[str, Any]) -> dict[str, Any]:
    message = {("id" if k == "message_id" else k): row[k] for k in MESSAGE_FIELDS}
    message["feedback"] = (
        {
            "rating": row["feedback_rating"],
            "rater": row["feedback_rater"],
            "comment": row["feedback_comment"],
            "created_at": row["feedback_at"],
        }
        if row["feedback_rating"] is not None
        else None
    )
    return message


async def _write_conversations(
    archive: ZipSink, session: AsyncSession, workspace_id: uuid.UUID
) -> None:
    """Each conversation is written as its messages arrive: a conversation of any length costs
    one batch of rows, never all its messages at once."""
    async with archive.text_entry("conversations.json") as out:
        array = _JsonArray(out)
        current: uuid.UUID | None = None
        messages: _JsonArray | None = None
        async for row in repo.stream_conversation_messages(session, workspace_id=workspace_id):
            if messages is None or current != row["conversation_id"]:
                if messages is not None:
                    messages.close()
                current = row["conversation_id"]
                head = {
                    "id": row["conversation_id"],
                    "session_id": row["session_id"],
                    "channel": row["channel"],
                    "status": row["conversation_status"],
                    "lead_id": row["lead_id"],
                    "created_at": row["conversation_created_at"],
                    "last_message_at": row["last_message_at"],
                }
                messages = array.add_open(head, "messages")
            if row["message_id"] is not None:
                messages.add(_message(row))
            await out.drain()
        if messages is not None:
            messages.close()
        array.close()
    async with archive.text_entry("messages.csv") as out:
        writer = _csv(out, MESSAGE_COLUMNS)
        async for row in repo.stream_conversation_messages(session, workspace_id=workspace_id):
            if row["message_id"] is not None:
                _csv_row(writer, row, MESSAGE_COLUMNS)
                await out.drain()


UNANSWERED_COLUMNS = ("id", "question", "resolved", "conversation_id", "message_id", "created_at")


async def _write_unanswered(
    archive: ZipSink, session: AsyncSession, workspace_id: uuid.UUID
) -> None:
    await _write_csv(
        archive,
        "unanswered.csv",
        repo.stream_unanswered(session, workspace_id=workspace_id),
        UNANSWERED_COLUMNS,
    )


async def _write_sources(archive: ZipSink, session: AsyncSession, workspace_id: uuid.UUID) -> None:
    await _write_json(
        archive, "sources.json", repo.stream_sources(session, workspace_id=workspace_id)
    )

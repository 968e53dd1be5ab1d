"""The zip of a workspace export (lifecycle/exports.py builds it in a job), written entry by entry.

The zip holds:

- ``README.txt``: what each file is;
- ``workspace.json``: name, slug, plan, persona, widget settings;
- ``documents.json``: each document's metadata and its text as indexed (``chunks``: position
  and text; neighbouring chunks overlap by CHUNK_OVERLAP_TOKENS), and ``documents/<id>/<name>``:
  the original file or page as it was ingested, where it is kept;
- ``sources.json``: the web sources (URL, kind, schedule, excluded pages, last sync);
- ``faqs.json`` and ``faqs.csv``;
- ``leads.csv`` (the leads export's columns) and ``lead_submissions.csv`` (each with
  ``conversation_deleted_at``: when conversation retention deleted the conversation it came
  from);
- ``conversations.json`` (each conversation with its messages, each message with the rating and
  comment it got, and ``sales_routed``: a sales lead's fallback sent to the team, as the
  analytics count it) and ``messages.csv`` (``sales_routed`` its last column);
- ``unanswered.csv``: the questions the bot could not answer, and whether each was resolved;
- ``audit_log.json``, ``billing_orders.csv``, ``billing_payments.csv``, ``billing_events.csv``
  and ``subscription.json``: what people and keys did, and the billing records
  (lifecycle/archive_records.py).

Every CSV cell is neutralised against formula injection (``workspaces.csv_cells.csv_safe``).
Rows are streamed from a server-side cursor straight into the zip, a conversation's messages and a
document's chunks included: memory holds one batch of rows (and one document's original file),
never the workspace nor one whole conversation. The zip is written and deflated by a thread of
its own (``lifecycle.zip_sink``), never in the event loop.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.models import utcnow
from lifecycle import archive_records
from lifecycle import export_repository as repo
from lifecycle.archive_format import JsonArray, csv_row, csv_writer, dump, write_csv, write_json
from lifecycle.zip_sink import ZipSink
from workspaces import lead_repository as lead_repo
from workspaces import leads

README = """TrulyBot workspace export

workspace.json          the workspace's settings (name, slug, plan, persona, widget)
documents.json          each document's metadata, and its text as indexed ("chunks", in order;
                        neighbouring chunks overlap by a few words)
documents/<id>/<name>   the original file or page of a document, where it was kept
sources.json            the web sources: URL, kind, sync schedule, excluded pages, last sync
faqs.json, faqs.csv     the FAQ knowledge base
leads.csv               the leads (as the leads export), lead_submissions.csv every form sent;
                        conversation_deleted_at: when the conversation it came from was deleted
                        (conversation retention), its conversation_id then empty
conversations.json      each conversation with its messages, and each message's feedback
                        (rating, who rated, comment) and sales_routed (true: an answer that
                        sent a sales lead to the team); messages.csv the same messages flat
unanswered.csv          the questions the bot could not answer, and whether each was resolved
audit_log.json          what the workspace's people and API keys did, oldest first (who, what,
                        on what, from which address and browser)
billing_orders.csv      the plan orders made (amounts in the currency's smallest unit: paise)
billing_payments.csv    the payments received for them, with amount_refunded (what went back),
                        then the charges of your Razorpay subscription after you cancelled
                        (no order_id): held for a refund, part_refunded, refunded or kept
billing_events.csv      the payment provider's events about the workspace and what each did
subscription.json       the subscription: plan, status, paid periods, cancellation, pending
                        plan (null if the workspace never had one)

CSV cells that a spreadsheet would run as a formula start with an apostrophe.
Times are ISO 8601 in UTC.
"""


async def write_archive(archive: ZipSink, session: AsyncSession, workspace: Any) -> None:
    workspace_id: uuid.UUID = workspace.id
    await archive.writestr("README.txt", README)
    await archive.writestr(
        "workspace.json",
        dump(
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
    await archive_records.write_records(archive, session, workspace_id)


def _safe_name(source: str) -> str:
    name = source.rsplit("/", 1)[-1].split("?", 1)[0]
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "original"
    return name[:100]


async def _write_documents(
    archive: ZipSink, session: AsyncSession, workspace_id: uuid.UUID
) -> list[tuple[uuid.UUID, str]]:
    originals: list[tuple[uuid.UUID, str]] = []  # ids only: the bodies are read one by one
    async with archive.text_entry("documents.json") as out:
        array = JsonArray(out)
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
    await write_json(archive, "faqs.json", repo.stream_faqs(session, workspace_id=workspace_id))
    await write_csv(
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
    "conversation_deleted_at",
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
    await write_csv(
        archive,
        "lead_submissions.csv",
        repo.stream_lead_submissions(session, workspace_id=workspace_id),
        SUBMISSION_COLUMNS,
    )


MESSAGE_FIELDS = ("message_id", "role", "text", "intent", "source", "citations", "created_at")
FEEDBACK_FIELDS = ("feedback_rating", "feedback_rater", "feedback_comment", "feedback_at")
# A sales lead's fallback sent to the team (what the analytics count as ``sales_routed``, and
# the analytics' conversation export says): last in messages.csv, after the columns it had.
ROUTED_FIELD = "sales_routed"
MESSAGE_COLUMNS = (
    "conversation_id",
    "session_id",
    *MESSAGE_FIELDS,
    *FEEDBACK_FIELDS,
    ROUTED_FIELD,
)


def _message(row: Mapping[str, Any]) -> dict[str, Any]:
    message = {("id" if k == "message_id" else k): row[k] for k in MESSAGE_FIELDS}
    message[ROUTED_FIELD] = bool(row[ROUTED_FIELD])
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
        array = JsonArray(out)
        current: uuid.UUID | None = None
        messages: JsonArray | None = None
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
        writer = csv_writer(out, MESSAGE_COLUMNS)
        async for row in repo.stream_conversation_messages(session, workspace_id=workspace_id):
            if row["message_id"] is not None:
                csv_row(writer, row, MESSAGE_COLUMNS)
                await out.drain()


UNANSWERED_COLUMNS = ("id", "question", "resolved", "conversation_id", "message_id", "created_at")


async def _write_unanswered(
    archive: ZipSink, session: AsyncSession, workspace_id: uuid.UUID
) -> None:
    await write_csv(
        archive,
        "unanswered.csv",
        repo.stream_unanswered(session, workspace_id=workspace_id),
        UNANSWERED_COLUMNS,
    )


async def _write_sources(archive: ZipSink, session: AsyncSession, workspace_id: uuid.UUID) -> None:
    await write_json(
        archive, "sources.json", repo.stream_sources(session, workspace_id=workspace_id)
    )

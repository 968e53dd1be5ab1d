"""Workspace exports: one zip of JSON and CSV files with everything a workspace holds about its
knowledge and its visitors, built by a job, downloadable by its owners until it expires.

The zip (``DATA_DIR/exports/<random>.zip``, never served by name) holds:

- ``README.txt``: what each file is;
- ``workspace.json``: name, slug, plan, persona, widget settings;
- ``documents.json``: each document's metadata and its text as indexed (``chunks``: position
  and text; neighbouring chunks overlap by CHUNK_OVERLAP_TOKENS), and ``documents/<id>/<name>``:
  the original file or page as it was ingested, where it is kept;
- ``faqs.json`` and ``faqs.csv``;
- ``leads.csv`` (the leads export's columns) and ``lead_submissions.csv``;
- ``conversations.json`` (each conversation with its messages) and ``messages.csv``.

Every CSV cell is neutralised against formula injection (``workspaces.leads.csv_safe``). Rows are
streamed from a server-side cursor straight into the zip: memory holds one batch of rows and
one conversation or document at a time, never the workspace.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import os
import re
import secrets
import uuid
import zipfile
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.config import Settings
from core.db import Database, set_tenant
from core.errors import AppError, Conflict, NotFound
from core.models import utcnow
from lifecycle import repository as repo
from lifecycle.models import WorkspaceExport
from workspaces import leads
from workspaces import repository as ws_repo
from workspaces.accounts import require_verified
from workspaces.leads import csv_safe
from workspaces.permissions import Action, authorize
from workspaces.service import WorkspaceAccess

log = logging.getLogger(__name__)

EXPORTS_DIR = "exports"
EXPORT_JOB = "build_workspace_export"
ERROR_MAX = 500
# An export still queued or running this long after it was requested lost its job (a process
# died before enqueueing it, or while building): it is failed when the next one is requested.
STALE_AFTER = timedelta(hours=2)
FILE_NAME = re.compile(r"^[A-Za-z0-9_-]{16,64}\.zip$")

README = """TrulyBot workspace export

workspace.json          the workspace's settings (name, slug, plan, persona, widget)
documents.json          each document's metadata, and its text as indexed ("chunks", in order;
                        neighbouring chunks overlap by a few words)
documents/<id>/<name>   the original file or page of a document, where it was kept
faqs.json, faqs.csv     the FAQ knowledge base
leads.csv               the leads (as the leads export), lead_submissions.csv every form sent
conversations.json      each conversation with its messages, messages.csv the same messages flat

CSV cells that a spreadsheet would run as a formula start with an apostrophe.
Times are ISO 8601 in UTC.
"""


class ExportGone(AppError):
    code = "export_expired"
    status_code = 410


def exports_dir(settings: Settings) -> Path:
    return Path(settings.data_dir) / EXPORTS_DIR


def export_path(settings: Settings, file_name: str) -> Path:
    if not FILE_NAME.match(file_name):  # only names this module made
        raise ValueError(f"not an export file name: {file_name!r}")
    return exports_dir(settings) / file_name


# --- requests (the HTTP side) ------------------------------------------------------------------


async def request_export(session: AsyncSession, access: WorkspaceAccess) -> WorkspaceExport:
    """A new export, queued; one at a time per workspace (409 ``export_in_progress``; one
    unfinished after ``STALE_AFTER`` lost its job and is failed instead). Audited. The caller
    commits, then enqueues ``EXPORT_JOB``."""
    permit = authorize(access, Action.EXPORT_CREATE)
    await require_verified(session, access)  # 403 email_unverified (workspaces/accounts.py)
    workspace_id = access.workspace.id
    await repo.fail_stale_exports(
        session,
        workspace_id=workspace_id,
        created_before=utcnow() - STALE_AFTER,
        error="interrupted: the export did not finish; this one was replaced by a new request",
    )
    if await repo.count_active_exports(session, workspace_id=workspace_id):
        raise Conflict(
            "An export of this workspace is already being built", code="export_in_progress"
        )
    export = await repo.insert_export(
        session,
        WorkspaceExport(
            id=uuid.uuid4(),
            workspace_id=workspace_id,
            requested_by=access.principal.user_id,
            status="queued",
            created_at=utcnow(),
        ),
    )
    await permit.record(session, target_type="export", target_id=export.id)
    return export


async def get_export(
    session: AsyncSession, access: WorkspaceAccess, *, export_id: uuid.UUID
) -> WorkspaceExport:
    authorize(access, Action.EXPORT_READ)
    export = await repo.get_export(session, workspace_id=access.workspace.id, export_id=export_id)
    if export is None:
        raise NotFound("Export not found")
    return export


async def list_exports(
    session: AsyncSession, access: WorkspaceAccess, *, limit: int
) -> Sequence[WorkspaceExport]:
    authorize(access, Action.EXPORT_READ)
    return await repo.list_exports(session, workspace_id=access.workspace.id, limit=limit)


@dataclass(frozen=True)
class Download:
    path: Path
    filename: str
    size: int


async def open_download(
    session: AsyncSession,
    access: WorkspaceAccess,
    *,
    export_id: uuid.UUID,
    settings: Settings,
    now: datetime | None = None,
) -> Download:
    """The ready zip of an export (409 ``export_not_ready`` while it is being built, 410
    ``export_expired`` once expired). Audited: who downloaded which export."""
    permit = authorize(access, Action.EXPORT_DOWNLOAD)
    await require_verified(session, access)
    export = await repo.get_export(session, workspace_id=access.workspace.id, export_id=export_id)
    if export is None:
        raise NotFound("Export not found")
    now = now or utcnow()
    expired = export.status == "expired" or (
        export.expires_at is not None and export.expires_at <= now
    )
    if expired:
        raise ExportGone("This export has expired; request a new one")
    if export.status != "ready" or not export.file_name:
        raise Conflict(
            f"This export is {export.status}, not ready to download",
            code="export_not_ready",
            details={"status": export.status},
        )
    path = export_path(settings, export.file_name)
    if not path.is_file():
        raise ExportGone("This export's file is gone; request a new one")
    await permit.record(session, target_type="export", target_id=export.id)
    stamp = export.created_at.strftime("%Y%m%d-%H%M%S")
    return Download(
        path=path,
        filename=f"trulybot-{access.workspace.slug}-{stamp}.zip",
        size=path.stat().st_size,
    )


# --- the job -----------------------------------------------------------------------------------


async def build_export(
    db: Database,
    settings: Settings,
    *,
    workspace_id: uuid.UUID,
    export_id: uuid.UUID,
    now: datetime | None = None,
) -> str:
    """Build the zip of a queued export; ``ready`` (with its expiry), or ``failed``. Idempotent:
    an export that is no longer queued or running is left alone; a crashed run starts over."""
    async with db.transaction(workspace_id=workspace_id) as session:
        claimed = await repo.update_export(
            session,
            workspace_id=workspace_id,
            export_id=export_id,
            values={"status": "running"},
            only_status=("queued", "running"),
        )
    if not claimed:
        return "skipped"
    directory = exports_dir(settings)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    file_name = f"{secrets.token_urlsafe(24)}.zip"
    final = export_path(settings, file_name)
    partial = final.with_suffix(".part")
    try:
        async with db.transaction(workspace_id=workspace_id) as session:
            workspace = await ws_repo.get_workspace(session, workspace_id)
            if workspace is None:
                raise NotFound("Workspace not found")
            with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
                await _write_archive(archive, session, workspace)
        os.replace(partial, final)
    except Exception as exc:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
        log.exception("export %s of workspace %s failed", export_id, workspace_id)
        async with db.transaction(workspace_id=workspace_id) as session:
            await repo.update_export(
                session,
                workspace_id=workspace_id,
                export_id=export_id,
                values={
                    "status": "failed",
                    "error": f"{type(exc).__name__}: {exc}"[:ERROR_MAX],
                    "finished_at": utcnow(),
                },
            )
        return "failed"
    finished = now or utcnow()
    async with db.transaction(workspace_id=workspace_id) as session:
        kept = await repo.update_export(
            session,
            workspace_id=workspace_id,
            export_id=export_id,
            values={
                "status": "ready",
                "file_name": file_name,
                "size_bytes": final.stat().st_size,
                "finished_at": finished,
                "expires_at": finished + timedelta(hours=settings.export_ttl_hours),
                "error": None,
            },
            only_status=("running",),
        )
    if not kept:  # deleted meanwhile (the workspace went): leave no file behind
        final.unlink(missing_ok=True)
        return "skipped"
    return "ready"


async def delete_expired(db: Database, settings: Settings, *, now: datetime) -> int:
    """Delete the files of exports past their expiry and mark them expired (every workspace's:
    the scheduled job). Returns how many."""
    total = 0
    while True:
        async with db.transaction(lookup=repo.EXPORT_SWEEP_LOOKUP) as session:
            rows = await repo.expired_exports(session, now=now, limit=200)
            for _, _, file_name in rows:
                if file_name:
                    with contextlib.suppress(FileNotFoundError, ValueError):
                        export_path(settings, file_name).unlink()
            for export_id, workspace_id, _ in rows:
                # RLS admits the update in the export's own workspace only.
                await set_tenant(
                    session, workspace_id=workspace_id, lookup=repo.EXPORT_SWEEP_LOOKUP
                )
                await repo.mark_expired(session, workspace_id=workspace_id, export_id=export_id)
        total += len(rows)
        if len(rows) < 200:
            return total


async def remove_workspace_files(
    session: AsyncSession, settings: Settings, *, workspace_id: uuid.UUID
) -> int:
    """Delete every export file of a workspace (its rows go with the workspace)."""
    names = await repo.export_file_names(session, workspace_id=workspace_id)
    for name in names:
        with contextlib.suppress(FileNotFoundError, ValueError):
            export_path(settings, name).unlink()
    return len(names)


# --- writing the archive -----------------------------------------------------------------------


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return str(value)


def _dump(value: Any) -> str:
    return json.dumps(value, default=_json_default, ensure_ascii=False)


@contextlib.contextmanager
def _text_entry(archive: zipfile.ZipFile, name: str) -> Iterator[IO[str]]:
    with (
        archive.open(name, "w", force_zip64=True) as raw,
        io.TextIOWrapper(raw, encoding="utf-8", newline="") as text,
    ):
        yield text


class _JsonArray:
    """A JSON array written one item at a time."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out
        self.first = True
        out.write("[")

    def add(self, item: Mapping[str, Any]) -> None:
        self.out.write("\n" if self.first else ",\n")
        self.out.write(_dump(item))
        self.first = False

    def close(self) -> None:
        self.out.write("\n]\n")


def _csv(out: IO[str], columns: Sequence[str]) -> Any:
    writer = csv.writer(out, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerow(columns)
    return writer


def _csv_row(writer: Any, row: Mapping[str, Any], columns: Sequence[str]) -> None:
    writer.writerow([csv_safe(_cell(row.get(column))) for column in columns])


def _cell(value: Any) -> Any:
    if isinstance(value, list | dict):
        return _dump(value)
    return value


async def _write_archive(archive: zipfile.ZipFile, session: AsyncSession, workspace: Any) -> None:
    workspace_id: uuid.UUID = workspace.id
    archive.writestr("README.txt", README)
    archive.writestr(
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
            archive.writestr(f"documents/{document_id}/{_safe_name(source)}", body)
    await _write_faqs(archive, session, workspace_id)
    await _write_leads(archive, session, workspace_id)
    await _write_conversations(archive, session, workspace_id)


def _safe_name(source: str) -> str:
    name = source.rsplit("/", 1)[-1].split("?", 1)[0]
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "original"
    return name[:100]


async def _write_documents(
    archive: zipfile.ZipFile, session: AsyncSession, workspace_id: uuid.UUID
) -> list[tuple[uuid.UUID, str]]:
    originals: list[tuple[uuid.UUID, str]] = []  # ids only: the bodies are read one by one
    with _text_entry(archive, "documents.json") as out:
        array = _JsonArray(out)
        async for row in repo.stream_documents(session, workspace_id=workspace_id):
            item = {k: v for k, v in row.items() if k != "has_original"}
            chunks = [
                {"position": chunk["position"], "text": chunk["text"]}
                async for chunk in repo.stream_chunks(
                    session, workspace_id=workspace_id, document_id=row["id"]
                )
            ]
            item["chunks"] = chunks
            array.add(item)
            if row["has_original"]:
                originals.append((row["id"], row["source"] or "original"))
        array.close()
    return originals


FAQ_COLUMNS = ("id", "question", "answer", "alt_questions", "enabled", "created_at", "updated_at")


async def _write_faqs(
    archive: zipfile.ZipFile, session: AsyncSession, workspace_id: uuid.UUID
) -> None:
    with _text_entry(archive, "faqs.json") as out:
        array = _JsonArray(out)
        async for row in repo.stream_faqs(session, workspace_id=workspace_id):
            array.add(dict(row))
        array.close()
    with _text_entry(archive, "faqs.csv") as out:
        writer = _csv(out, FAQ_COLUMNS)
        async for row in repo.stream_faqs(session, workspace_id=workspace_id):
            _csv_row(writer, row, FAQ_COLUMNS)


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


async def _write_leads(
    archive: zipfile.ZipFile, session: AsyncSession, workspace_id: uuid.UUID
) -> None:
    with _text_entry(archive, "leads.csv") as out:
        pieces: AsyncIterator[str] = leads.export_csv(
            session,
            workspace_id=workspace_id,
            status=None,
            q=None,
            created_after=None,
            created_before=None,
        )
        async for piece in pieces:
            out.write(piece)
    with _text_entry(archive, "lead_submissions.csv") as out:
        writer = _csv(out, SUBMISSION_COLUMNS)
        async for row in repo.stream_lead_submissions(session, workspace_id=workspace_id):
            _csv_row(writer, row, SUBMISSION_COLUMNS)


CONVERSATION_FIELDS = (
    "conversation_id",
    "session_id",
    "channel",
    "conversation_status",
    "lead_id",
    "conversation_created_at",
    "last_message_at",
)
MESSAGE_FIELDS = ("message_id", "role", "text", "intent", "source", "citations", "created_at")
MESSAGE_COLUMNS = ("conversation_id", "session_id", *MESSAGE_FIELDS)


async def _write_conversations(
    archive: zipfile.ZipFile, session: AsyncSession, workspace_id: uuid.UUID
) -> None:
    with _text_entry(archive, "conversations.json") as out:
        array = _JsonArray(out)
        current: dict[str, Any] | None = None
        async for row in repo.stream_conversation_messages(session, workspace_id=workspace_id):
            if current is None or current["id"] != row["conversation_id"]:
                if current is not None:
                    array.add(current)
                current = {
                    "id": row["conversation_id"],
                    "session_id": row["session_id"],
                    "channel": row["channel"],
                    "status": row["conversation_status"],
                    "lead_id": row["lead_id"],
                    "created_at": row["conversation_created_at"],
                    "last_message_at": row["last_message_at"],
                    "messages": [],
                }
            if row["message_id"] is not None:
                current["messages"].append(
                    {("id" if k == "message_id" else k): row[k] for k in MESSAGE_FIELDS}
                )
        if current is not None:
            array.add(current)
        array.close()
    with _text_entry(archive, "messages.csv") as out:
        writer = _csv(out, MESSAGE_COLUMNS)
        async for row in repo.stream_conversation_messages(session, workspace_id=workspace_id):
            if row["message_id"] is not None:
                _csv_row(writer, row, MESSAGE_COLUMNS)

"""`trulybot ingest PATH... --workspace SLUG`: bulk-ingest files and folders, jobs run inline.

The operator tool resolves the workspace's slug as the app role through the one SECURITY DEFINER
function that maps a slug to an id (migration 0006f), so DATABASE_URL is enough; everything else
runs as the app role with the tenant set, so RLS applies to the ingestion exactly as in the API.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path, PurePath
from typing import Any

from api.arguments import bounded
from api.runtime import Runtime, operator_runtime
from api.stop_signal import run_command
from core.config import get_settings
from core.errors import AppError
from rag.knowledge import jobs as knowledge_jobs
from rag.knowledge import submissions
from rag.knowledge.repository import documents as document_repo
from workspaces import repository as ws_repo
from workspaces.service import WorkspaceAccess

SUFFIXES = {".txt", ".text", ".md", ".markdown", ".html", ".htm", ".xhtml", ".pdf", ".docx"}


async def resolve_workspace(runtime: Runtime, value: str) -> uuid.UUID:
    try:
        workspace_id = uuid.UUID(value)
    except ValueError:
        pass
    else:  # an id is checked too: a typo (or another environment's id) found nothing, exit 0
        async with runtime.db.transaction(workspace_id=workspace_id) as session:
            if await ws_repo.get_workspace(session, workspace_id) is None:
                raise SystemExit(f"no workspace with id {value}")
        return workspace_id
    async with runtime.db.transaction() as session:
        found = await ws_repo.workspace_id_by_slug(session, value)
    if found is None:
        raise SystemExit(f"no workspace with slug {value!r}")
    return found


def readable(path: PurePath) -> str:
    """``path`` as a document's source: POSIX separators, and a name that is not UTF-8 (Latin-1
    or Windows-1252, from an old archive) read as Windows-1252. Python spells such a byte as a
    lone surrogate, which the database cannot store: the file failed (``DBAPIError``)."""
    name = path.as_posix()
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(name).decode("cp1252", errors="replace")
    return name


def collect(paths: list[str], include: str | None = None) -> list[tuple[Path, str]]:
    """(file, source) pairs; a folder's files keep their path relative to it as source, a file
    given by itself its name. The source is the document's identity: files that would share
    one (``v1/faq.md`` and ``v2/faq.md`` given as files, ``index.html`` in two folders given)
    take their path relative to the folder the colliding files share instead, so each stays a
    document of its own (the second replaced the first, or the run died on the unique index).
    A file given twice is ingested once.

    ``include`` is a glob on that relative path (``*.html``; folders beginning with ``_`` such
    as Sphinx's ``_sources`` are skipped unless it names them).
    """
    out: list[tuple[Path, str]] = []
    seen: set[Path] = set()

    def add(file: Path, source: str) -> None:
        if file.resolve() not in seen:
            seen.add(file.resolve())
            out.append((file, source))

    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for file in sorted(path.rglob("*")):
                rel = file.relative_to(path)
                if not file.is_file() or file.suffix.lower() not in SUFFIXES:
                    continue
                if include is not None and not rel.match(include):
                    continue
                if include is None and any(part.startswith(("_", ".")) for part in rel.parts):
                    continue
                add(file, readable(rel))
        elif path.is_file():
            add(path, readable(PurePath(path.name)))
        else:
            raise SystemExit(f"no such file or folder: {raw}")
    if not out:
        # "0 files" and exit 0 read as done to a script (a typo in --include, a folder of
        # other types): nothing was ingested.
        kinds = ", ".join(sorted(SUFFIXES))
        matching = f" matching --include {include!r}" if include is not None else ""
        raise SystemExit(f"no files to ingest: no {kinds} file{matching} in {' '.join(paths)}")
    return _distinct_sources(out)


def _distinct_sources(files: list[tuple[Path, str]]) -> list[tuple[Path, str]]:
    """``files`` with each group of files sharing a source renamed to their paths relative to
    the folder they have in common; exits naming any source still shared."""
    groups: dict[str, list[Path]] = defaultdict(list)
    for file, source in files:
        groups[source].append(file.resolve())
    renamed: dict[Path, str] = {}
    for group in groups.values():
        if len(group) > 1:
            common = Path(os.path.commonpath([f.parent for f in group]))
            renamed |= {f: readable(f.relative_to(common)) for f in group}
    out = [(file, renamed.get(file.resolve(), source)) for file, source in files]
    shared = sorted(s for s, n in Counter(source for _, source in out).items() if n > 1)
    if shared:
        raise SystemExit(f"several files would be the same document: {', '.join(shared)}")
    return out


async def ingest_files(
    runtime: Runtime,
    workspace_id: uuid.UUID,
    files: list[tuple[Path, str]],
    *,
    concurrency: int = 2,
) -> dict[str, Any]:
    from tqdm import tqdm

    deps = runtime.ingestion
    outcomes: Counter[str] = Counter()
    chunks = 0
    started = time.perf_counter()
    bar = tqdm(total=len(files), unit="doc", desc="ingesting")
    gate = asyncio.Semaphore(concurrency)

    async def one(file: Path, source: str) -> None:
        nonlocal chunks
        async with gate:
            try:
                data = await asyncio.to_thread(file.read_bytes)
                async with deps.db.transaction(workspace_id=workspace_id) as session:
                    workspace = await ws_repo.get_workspace(session, workspace_id)
                    if workspace is None:
                        raise SystemExit("workspace not found")
                    sub = await submissions.submit_upload(
                        session,
                        WorkspaceAccess.operator(workspace, command="ingest"),
                        data=data,
                        filename=source,
                        content_type=None,
                        settings=deps.settings,
                    )
                # Left queued by a run that stopped before its job (Ctrl-C): this run does the
                # job, or nothing would without a server. (A failed one is queued again by the
                # submission itself; one ``processing`` is being worked on, or a server's sweep
                # requeues it.)
                resume = sub.duplicate and sub.document.status == "queued"
                if sub.duplicate and not resume:
                    status = sub.document.status
                    outcomes["duplicate" if status == "ready" else f"duplicate ({status})"] += 1
                    return
                result = await knowledge_jobs.ingest_document(deps, workspace_id, sub.document.id)
                kind = "" if sub.created else " (resumed)" if resume else " (updated)"
                outcomes[result + kind] += 1
                if result == "ready":
                    async with deps.db.transaction(workspace_id=workspace_id) as session:
                        doc = await document_repo.get_document(
                            session, workspace_id, sub.document.id
                        )
                        chunks += doc.chunk_count if doc else 0
            except AppError as exc:
                outcomes[f"refused: {exc.code}"] += 1
            except Exception as exc:  # one file's failure ends neither the others nor the run
                outcomes[f"failed: {type(exc).__name__}"] += 1
                bar.write(f"{file}: {type(exc).__name__}: {exc}")
            finally:
                bar.update(1)

    try:
        await asyncio.gather(*(one(f, s) for f, s in files))
    finally:
        bar.close()
    elapsed = time.perf_counter() - started
    return {
        "files": len(files),
        "outcomes": dict(outcomes),
        "chunks": chunks,
        "seconds": round(elapsed, 1),
        "chunks_per_second": round(chunks / elapsed, 1) if elapsed else 0.0,
    }


async def _run(args: argparse.Namespace) -> int:
    files = collect(args.paths, args.include)
    async with operator_runtime(get_settings()) as runtime:
        workspace_id = await resolve_workspace(runtime, args.workspace)
        summary = await ingest_files(runtime, workspace_id, files, concurrency=args.concurrency)
    print(f"\n{summary['files']} files in {summary['seconds']} s")
    for outcome, count in sorted(summary["outcomes"].items()):
        print(f"  {outcome:<28} {count}")
    print(f"  chunks stored: {summary['chunks']} ({summary['chunks_per_second']} chunks/s)")
    return 0 if not any(k.startswith(("failed", "refused")) for k in summary["outcomes"]) else 1


STOPPED = (
    "stopped by {signal}: the documents under way were cancelled (marked interrupted), those"
    " counted before are stored: run the same command again to finish (it takes up what is"
    " interrupted or left queued; a stored file is a duplicate)"
)


def _cmd(args: argparse.Namespace) -> int:
    # SIGTERM cancels the documents under way (their statements in the server too): killed at
    # once, a backend stayed waiting for the workspace's statistics row, without a statement
    # timeout, and its document was left ``processing``, which a rerun passed as a duplicate.
    return run_command(_run(args), STOPPED)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "ingest",
        help="bulk-ingest files and folders into a workspace",
        description="Bulk-ingest files and folders. Run again after an interruption: a file"
        " whose document an earlier run left queued is processed (resumed), one that failed"
        " is queued again (updated), an unchanged one that is ready is a duplicate.",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH")
    parser.add_argument("--workspace", required=True, help="workspace slug (or id)")
    parser.add_argument(
        "--concurrency", type=bounded(int, 1, 64), default=2, help="files at once (1-64)"
    )
    parser.add_argument("--include", default=None, help="glob on the relative path, e.g. '*.html'")
    parser.set_defaults(func=_cmd)

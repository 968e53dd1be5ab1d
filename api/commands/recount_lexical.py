"""`trulybot recount-lexical [--workspace SLUG]`: count the kept BM25 statistics again.

``lexical_stats`` and ``lexical_df`` (migration 0048) are kept by triggers on ``chunks`` and
``chunk_terms``; what the triggers cannot see makes them drift: a data-only restore with the
triggers on (rows counted twice), a chunk moved between workspaces by hand, anything done with
triggers disabled. Searches then rank with wrong statistics and a later deletion of the
workspace's chunks may break the tables' CHECK constraints. This counts them from the rows, per
workspace, under the workspace's statistics lock (no ingestion writes its chunks meanwhile),
writes what differs and prints it ("workspace X: chunks 10 -> 12, 3 terms' frequencies
corrected"); a second run changes nothing. Each corrected workspace's knowledge version is
bumped (cached answers were ranked with the wrong statistics).
"""

from __future__ import annotations

import argparse
import uuid
from typing import Any

from api.commands.reindex import _workspaces
from api.runtime import operator_runtime
from api.stop_signal import run_command
from core.config import get_settings
from rag.knowledge.repository import terms as terms_repo
from workspaces import repository as ws_repo

LABELS = ("chunks", "total terms", "chunks without terms")
STOPPED = (
    "stopped by {signal}: the workspace under way was rolled back, those printed above are"
    " corrected: run the same command again to finish"
)


def describe(workspace_id: uuid.UUID, recount: terms_repo.Recount) -> str:
    """One line of what the recount changed in a workspace."""
    parts = [
        f"{label} {kept} -> {counted}"
        for label, kept, counted in zip(LABELS, recount.kept, recount.counted, strict=True)
        if kept != counted
    ]
    if recount.terms_corrected:
        parts.append(f"{recount.terms_corrected} terms' frequencies corrected")
    return f"workspace {workspace_id}: {', '.join(parts) or 'unchanged'}"


async def _run(args: argparse.Namespace) -> int:
    changed = 0
    async with operator_runtime(get_settings()) as runtime:
        workspaces = await _workspaces(runtime, args)
        for ws in workspaces:
            async with runtime.db.transaction(workspace_id=ws) as session:
                recount = await terms_repo.recount_statistics(session, ws)
                if recount.changed:
                    await ws_repo.bump_knowledge_version(session, ws)
            if recount.changed:
                changed += 1
                print(describe(ws, recount))
    print(f"recounted the BM25 statistics of {len(workspaces)} workspaces, {changed} corrected")
    return 0


def _cmd(args: argparse.Namespace) -> int:
    # SIGTERM cancels the recount in the server too: killed at once, its backend went on (no
    # statement timeout) holding the workspace's statistics row, which every ingestion of the
    # workspace waits for.
    return run_command(_run(args), STOPPED)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "recount-lexical",
        help="count the kept BM25 statistics again from the chunks (after a restore or drift)",
    )
    parser.add_argument("--workspace", default=None, help="only this workspace (slug or id)")
    parser.set_defaults(func=_cmd)

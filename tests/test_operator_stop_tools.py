"""SIGTERM to the other long operator commands (`trulybot ingest`, `eval`, `billing reconcile`),
as tests/test_operator_stop.py does it to `migrate`, `reindex` and `recount-lexical`: each in a
process of its own against a database of its own, stopped while one of its statements waits
for a lock the test holds (under way in the server, deterministically). Before, the signal's
default ended the process at once and its backend stayed in the server, waiting (then running)
with whatever its transaction held; now the command's coroutine is cancelled, its statement
too, and the command says it was stopped and exits non-zero."""

from __future__ import annotations

import json
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.embedded import EmbeddedPostgres
from tests.operator_scratch import Scratch, _scalar, _scratch, trulybot
from tests.test_operator_stop import _ingest, _waiting, operator_env, stopped_behind_a_lock


@pytest.fixture(scope="module")
async def scratch(pg: EmbeddedPostgres) -> AsyncIterator[Scratch]:
    async for value in _scratch(pg, "trulybot_operator_stop_tools"):
        yield value


async def _any_waits(owner_url: str) -> int:
    """Backends of the scratch database waiting for a lock (the test's holder waits for none)."""
    return await _waiting(owner_url, "")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_a_stop_during_an_ingest_cancels_its_document_and_a_rerun_finishes(
    scratch: Scratch, tmp_path: Path, signum: signal.Signals
) -> None:
    """`trulybot ingest` runs without a statement timeout. Before, SIGTERM ended it at once and
    its backend stayed in the server waiting for the workspace's statistics row (then writing
    the chunks with it held), the document left ``processing``, which a rerun counted as a
    duplicate under way (Ctrl-C's SIGINT said it in a KeyboardInterrupt traceback). Now the
    document's job is cancelled, it is marked interrupted, and running the command again
    ingests it."""
    await _ingest(scratch, tmp_path, "# Refunds\n\nYearly plans are refunded in 30 days.\n")
    guide = tmp_path / f"pricing-{signum.name}.md"
    guide.write_text(f"# Pricing\n\nThe team plan costs 49 euros a month ({signum.name}).\n")
    owner_url = scratch.cluster.owner_url()
    code, said = await stopped_behind_a_lock(
        owner_url,
        "SELECT 1 FROM lexical_stats WHERE workspace_id = :w FOR UPDATE",
        ["ingest", str(guide), "--workspace", scratch.slug],
        operator_env(scratch, tmp_path),
        tmp_path / "ingest.log",
        lambda: _waiting(owner_url, "SELECT 1 FROM lexical_stats"),
        signum,
        w=scratch.workspace_id,
    )
    assert code != 0, said
    assert "Traceback" not in said, said
    assert f"trulybot ingest: stopped by {signum.name}" in said, said

    again = await trulybot(scratch, tmp_path, "ingest", str(guide), "--workspace", scratch.slug)
    assert again.code == 0, again.out
    status = await _scalar(
        scratch,
        "SELECT status FROM documents WHERE workspace_id = :w AND source = :s",
        w=scratch.workspace_id,
        s=guide.name,
    )
    assert status == "ready", again.out


async def test_sigterm_during_an_eval_cancels_its_search(scratch: Scratch, tmp_path: Path) -> None:
    """`trulybot eval` searches without a statement timeout: killed at once, its backend went on
    waiting for (then running) its search."""
    await _ingest(scratch, tmp_path, "# Linux\n\nInstall the agent with the .deb package.\n")
    questions = tmp_path / "questions.jsonl"
    row = {"id": "q1", "question": "install on Debian", "expected": ["linux.md"]}
    questions.write_text(json.dumps(row) + "\n")
    owner_url = scratch.cluster.owner_url()
    code, said = await stopped_behind_a_lock(
        owner_url,
        "LOCK TABLE chunks IN ACCESS EXCLUSIVE MODE",
        ["eval", "--workspace", scratch.slug, "--questions", str(questions)],
        operator_env(scratch, tmp_path),
        tmp_path / "eval.log",
        lambda: _any_waits(owner_url),
    )
    assert code != 0, said
    assert "Traceback" not in said, said
    assert "trulybot eval: stopped by SIGTERM" in said, said


async def test_sigterm_during_a_billing_reconcile_cancels_its_listing(
    scratch: Scratch, tmp_path: Path
) -> None:
    """`trulybot billing reconcile` (a cron job, replaced or stopped by its scheduler): killed
    at once, its backend went on waiting for the orders' listing, for as long as its statement
    timeout allowed (none here, as DB_STATEMENT_TIMEOUT_MS=0 allows)."""
    owner_url = scratch.cluster.owner_url()
    env = operator_env(scratch, tmp_path) | {
        "RAZORPAY_KEY_ID": "rzp_test_stop",
        "RAZORPAY_KEY_SECRET": "stop-secret",
        "DB_STATEMENT_TIMEOUT_MS": "0",
    }
    code, said = await stopped_behind_a_lock(
        owner_url,
        "LOCK TABLE billing_orders IN ACCESS EXCLUSIVE MODE",
        ["billing", "reconcile"],
        env,
        tmp_path / "reconcile.log",
        lambda: _any_waits(owner_url),
    )
    assert code != 0, said
    assert "Traceback" not in said, said
    assert "trulybot billing reconcile: stopped by SIGTERM" in said, said

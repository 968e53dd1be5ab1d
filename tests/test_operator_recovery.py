"""The operator commands when something went wrong: an interrupted run run again, flags that
do not go together, a bad number, a malformed file, an id that names no workspace. Each command
runs with the operator's environment in this process (tests/cli_process.py: the same output,
exit code and database effects without a process start each), against a database of its own in
the test cluster."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from api.cli import build_parser
from core.embedded import EmbeddedPostgres
from rag.knowledge import submissions
from rag.knowledge.repository import indexes
from tests.cli_process import Run, run_trulybot_here
from tests.conftest import make_settings
from tests.operator_scratch import SECRET, Scratch, _scalar, _scratch, trulybot, write_guides
from workspaces import repository as ws_repo
from workspaces.service import WorkspaceAccess

NULL_VECTORS = "SELECT count(*) FROM chunks WHERE embedding IS NULL"
NOT_NULL = (
    "SELECT attnotnull FROM pg_attribute WHERE attrelid = 'chunks'::regclass"
    " AND attname = 'embedding'"
)
DIMENSIONS = (
    "SELECT atttypmod FROM pg_attribute WHERE attrelid = 'chunks'::regclass"
    " AND attname = 'embedding'"
)


@pytest.fixture(scope="module")
async def ops(pg: EmbeddedPostgres) -> AsyncIterator[Scratch]:
    async for value in _scratch(pg, "trulybot_operator_recovery"):
        yield value


async def _run(ops: Scratch, tmp: Path, *args: str, **env: str) -> Run:
    """The command with EMBEDDING_DIMENSIONS at the column's (unless given): earlier tests
    change it."""
    env.setdefault("EMBEDDING_DIMENSIONS", str(await _scalar(ops, DIMENSIONS)))
    return await trulybot(ops, tmp, *args, **env)


async def _seed(ops: Scratch, tmp: Path) -> None:
    folder = write_guides(tmp / "guides")
    run = await _run(ops, tmp, "ingest", str(folder), "--workspace", ops.slug)
    assert run.code == 0, run.out


async def test_change_dimension_does_not_go_with_outdated_only(
    ops: Scratch, tmp_path: Path
) -> None:
    """It cleared every vector, re-embedded only the outdated documents' and died with a
    traceback, leaving the rest without one (every search found nothing)."""
    await _seed(ops, tmp_path)
    run = await _run(
        ops, tmp_path, "reindex", "--change-dimension", "--outdated-only", EMBEDDING_DIMENSIONS="64"
    )
    assert run.code == 2, run.out
    assert "Traceback" not in run.out, run.out[-3000:]
    assert "not allowed with" in run.out
    assert await _scalar(ops, NULL_VECTORS) == 0
    assert await _scalar(ops, DIMENSIONS) != 64  # nothing changed


async def test_an_interrupted_dimension_change_is_finished_by_running_it_again(
    ops: Scratch, tmp_path: Path
) -> None:
    """The re-run saw the column at the new dimension already, re-embedded, said so with exit
    0 and left chunks.embedding nullable for good."""
    await _seed(ops, tmp_path)
    # What a Ctrl-C right after the column changed leaves (reindex's first two steps).
    target = 48 if await _scalar(ops, DIMENSIONS) != 48 else 40
    await indexes.drop_all(ops.owner_url)
    await indexes.change_dimensions(ops.owner_url, target)
    assert await _scalar(ops, NULL_VECTORS) > 0
    one = await _run(ops, tmp_path, "reindex", "--workspace", ops.slug)
    assert one.code != 0, one.out
    assert "drop --workspace" in one.out, one.out
    rerun = await _run(ops, tmp_path, "reindex", "--change-dimension")
    assert rerun.code == 0, rerun.out
    assert "a dimension change did not finish" in rerun.out
    assert await _scalar(ops, NULL_VECTORS) == 0
    assert await _scalar(ops, NOT_NULL) is True
    assert await _scalar(ops, DIMENSIONS) == target


async def test_an_id_that_names_no_workspace_is_refused(ops: Scratch, tmp_path: Path) -> None:
    """It re-embedded "0 chunks in 1 workspaces" with exit 0 (a typo, another environment's
    id)."""
    missing = str(uuid.uuid4())
    run = await _run(ops, tmp_path, "reindex", "--workspace", missing)
    assert run.code != 0, run.out
    assert f"no workspace with id {missing}" in run.out
    assert "Traceback" not in run.out
    by_id = await _run(ops, tmp_path, "reindex", "--workspace", str(ops.workspace_id))
    assert by_id.code == 0, by_id.out  # an id that names one still works


@pytest.mark.parametrize(
    "command", [["reindex"], ["reindex", "--outdated-only"], ["recount-lexical"]]
)
async def test_every_workspace_without_the_owner_url_names_the_setting(
    ops: Scratch, tmp_path: Path, command: list[str]
) -> None:
    """docs/deploy.md: "every workspace (needs MIGRATION_DATABASE_URL)". Without it the commands
    said "pass --workspace (no owner connection to list workspaces)", naming neither the
    setting that was missing nor the command."""
    env = {"EMBEDDING_DIMENSIONS": str(await _scalar(ops, DIMENSIONS))}
    run = await trulybot(ops, tmp_path, *command, owner=False, **env)
    assert run.code == 1, run.out
    assert f"trulybot {command[0]}: " in run.out, run.out
    assert "MIGRATION_DATABASE_URL" in run.out, run.out
    assert "--workspace" in run.out, run.out
    assert "Traceback" not in run.out, run.out


async def test_ingest_run_again_after_an_interruption_finishes_the_document(
    ops: Scratch, tmp_path: Path
) -> None:
    """The document was committed queued and the run stopped before its job: run again, the
    file was "duplicate" with exit 0 and the document stayed queued (nothing else runs it
    without a server)."""
    doc = tmp_path / f"interrupted-{uuid.uuid4().hex[:8]}.md"
    doc.write_text(f"# Interrupted\n\nWarranty claim {uuid.uuid4().hex} is handled in 14 days.\n")
    async with ops.db.transaction(workspace_id=ops.workspace_id) as session:
        workspace = await ws_repo.get_workspace(session, ops.workspace_id)
        assert workspace is not None
        sub = await submissions.submit_upload(
            session,
            WorkspaceAccess.operator(workspace, command="ingest"),
            data=doc.read_bytes(),
            filename=doc.name,
            content_type=None,
            settings=make_settings(),
        )
    rerun = await _run(ops, tmp_path, "ingest", str(doc), "--workspace", ops.slug)
    status = await _scalar(ops, "SELECT status FROM documents WHERE id = :i", i=sub.document.id)
    assert status == "ready", f"exit {rerun.code}, status {status!r}:\n{rerun.out[-800:]}"
    assert rerun.code == 0, rerun.out
    assert "ready (resumed)" in rerun.out
    again = await _run(ops, tmp_path, "ingest", str(doc), "--workspace", ops.slug)
    assert again.code == 0, again.out
    assert "duplicate" in again.out, again.out  # finished: nothing left to do


@pytest.mark.parametrize("command", ["ingest", "worker"])
@pytest.mark.parametrize("value", ["0", "-1"])
def test_a_concurrency_below_one_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, value: str
) -> None:
    """ingest with 0 waited forever (no file ever started), -1 was a traceback; a worker with
    0 never took a job. The command line is read by the parser `trulybot` runs (api.cli), here
    in this process: a usage error exits 2 while the arguments are read, before any setting,
    database or model, so a process of its own (about 5 s of imports each) checked nothing
    more. A parser that took the value would return instead of exiting, and fail the test."""
    doc = tmp_path / "a.md"
    doc.write_text("# A\n\nSome text about refunds.\n")
    args = {
        "ingest": ("ingest", str(doc), "--workspace", "some-workspace"),
        "worker": ("worker", "--burst"),
    }[command]
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args([*args, "--concurrency", value])
    out = capsys.readouterr()
    said = out.out + out.err
    assert exited.value.code == 2, said
    assert "--concurrency" in said, said
    assert "not between 1 and" in said, said
    assert "Traceback" not in said


@pytest.mark.parametrize(
    ("line", "said"),
    [
        ('{"id": 1, "question": "refunds?"}', "no expected"),
        ("not json", "not JSON"),
        (
            '{"id": 1, "question": "refunds?", "expected": "refunds.md"}',
            "expected must be a list of sources",
        ),
    ],
)
async def test_eval_names_the_line_of_a_malformed_question_file(
    tmp_path: Path, line: str, said: str
) -> None:
    """A KeyError or JSONDecodeError traceback, after the database and the model had started
    (here there is no database to start: the file is checked first)."""
    questions = tmp_path / "q.jsonl"
    good = {"id": "a", "question": "yearly refunds", "expected": ["refunds.md"]}
    questions.write_text(json.dumps(good) + "\n" + line + "\n")
    run = await run_trulybot_here(
        *("eval", "--workspace", "docs", "--questions", str(questions), "--mode", "vector"),
        env={
            "DATA_DIR": str(tmp_path),
            "JWT_SECRET": SECRET,
            "DATABASE_URL": "postgresql://trulybot_app:x@127.0.0.1:1/nowhere",
        },
    )
    assert run.code != 0
    assert "Traceback" not in run.out, run.out[-2000:]
    assert f"{questions}:2: {said}" in run.out, run.out[-2000:]

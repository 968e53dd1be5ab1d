"""The operator commands when something went wrong: an interrupted run run again, flags that
do not go together, a bad number, a malformed file, an id that names no workspace. Each command
runs in its own process (tests/cli_process.py), against a database of its own in the test
cluster."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.embedded import EmbeddedPostgres
from rag.knowledge.repository import indexes
from tests.cli_process import Run
from tests.test_operator_commands import Scratch, _scalar, _scratch, trulybot, write_guides

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

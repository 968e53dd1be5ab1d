"""SIGTERM to `trulybot worker` while a job runs (a rolling deploy, a scale-down): the worker
exits, and the job is run again by the next worker, not lost. The job waits on the embeddings
provider (a local fake that hangs) when the signal comes."""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.embedded import EmbeddedPostgres
from core.jobs import ArqQueue
from rag.knowledge import jobs as knowledge_jobs
from rag.knowledge import submissions
from tests.conftest import make_settings
from tests.fakes.openai_server import FakeOpenAI
from tests.test_operator_commands import Scratch, _scalar, _scratch
from tests.test_operator_recovery import DIMENSIONS
from tests.test_worker_redis_blip import (
    GUARD,
    _free_port,
    _kill,
    _redis_server,
    _start_worker,
    _stop,
)
from workspaces import repository as ws_repo
from workspaces import service


@pytest.fixture(scope="module")
async def ops(pg: EmbeddedPostgres) -> AsyncIterator[Scratch]:
    async for value in _scratch(pg, "trulybot_worker_stop"):
        yield value


async def _status(ops: Scratch, document_id: uuid.UUID) -> tuple[str, str | None]:
    row = await _scalar(
        ops,
        "SELECT status || '/' || coalesce(error_code, '') FROM documents WHERE id = :d",
        d=document_id,
    )
    status, _, code = str(row).partition("/")
    return status, code or None


async def test_a_worker_stopped_mid_job_leaves_the_job_to_the_next_worker(
    ops: Scratch, tmp_path: Path
) -> None:
    dims = int(str(await _scalar(ops, DIMENSIONS)))
    port = _free_port()
    server = _redis_server(port)
    url = f"redis://127.0.0.1:{port}/0"
    fake = FakeOpenAI(hang=True, embedding_dimensions=dims).start()
    queue = await ArqQueue.connect(url)
    provider = {
        "EMBEDDING_PROVIDER": "openai",
        "OPENAI_API_KEY": "sk-test-" + uuid.uuid4().hex,
        "OPENAI_BASE_URL": fake.base_url,
    }
    workers = []
    try:
        async with ops.db.transaction(workspace_id=ops.workspace_id) as session:
            workspace = await ws_repo.get_workspace(session, ops.workspace_id)
            assert workspace is not None
            sub = await submissions.submit_text(
                session,
                service.WorkspaceAccess.operator(workspace, command="test"),
                title=f"Desk {uuid.uuid4().hex[:6]}",
                text="The help desk answers from nine to five, Monday to Friday.",
                settings=make_settings(),
            )
        await queue.enqueue(
            knowledge_jobs.INGEST_JOB,
            workspace_id=str(ops.workspace_id),
            document_id=str(sub.document.id),
        )
        first, first_log = await _start_worker(ops, tmp_path, url, **provider)
        workers.append(first)
        # The job is under way: its embeddings request waits on the provider.
        assert await asyncio.to_thread(fake.hanging.wait, GUARD)
        first.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(first.wait, GUARD)
        said = first_log.read_text(errors="replace")
        assert code == 0, said[-4000:]
        assert "Traceback" not in said, said[-4000:]
        assert (await _status(ops, sub.document.id))[0] != "ready"
        fake.hang = False  # the provider answers again
        second, second_log = await _start_worker(
            ops, tmp_path, url, log_name="worker2.log", **provider
        )
        workers.append(second)
        deadline = time.monotonic() + GUARD  # a guard against hanging, not a timing check
        while (status := await _status(ops, sub.document.id))[0] != "ready":
            assert time.monotonic() < deadline, (status, second_log.read_text()[-4000:])
            await asyncio.sleep(0.2)
        second.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(second.wait, GUARD) == 0
    finally:
        for worker in workers:
            _kill(worker)
        await queue.close()
        fake.stop()
        _stop(server)

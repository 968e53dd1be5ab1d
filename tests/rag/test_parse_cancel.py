"""A job cancelled while its document is parsed (a worker stopping: a rolling deploy, a
scale-down) kills the parser's child process at once, and the job is left to run again.

The parse ran in a child process waited on by a thread (``asyncio.to_thread``); cancelling the
job left that thread and its child running until the parse ended or PARSE_TIMEOUT_SECONDS (60 s
by default) passed, and a worker's event loop waits for its threads before the process exits:
a stopped worker hung on for up to a minute, its parser still burning a core."""

from __future__ import annotations

import asyncio
import multiprocessing
import time
import uuid

import pytest

from core.errors import AppError
from rag.knowledge import jobs as knowledge_jobs
from rag.knowledge.parse_isolation import ParseLimits, ParseStop, parse_isolated
from tests.conftest import RuntimeFactory, client_for, signup
from tests.rag.test_documents_api import upload
from tests.rag.test_job_interruptions import HeldJobs
from tests.rag.test_parse_limits import DOCX_MIME, wordy_docx

GUARD = 120  # a bound against a hang, not a timing check


async def _parser_running() -> None:
    deadline = time.monotonic() + GUARD
    while not multiprocessing.active_children():
        assert time.monotonic() < deadline, "the parser's child never started"
        await asyncio.sleep(0.02)


async def test_a_job_cancelled_mid_parse_kills_the_parser_and_is_run_again(
    runtime_factory: RuntimeFactory,
) -> None:
    queue = HeldJobs()  # the test runs the job itself
    # Eight megabytes of paragraphs: seconds of parsing (the parse limits' own test stops
    # the same document after half a second).
    data = wordy_docx(8 * 1024 * 1024)
    async with (
        runtime_factory(jobs=queue) as runtime,
        client_for(runtime) as client,
    ):
        owner = await signup(client, f"Parsing {uuid.uuid4().hex[:6]}")
        r = await upload(client, owner, "handbook.docx", data, DOCX_MIME)
        assert r.status_code == 202, r.text
        doc_id, ws = uuid.UUID(r.json()["id"]), uuid.UUID(owner.workspace_id)
        assert multiprocessing.active_children() == []
        job = asyncio.create_task(knowledge_jobs.ingest_document(runtime.ingestion, ws, doc_id))
        await _parser_running()
        job.cancel()  # what a worker's shutdown does to its running jobs
        with pytest.raises(asyncio.CancelledError):
            await job
        # The parser is gone once the job has given up, not when the parse would have ended.
        assert multiprocessing.active_children() == []
        doc = (await client.get(owner.url(f"/documents/{doc_id}"), headers=owner.headers)).json()
        assert (doc["status"], doc["error_code"]) == ("failed", "interrupted"), doc
    await queue.close()


def test_a_parse_stopped_before_its_child_starts_kills_the_child_once_started() -> None:
    """The cancellation can come while the thread is still starting the child: the child is
    killed as soon as it exists, not left to parse until the time limit."""
    stop = ParseStop()
    stop.stop()
    with pytest.raises(AppError) as info:
        parse_isolated(
            wordy_docx(8 * 1024 * 1024),
            filename="handbook.docx",
            content_type=DOCX_MIME,
            limits=ParseLimits(timeout_seconds=GUARD),
            stop=stop,
        )
    assert info.value.code == "parse_failed"
    assert "stopped" in info.value.message
    assert multiprocessing.active_children() == []

"""A document whose processing kills the worker (out of memory, the OOM killer's SIGKILL) is
started at most ``core.jobs.MAX_STARTS`` times, then ends ``failed`` (``abandoned``) for the
owner, and a stray start of its job later does not process it again (scale-out review F1:
capped jobs had 10,000 tries so that per-workspace deferrals would not run out, and each
start that killed its worker counted as one of them: a poison document killed a worker every
job timeout for about 200 days).

Each start is the real `trulybot worker` in a process of its own (forked from one that
imported the worker's code once: imports were most of each start), whose parsing kills that
process; the killed worker's in-progress mark, which expires after the job timeout, is
deleted by the test instead of waited for."""

from __future__ import annotations

import asyncio
import signal
import sys
import textwrap
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from arq.connections import RedisSettings
from arq.worker import Retry, Worker, func
from redis.asyncio import Redis

from api.runtime import Runtime
from core.embedded import EmbeddedPostgres
from core.jobs import (
    LEASED_MAX_TRIES,
    MAX_STARTS,
    ArqQueue,
    JobRegistry,
    WorkspaceLeases,
    worker_functions,
)
from rag.knowledge import requeue
from tests.cli_process import Run, command_env
from tests.conftest import APP_ROLE, REDIS_URL, ROOT, Owner, queued_text_document

WORKERS = textwrap.dedent(
    """
    import os, signal, sys, threading, traceback

    import arq.worker

    from rag.knowledge import jobs


    async def killed(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)  # the document takes the process down


    class OwnQueue(arq.worker.Worker):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **{**kwargs, "queue_name": sys.argv[1], "poll_delay": 0.05})


    jobs._process = killed
    arq.worker.Worker = OwnQueue
    from api.cli import build_parser, main

    # What `trulybot worker` imports as it starts (about 3 s of CPU a start), imported once.
    import api.job_registry, api.runtime, api.start_checks, api.worker_metrics  # noqa
    import core.worker_presence, lifecycle.jobs, rag.chat.notify, rag.knowledge.rerank  # noqa
    import workspaces.notification_delivery  # noqa

    build_parser()
    assert threading.active_count() == 1, threading.enumerate()  # safe to fork
    for line in sys.stdin:  # a path per start: `trulybot worker --burst` in a new process
        pid = os.fork()
        if pid == 0:
            out = os.open(line.strip(), os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.dup2(out, 1)
            os.dup2(out, 2)
            try:
                code = main(["worker", "--burst"])
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
                if not isinstance(exc.code, int) and exc.code is not None:
                    print(exc.code, file=sys.stderr)
            except BaseException:
                traceback.print_exc()
                code = 1
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code or 0)
        _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status), flush=True)
    """
)


@dataclass
class PoisonWorkers:
    """`trulybot worker --burst` on a queue of this test's own, one process per call, each
    forked from one process that imported the worker's code once (``WORKERS``)."""

    queue: ArqQueue
    redis: Redis
    starter: asyncio.subprocess.Process
    logs: Path

    async def run(self) -> Run:
        assert self.starter.stdin is not None
        assert self.starter.stdout is not None
        log = self.logs / f"worker-{uuid.uuid4().hex[:8]}.log"
        self.starter.stdin.write(f"{log}\n".encode())
        await self.starter.stdin.drain()
        async with asyncio.timeout(300):  # a guard against hanging, not a timing assertion
            said = await self.starter.stdout.readline()
        assert said, "the process starting the workers ended"
        return Run(int(said), log.read_text(errors="replace"))

    async def restart_after_kill(self) -> None:
        """What the job timeout does for the jobs of a killed worker (the document's, and a
        mail flush its start requested, if it had begun): they may start again. (A burst
        worker waits for a job another worker runs.)"""
        ids = await self.redis.zrange(str(self.queue.queue_name), 0, -1)
        if ids:
            await self.redis.delete(*[b"arq:in-progress:" + i for i in ids])


@pytest.fixture
async def workers(
    pg: EmbeddedPostgres, redis_client: Redis, tmp_path: Path
) -> AsyncIterator[PoisonWorkers]:
    queue = await ArqQueue.connect(REDIS_URL, queue_name=f"trulybot-test-{uuid.uuid4().hex[:8]}")
    env = command_env(
        {
            "JWT_SECRET": "poison-jobs-" + "s" * 40,
            "SEED_DEMO": "false",
            "SCHEDULER_ENABLED": "false",
            "DATABASE_URL": pg.app_url(APP_ROLE),
            "REDIS_URL": REDIS_URL,
            "DATA_DIR": str(tmp_path),
            "PYTHONPATH": str(ROOT),
        }
    )
    starter = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        WORKERS,
        str(queue.queue_name),
        cwd=ROOT,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        yield PoisonWorkers(queue, redis_client, starter, tmp_path)
    finally:
        if starter.stdin is not None:
            starter.stdin.close()
        try:
            async with asyncio.timeout(60):
                await starter.wait()
        finally:
            if starter.returncode is None:
                starter.kill()
                await starter.wait()
        ids = await queue.pool.zrange(str(queue.queue_name), 0, -1)
        keys = [
            prefix + i for i in ids for prefix in (b"arq:job:", b"arq:in-progress:", b"arq:retry:")
        ]
        await queue.pool.delete(str(queue.queue_name), *keys)
        await queue.close()


async def _document(client: httpx.AsyncClient, owner: Owner, document_id: uuid.UUID) -> dict:
    r = await client.get(owner.url(f"/documents/{document_id}"), headers=owner.headers)
    assert r.status_code == 200, r.text
    got: dict = r.json()
    return got


async def test_a_document_that_kills_its_worker_is_given_up_and_not_run_again(
    runtime: Runtime,
    client: httpx.AsyncClient,
    owner: Owner,
    workers: PoisonWorkers,
) -> None:
    ws = uuid.UUID(owner.workspace_id)
    document_id = await queued_text_document(
        runtime, owner, title=f"Poison {uuid.uuid4().hex[:8]}", body="Too much for one worker."
    )
    revision = (await _document(client, owner, document_id))["revision"]
    job_id = requeue.job_id(document_id, revision)
    assert await requeue.enqueue(workers.queue, ws, document_id, revision) == job_id

    codes: list[int] = []
    for _ in range(MAX_STARTS + 3):  # bounded: the old code went on starting it
        run = await workers.run()
        codes.append(run.code)
        if run.code != -signal.SIGKILL:
            break
        await workers.restart_after_kill()
    # Killed on each of its first starts, then given up by the next worker, which lives.
    assert codes == [-signal.SIGKILL] * MAX_STARTS + [0], run.out
    got = await _document(client, owner, document_id)
    assert (got["status"], got["error_code"]) == ("failed", "abandoned")
    assert f"started {MAX_STARTS} times" in got["error"]
    assert "Retry" in got["error"]

    # A stray start of its job later (a sweep, a duplicate) skips it: no worker is killed.
    assert await requeue.enqueue(workers.queue, ws, document_id, revision) == job_id
    run = await workers.run()
    assert run.code == 0, run.out
    got = await _document(client, owner, document_id)
    assert (got["status"], got["error_code"]) == ("failed", "abandoned")

    # The owner retries it: a new revision, processed (here, where nothing kills it).
    retried = await client.post(owner.url(f"/documents/{document_id}/retry"), headers=owner.headers)
    assert retried.status_code == 202, retried.text
    await runtime.jobs.drain()
    assert (await _document(client, owner, document_id))["status"] == "ready"


async def test_a_job_deferred_behind_its_workspace_share_more_often_still_runs(
    redis_client: Redis,
) -> None:
    """Deferrals (the workspace at its JOBS_PER_WORKSPACE share) are arq tries too, but no
    starts: a job turned away more than MAX_STARTS times runs once the share is free."""
    tries: list[int] = []

    async def work(ctx: dict[str, Any], workspace_id: str) -> str:
        tries.append(ctx["job_try"])
        return "done"

    workspace = str(uuid.uuid4())
    upload = WorkspaceLeases(redis_client, limit=1, lease_seconds=60)
    assert await upload.acquire(workspace, "a-long-upload")  # holds the workspace's share
    queue = await ArqQueue.connect(REDIS_URL, queue_name=f"trulybot-test-{uuid.uuid4().hex[:8]}")
    await queue.enqueue("work", workspace_id=workspace)
    worker = Worker(
        functions=worker_functions(
            JobRegistry({"work": work}), per_workspace=1, lease_seconds=60, retry_delay=0.02
        ),
        redis_settings=RedisSettings.from_dsn(REDIS_URL),
        queue_name=queue.queue_name,
        burst=True,
        handle_signals=False,
        poll_delay=0.02,
    )
    running = asyncio.create_task(worker.main())
    try:
        async with asyncio.timeout(60):  # a guard against hanging, not a timing assertion
            while worker.jobs_retried <= MAX_STARTS and not running.done():
                await asyncio.sleep(0.02)
            await upload.release(workspace, "a-long-upload")
            await running
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await worker.close()
        await queue.close()
    [ran_at] = tries
    assert ran_at > MAX_STARTS + 1  # its try count, deferrals included
    assert (worker.jobs_complete, worker.jobs_failed) == (1, 0)


def _previous_release_leased(function: Any) -> Any:
    """How the previous release's worker (core/jobs.py ``_leased`` at d82ec34) ran a capped job:
    a refused lease was an arq ``Retry``, and nothing else was recorded."""

    async def run(ctx: dict[str, Any], *, workspace_id: str) -> Any:
        leases = WorkspaceLeases(ctx["redis"], limit=1, lease_seconds=60)
        if not await leases.acquire(workspace_id, str(ctx["job_id"])):
            raise Retry(defer=0.02)
        try:
            return await function(ctx, workspace_id=workspace_id)
        finally:
            await leases.release(workspace_id, str(ctx["job_id"]))

    return run


async def test_a_job_the_previous_release_deferred_often_runs_after_the_upgrade(
    redis_client: Redis,
) -> None:
    """A job waiting behind its workspace's share at deploy time was deferred by the previous
    release's workers more than MAX_STARTS times (arq counts each as a try; arq keeps that
    count a day). The new worker runs it once, not "started 3 times ... given up" (upgrade
    review F1: the starts were arq's tries less the deferrals only the new code recorded)."""
    ran: list[int] = []
    abandoned: list[dict[str, Any]] = []

    async def work(ctx: dict[str, Any], workspace_id: str) -> str:
        ran.append(ctx["job_try"])
        return "done"

    async def gave_up(ctx: dict[str, Any], workspace_id: str) -> None:
        abandoned.append(ctx)

    workspace = str(uuid.uuid4())
    upload = WorkspaceLeases(redis_client, limit=1, lease_seconds=60)
    assert await upload.acquire(workspace, "a-long-upload")  # holds the workspace's share
    queue = await ArqQueue.connect(REDIS_URL, queue_name=f"trulybot-test-{uuid.uuid4().hex[:8]}")
    await queue.enqueue("work", workspace_id=workspace)

    def worker(functions: list[Any], **options: Any) -> Worker:
        return Worker(
            functions=functions,
            redis_settings=RedisSettings.from_dsn(REDIS_URL),
            queue_name=queue.queue_name,
            burst=True,
            handle_signals=False,
            poll_delay=0.02,
            **options,
        )

    previous = worker(
        [func(_previous_release_leased(work), name="work", max_tries=LEASED_MAX_TRIES)],
        max_burst_jobs=MAX_STARTS + 3,  # stops after about that many tries, each deferred
    )
    upgraded = worker(
        worker_functions(
            JobRegistry({"work": work}, abandoned={"work": gave_up}),
            per_workspace=1,
            lease_seconds=60,
            retry_delay=0.02,
        )
    )
    try:
        async with asyncio.timeout(60):  # a guard against hanging, not a timing assertion
            await previous.main()
            deferred = previous.jobs_retried
            assert deferred > MAX_STARTS
            assert ran == []
            await upload.release(workspace, "a-long-upload")  # the share is free now
            await upgraded.main()
    finally:
        await previous.close()
        await upgraded.close()
        await queue.close()
    assert ran == [deferred + 1]  # run once, on the try after the previous release's deferrals
    assert abandoned == []
    assert (upgraded.jobs_complete, upgraded.jobs_failed) == (1, 0)


async def test_runs_cancelled_by_stopping_workers_are_no_starts(redis_client: Redis) -> None:
    """A run cancelled by a stopping worker is run again by arq and is not counted: a job
    cancelled more than MAX_STARTS times still runs to its end, not given up."""
    calls: list[str] = []
    abandoned: list[dict[str, Any]] = []
    blocked = asyncio.Event()

    async def work(ctx: dict[str, Any], workspace_id: str) -> str:
        calls.append("started")
        if len(calls) <= MAX_STARTS + 1:
            blocked.set()
            await asyncio.Event().wait()  # until the worker stops
        return "done"

    async def gave_up(ctx: dict[str, Any], workspace_id: str) -> None:
        abandoned.append(ctx)

    [definition] = worker_functions(
        JobRegistry({"work": work}, abandoned={"work": gave_up}),
        per_workspace=1,
        lease_seconds=60,
        retry_delay=0.02,
    )
    workspace, job_id = str(uuid.uuid4()), uuid.uuid4().hex
    ctx = {"redis": redis_client, "job_id": job_id, "enqueue_time": None}
    for attempt in range(1, MAX_STARTS + 2):
        blocked.clear()
        run = asyncio.create_task(
            definition.coroutine({**ctx, "job_try": attempt}, workspace_id=workspace)
        )
        waiting = asyncio.create_task(blocked.wait())
        await asyncio.wait({run, waiting}, return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
        assert not run.done(), f"run {attempt} did not start the job: {run.result()!r}"
        run.cancel()  # what a stopping worker does to the job it runs
        with pytest.raises(asyncio.CancelledError):
            await run
    done = await definition.coroutine({**ctx, "job_try": MAX_STARTS + 2}, workspace_id=workspace)
    assert done == "done"
    assert len(calls) == MAX_STARTS + 2
    assert abandoned == []

"""A real `trulybot worker --metrics-port` beside the app: the jobs' metrics reach a scrape.

With REDIS_URL the ingestion jobs run in the workers, which served no /metrics, and the API's
/metrics has no job to count: ``trulybot_ingestion_jobs_total`` (docs/deploy.md, Observability)
read zero however much was ingested."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from core.embedded import EmbeddedPostgres
from tests.cli_process import Process, spawn_worker, start_worker
from tests.conftest import APP_ROLE, REDIS_URL, RuntimeFactory, client_for, signup
from tests.ports import free_port

TOKEN = "worker-metrics-token-0123456789abcdef"


@dataclass
class Worker:
    url: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def _stop(process: Process) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@pytest.fixture
def worker(pg: EmbeddedPostgres, tmp_path: Path) -> Iterator[Worker]:
    port = free_port()
    log = tmp_path / "worker.log"
    process = start_worker(
        "--metrics-port",
        str(port),
        "--concurrency",
        "1",
        env={
            "DATABASE_URL": pg.app_url(APP_ROLE),
            "REDIS_URL": REDIS_URL,
            "METRICS_TOKEN": TOKEN,
            "SCHEDULER_ENABLED": "false",
            "LOG_JSON": "false",
        },
        log=log,
    )
    try:
        yield Worker(f"http://127.0.0.1:{port}", log)
    finally:
        _stop(process)


def _sample(text: str, name: str, labels: dict[str, str]) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return 0.0


async def test_the_workers_ingestion_is_in_its_metrics(
    worker: Worker, runtime_factory: RuntimeFactory
) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=worker.url, timeout=30) as scraper:
        assert (await scraper.get("/metrics")).status_code == 401
        wrong = await scraper.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        assert (await scraper.get("/other", headers=headers)).status_code == 404
        first = await scraper.get("/metrics", headers=headers)
        assert first.status_code == 200, first.text
        labels = {"kind": "text", "outcome": "ok"}
        before = _sample(first.text, "trulybot_ingestion_jobs_total", labels)

        async with runtime_factory(jobs="arq") as runtime, client_for(runtime) as client:
            owner = await signup(client, "Worker metrics")
            made = await client.post(
                owner.url("/documents"),
                json={"title": "Hours", "text": "The bakery opens at seven every morning."},
                headers=owner.headers,
            )
            assert made.status_code == 202, made.text
            await runtime.jobs.drain()  # taken by the worker
            deadline = time.monotonic() + 120  # a guard against hanging
            status = "queued"
            while status not in ("ready", "failed"):
                assert time.monotonic() < deadline, worker.output()[-4000:]
                got = await client.get(
                    owner.url(f"/documents/{made.json()['id']}"), headers=owner.headers
                )
                status = got.json()["status"]
                await asyncio.sleep(0.2)
            assert status == "ready", got.text

        after = await scraper.get("/metrics", headers=headers)
        assert after.status_code == 200
        assert after.headers["content-type"].startswith("text/plain")
        assert _sample(after.text, "trulybot_ingestion_jobs_total", labels) == before + 1
        assert _sample(after.text, "trulybot_ingestion_job_seconds_count", {"kind": "text"}) >= 1


async def test_a_metrics_port_without_a_token_is_refused_at_start(
    pg: EmbeddedPostgres, tmp_path: Path
) -> None:
    env = {"DATABASE_URL": pg.app_url(APP_ROLE), "REDIS_URL": REDIS_URL, "LOG_JSON": "false"}
    code, said = _ended(free_port(), env, tmp_path / "worker.log")
    assert code != 0, said
    assert "--metrics-port needs METRICS_TOKEN" in said, said
    assert "Traceback" not in said, said


async def test_a_metrics_port_in_use_is_refused_in_one_line_naming_the_command_once(
    pg: EmbeddedPostgres, tmp_path: Path
) -> None:
    """The refusal said "trulybot worker: trulybot worker: cannot listen on ...": the message
    named its command and the CLI named it again."""
    env = {
        "DATABASE_URL": pg.app_url(APP_ROLE),
        "REDIS_URL": REDIS_URL,
        "METRICS_TOKEN": TOKEN,
        "HOST": "127.0.0.1",
        "SCHEDULER_ENABLED": "false",
        "LOG_JSON": "false",
    }
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        code, said = _ended(taken.getsockname()[1], env, tmp_path / "worker.log")
    assert code == 1, said
    assert "trulybot worker: cannot listen on 127.0.0.1:" in said, said
    assert "trulybot worker: trulybot worker:" not in said, said
    assert "Traceback" not in said, said


def _ended(port: int, env: dict[str, str], log: Path) -> tuple[int, str]:
    """How `trulybot worker --metrics-port PORT` ended, expected before it is ready, and what
    it said."""
    process = spawn_worker("--metrics-port", str(port), env=env, log=log)
    try:
        code = process.wait(timeout=120)
    finally:
        _stop(process)
    return code, log.read_text(errors="replace")

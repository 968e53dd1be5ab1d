"""Attacks against a real `trulybot serve` that runs on the default settings.

The server runs in a fresh directory (so DATA_DIR is the default `.trulybot` there and no `.env`
is read) with no JWT_SECRET, no TRUSTED_PROXIES and ENVIRONMENT unset, and two worker processes
that start at once. Only the database (the suite's embedded cluster), the embedder (hashing, so
no model loads) and the demo seeding are chosen, plus a small auth limit to count against and a
metrics token (metrics are off without one).
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import stat
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from core.embedded import EmbeddedPostgres
from tests.hardening.conftest import forged_token, start_serve
from tests.ports import free_port

METRICS_TOKEN = "serve-defaults-metrics-0123456789"
AUTH_LIMIT = 6  # per minute and per worker process (no Redis: each process counts alone)
WORKERS = 2  # the command line below starts two


@dataclass
class Server:
    base_url: str
    cwd: Path
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def post(self, path: str, **kwargs: object) -> httpx.Response:
        return httpx.post(f"{self.base_url}{path}", timeout=30, **kwargs)  # type: ignore[arg-type]

    def get(self, path: str, **kwargs: object) -> httpx.Response:
        return httpx.get(f"{self.base_url}{path}", timeout=30, **kwargs)  # type: ignore[arg-type]


@dataclass
class Account:
    email: str
    password: str
    token: str
    user_id: str
    workspace_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)  # the server and its worker processes
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def server(pg: EmbeddedPostgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    cwd = tmp_path_factory.mktemp("serve-defaults")
    port = free_port()
    process, log = start_serve(
        cwd,
        pg,
        "--port",
        str(port),
        "--workers",
        "2",
        RATE_LIMIT_AUTH=f"{AUTH_LIMIT}/minute",
        METRICS_TOKEN=METRICS_TOKEN,
        LOG_JSON="false",
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        ready = 0
        while ready < 3:  # a few answers in a row: both workers are likely up
            if process.poll() is not None:
                raise RuntimeError(log.read_text()[-4000:])
            if time.monotonic() > deadline:
                raise RuntimeError("server did not become ready:\n" + log.read_text()[-4000:])
            try:
                ok = httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200
                ready = ready + 1 if ok else 0
            except httpx.HTTPError:
                ready = 0
            time.sleep(0.3)
        while log.read_text(errors="replace").count("jwt secret:") < WORKERS:
            if time.monotonic() > deadline:
                raise RuntimeError("workers did not report:\n" + log.read_text()[-4000:])
            time.sleep(0.2)
        yield Server(base_url=base_url, cwd=cwd, log=log)
    finally:
        _stop(process)


@pytest.fixture(scope="module")
def account(server: Server) -> Account:
    email = f"victim-{uuid.uuid4().hex[:10]}@example.com"
    password = "correct horse battery"
    response = server.post(
        "/api/v1/auth/signup",
        json={"email": email, "password": password, "workspace_name": "Victim Inc"},
    )
    assert response.status_code == 202, response.text
    login = server.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert login.status_code == 200, login.text
    token = login.json()["access_token"]
    me = server.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).json()
    return Account(
        email=email,
        password=password,
        token=token,
        user_id=me["user"]["id"],
        workspace_id=me["workspaces"][0]["id"],
    )


def test_startup_says_the_secret_was_generated_and_where_without_printing_it(
    server: Server,
) -> None:
    path = server.cwd / ".trulybot" / "jwt-secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    secret = path.read_text().strip()
    output = server.output()
    # The workers started together; exactly one generated the secret, the other loaded it.
    assert output.count(f"jwt secret: generated and stored at {path.resolve()}") == 1, output
    assert output.count(f"jwt secret: loaded from {path.resolve()}") == WORKERS - 1, output
    assert secret not in output


def test_a_token_signed_with_the_published_constant_does_not_open_an_account(
    server: Server, account: Account
) -> None:
    assert server.get("/api/v1/me", headers=account.headers).status_code == 200
    forged = {"Authorization": f"Bearer {forged_token(account.user_id)}"}
    me = server.get("/api/v1/me", headers=forged)
    assert me.status_code == 401, me.text
    workspace = server.get(f"/api/v1/workspaces/{account.workspace_id}", headers=forged)
    assert workspace.status_code == 401


def test_every_worker_accepts_the_tokens_of_the_others(server: Server, account: Account) -> None:
    # New connections each time, spread over both workers by the kernel: one secret for all.
    statuses = {server.get("/api/v1/me", headers=account.headers).status_code for _ in range(12)}
    assert statuses == {200}


def test_a_forwarded_for_header_from_loopback_is_not_believed_by_the_audit_log(
    server: Server, account: Account
) -> None:
    spoofed = "203.0.113.77"
    created = server.post(
        f"/api/v1/workspaces/{account.workspace_id}/faqs",
        json={"question": "Who is asking?", "answer": "A spoofer."},
        headers=account.headers | {"X-Forwarded-For": spoofed},
    )
    assert created.status_code == 201, created.text
    audit = server.get(
        f"/api/v1/workspaces/{account.workspace_id}/audit",
        params={"action": "faq.created"},
        headers=account.headers,
    )
    assert audit.status_code == 200
    entry = audit.json()["items"][0]
    assert entry["target_id"] == created.json()["id"]
    assert entry["ip"] == "127.0.0.1"


def test_a_forwarded_for_header_from_loopback_does_not_escape_the_ip_limit(
    server: Server, account: Account
) -> None:
    """A new spoofed address per attempt must not give a new budget: the peer is counted."""
    statuses = []
    for i in range(AUTH_LIMIT * WORKERS + 1):
        response = server.post(
            "/api/v1/auth/login",
            json={"email": f"nobody-{i}-{uuid.uuid4().hex[:6]}@example.com", "password": "x" * 12},
            headers={"X-Forwarded-For": f"198.51.100.{i + 1}"},
        )
        statuses.append(response.status_code)
        if response.status_code == 429:
            assert response.json()["error"]["code"] == "rate_limited"
            break
    assert statuses[-1] == 429, statuses


def _metric(text: str, name: str, **labels: str) -> float:
    """The value of sample ``name`` with exactly ``labels`` in a /metrics text."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    raise AssertionError(f"{name} {labels} not in /metrics")


def test_the_workers_froze_their_start_up_objects_and_report_collector_pauses(
    server: Server,
) -> None:
    """A worker moved what start-up left alive out of the collector's walks, and each
    collection's pause is in the histogram (core.heap); asked on new connections, so both
    workers are likely to answer."""
    headers = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    for _ in range(6):
        text = server.get("/metrics", headers=headers).text
        assert _metric(text, "trulybot_gc_frozen_objects") > 50_000
        # the collection start-up ends with, at least
        assert _metric(text, "trulybot_gc_pause_seconds_count", generation="2") >= 1


def test_metrics_add_up_every_worker_process(server: Server) -> None:
    """With WORKERS=2 one scrape answered for the one process that took it: the counters of
    the other were missing and Prometheus saw a counter reset on nearly every scrape. Now each
    scrape sums both: the pool gauge holds both processes' pools (each reports its own at
    start), and requests spread over both are all counted, in every scrape alike."""
    headers = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    labels = {"method": "GET", "route": "/api/v1/me", "status": "401"}
    name = "trulybot_http_request_duration_seconds_count"

    def counted() -> float:
        text = server.get("/metrics", headers=headers).text
        assert _metric(text, "trulybot_db_pool_connections", state="size") == 10 * WORKERS
        try:
            return _metric(text, name, **labels)
        except AssertionError:
            return 0.0

    before = counted()
    requests = 24
    for _ in range(requests):  # a new connection each: the workers take turns
        assert server.get("/api/v1/me").status_code == 401
    assert [counted() for _ in range(6)] == [before + requests] * 6


def test_the_api_docs_are_served_in_development(server: Server) -> None:
    assert server.get("/openapi.json").status_code == 200
    assert server.get("/docs").status_code == 200


def _raw(server: Server, head: bytes, *, finish: bool) -> bytes:
    """Send a request head (finished with a blank line or left open) on a new connection; what
    the server answers until it closes the connection or 10 s pass."""
    host, port = server.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        # The server may close the connection while the rest is still being sent.
        with contextlib.suppress(OSError):
            conn.sendall(head + (b"\r\n" if finish else b""))
        received = b""
        try:
            while chunk := conn.recv(65536):
                received += chunk
                if finish and b"\r\n\r\n" in received:
                    break
        except (TimeoutError, ConnectionResetError):
            pass
        return received


def test_a_request_head_past_64_kib_is_refused_and_a_long_body_is_not(server: Server) -> None:
    """Headers are kept until the head ends: without a bound, a few connections sending
    endless headers held hundreds of MiB (a red-team finding)."""
    line = b"X-Filler-%05d: " + b"a" * 990 + b"\r\n"
    start = b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
    endless = start + b"".join(line % i for i in range(200))  # 200 KB, never finished
    refused = _raw(server, endless, finish=False)
    assert refused.startswith(b"HTTP/1.1 431 "), refused[:200]
    assert b'"code":"request_head_too_large"' in refused

    # The same head sent whole (one read) is refused too, before the application sees it.
    whole = _raw(server, start + b"".join(line % i for i in range(70)), finish=True)
    assert whole.startswith(b"HTTP/1.1 431 "), whole[:200]
    # A head under the limit is served; so is a body far longer than the head's limit.
    near = start + b"".join(line % i for i in range(55)) + b"Connection: close\r\n"
    assert _raw(server, near, finish=True).startswith(b"HTTP/1.1 200 "), "55 KB head refused"
    # (A route without a rate limit: the module's other tests spend the auth limit.)
    body = server.post(
        "/api/v1/widget/leads",
        content=b'{"message": "' + b"p" * 900_000 + b'"}',
        headers={"Content-Type": "application/json"},
    )
    assert body.status_code in (401, 422), body.text[:200]
    assert server.get("/healthz").status_code == 200


def test_a_chunked_bodys_endless_trailer_closes_the_connection(server: Server) -> None:
    """Trailers come after a chunked body's last chunk and httptools gathers them as it gathers
    headers: counted with the head's bytes, or one connection held 270 MB (a reviewer's
    finding). The application already has the request, so no 431: the connection closes."""
    host, port = server.base_url.removeprefix("http://").split(":")
    head = b"POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: "
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        with contextlib.suppress(OSError):
            conn.sendall(head + b"a" * 300_000)
        closed = False
        with contextlib.suppress(TimeoutError):
            while True:
                try:
                    chunk = conn.recv(65536)
                except ConnectionResetError:
                    closed = True
                    break
                if not chunk:
                    closed = True
                    break
    assert closed, "the server kept reading an endless trailer"
    assert server.get("/healthz").status_code == 200


def test_a_head_request_leaves_its_connection_serving(server: Server) -> None:
    """HEAD, as a load balancer's probe sends it, then GET on the same kept-alive connection:
    the server expected the GET's body after HEAD's headers (the route runs as GET), logged
    "unhandled error on HEAD" with a traceback for every probe and reset the connection, so
    the request after it failed."""
    host, port = server.base_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        for path in ("/healthz", "/api/v1/me"):  # answered 200, refused 401
            connection.request("HEAD", path)
            head = connection.getresponse()
            assert head.read() == b""
            assert int(head.headers["Content-Length"]) > 0
            connection.request("GET", path)
            got = connection.getresponse()
            assert (got.status, len(got.read())) == (
                head.status,
                int(head.headers["Content-Length"]),
            )
    finally:
        connection.close()
    assert "unhandled error on HEAD" not in server.log.read_text(errors="replace")

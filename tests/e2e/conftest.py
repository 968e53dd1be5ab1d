"""A real `trulybot serve` (embedded database, demo seeded) and Debian's Chromium."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import clusters
from tests.fakes.http_handler import serving
from tests.ports import free_port as _free_port

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
OUTPUT = ROOT / "test-output"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class DemoServer:
    base_url: str
    credentials: dict[str, Any]
    token: str
    data_dir: Path | None = None
    """Where the server keeps its data (its mail outbox is ``data_dir/outbox``)."""

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A call to the API as the demo owner. The server is the session's and outlives an
        access token (JWT_TTL_MINUTES, 15 by default; a run's browser tests span more): an
        expired token signs in again, once, as a client holding the password would."""
        response = self._call(method, path, **kwargs)
        if response.status_code == 401 and "token_expired" in response.text:
            self.token = _sign_in(self.base_url, self.credentials)
            response = self._call(method, path, **kwargs)
        return response

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"}
        return httpx.request(
            method, f"{self.base_url}/api/v1{path}", headers=headers, timeout=30, **kwargs
        )

    def workspace(self, path: str = "") -> str:
        return f"/workspaces/{self.credentials['workspace_id']}{path}"


def start_server(
    data_dir: Path, *, port_flag: bool = False, **settings: str
) -> tuple[subprocess.Popen[str], str]:
    """Start `trulybot serve` on the embedded defaults under ``data_dir`` (plus ``settings``),
    its output in ``data_dir/server.log``; returns the process and its base URL. The port is
    given as PORT, or as ``--port`` with ``port_flag`` (PORT then names another one). The
    cluster it starts is registered for the session's end."""
    port = _free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DATABASE_", "MIGRATION_", "REDIS_", "OPENAI_", "RAZORPAY_"))
    }
    env |= {
        "DATA_DIR": str(data_dir),
        # With --port, PORT names another port (never bound): the flag must win.
        "PORT": str((port + 1 if port < 65535 else port - 1) if port_flag else port),
        "ENVIRONMENT": "development",
        "HF_HUB_OFFLINE": "1",
        "LOG_LEVEL": "WARNING",
        **settings,
    }
    clusters.STARTED.add(data_dir / "pgdata")
    with (data_dir / "server.log").open("w") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "api.cli",
                "serve",
                *(["--port", str(port)] if port_flag else []),
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
    return process, f"http://127.0.0.1:{port}"


def wait_ready(process: subprocess.Popen[str], base_url: str, data_dir: Path) -> None:
    # A guard against hanging, not a timing assertion: a first start on a loaded 2-core machine
    # (a new cluster, migrations, the model) has been seen to need more than two minutes.
    deadline = time.monotonic() + 300
    while True:
        if process.poll() is not None:
            raise RuntimeError((data_dir / "server.log").read_text()[-3000:])
        try:
            if httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("server did not become ready")
        time.sleep(0.3)


@contextmanager
def running_server(data_dir: Path, *, port_flag: bool = False, **settings: str) -> Iterator[str]:
    """`trulybot serve` (``start_server``) until the block ends; yields its base URL. At the end
    the server is terminated and the embedded cluster it started is stopped too, whether the
    block failed or the server died without cleaning up (the session's end checks again)."""
    for attempt in range(3):
        process, base_url = start_server(data_dir, port_flag=port_flag, **settings)
        try:
            wait_ready(process, base_url, data_dir)
            break
        except RuntimeError as exc:
            stop_server(process)
            # The port picked free may have been taken by another process before the server
            # bound it: start again on another port, never on any other failure.
            if "address already in use" not in str(exc).lower() or attempt == 2:
                clusters.stop_clusters(data_dir / "pgdata")
                raise
    try:
        yield base_url
    finally:
        stop_server(process)
        clusters.stop_clusters(data_dir / "pgdata")


def stop_server(process: subprocess.Popen[str]) -> None:
    """Terminate ``process`` (killed if it does not end); nothing when it has ended."""
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


# Every browser of a session visits the demo server from 127.0.0.1, on one workspace: as one
# visitor, they spent its per-address budgets between them (the five widget and accessibility
# files start exactly the 20 new conversations an hour one visitor gets; a widget retry counted
# again under load, or one more test, was refused 429 conversation_rate_limited). The limits
# stay on; tests/hardening checks the per-address budgets themselves.
ONE_ADDRESS_FOR_ALL = {
    "WIDGET_CONVERSATIONS_PER_IP_PER_HOUR": "100000",
    "WIDGET_SERVER_CONVERSATIONS_PER_IP_PER_HOUR": "100000",
    "RATE_LIMIT_CHAT_IP": "100000/minute",
    "RATE_LIMIT_AUTH": "100000/minute",
}


@pytest.fixture(scope="session")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    data_dir = tmp_path_factory.mktemp("trulybot-e2e")
    with running_server(
        data_dir,
        SEED_DEMO="true",
        DEFAULT_PLAN="unlimited",
        EMBEDDING_PROVIDER="local",
        ALLOW_PRIVATE_URLS="true",
        **ONE_ADDRESS_FOR_ALL,
    ) as base_url:
        yield demo_owner(base_url, data_dir)


def demo_owner(base_url: str, data_dir: Path) -> DemoServer:
    """The seeded demo owner of the server at ``base_url``, logged in."""
    credentials = json.loads((data_dir / "demo-owner.json").read_text())
    token = _sign_in(base_url, credentials)
    return DemoServer(base_url=base_url, credentials=credentials, token=token, data_dir=data_dir)


def _sign_in(base_url: str, credentials: dict[str, Any]) -> str:
    login = httpx.post(
        f"{base_url}/api/v1/auth/login",
        json={"email": credentials["email"], "password": credentials["password"]},
        timeout=30,
    )
    assert login.status_code == 200, login.text
    return str(login.json()["access_token"])


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Any]:
    """Playwright's async API on the suite's own event loop (the sync API would replace the
    loop the other async tests share)."""
    if not CHROMIUM.exists() or shutil.which("chromium") is None:
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        instance = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        yield instance
        await instance.close()


@pytest.fixture
async def page(browser: Any) -> AsyncIterator[Any]:
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    yield page
    await context.close()


@contextmanager
def static_site(
    html: bytes, pages: dict[str, bytes] | None = None, headers: dict[str, str] | None = None
) -> Iterator[str]:
    """A customer's site on its own origin (another local port): ``pages`` by path, ``html``
    for every other path, each with ``headers`` besides its type. Stopped when the block ends."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = (pages or {}).get(self.path, html)
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    with serving(Handler) as url:
        yield url


class QuietHandler(BaseHTTPRequestHandler):
    """A stand-in's request handler that writes no access lines to the test's output."""

    def log_message(self, format: str, *args: object) -> None:
        return


@asynccontextmanager
async def chat_answered_by(page: Any, handler: type[BaseHTTPRequestHandler]) -> AsyncIterator[None]:
    """The widget's chat requests on ``page`` answered by ``handler`` (served on another local
    port; the page still sees its own server's URL) until the block ends."""
    with serving(handler) as fake:

        async def through_fake(route: Any) -> None:
            await route.continue_(url=fake + "/api/v1/chat")

        await page.route("**/api/v1/chat", through_fake)
        yield

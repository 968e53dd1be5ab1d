"""An ASGI app served by uvicorn on 127.0.0.1: in a background thread, for the local fakes
(``ThreadedServer``), or on the test's own event loop (``served_here``)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn


class ThreadedServer:
    def __init__(self, app: Any, *, name: str, **config: Any) -> None:
        self.app = app
        self.name = name
        self.config = {
            "log_level": "warning",
            "access_log": False,
            "lifespan": "off",
            "timeout_graceful_shutdown": 1,
            **config,
        }
        self.port = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self) -> None:
        if self._thread is not None:
            return
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        server = uvicorn.Server(uvicorn.Config(self.app, **self.config))
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name=self.name, daemon=True
        )
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                sock.close()
                raise RuntimeError(f"{self.name} did not start")
            time.sleep(0.005)
        self.port = sock.getsockname()[1]
        self._server, self._thread, self._sock = server, thread, sock

    def stop(self) -> None:
        server, thread, sock = self._server, self._thread, self._sock
        self._server = self._thread = self._sock = None
        if server is not None:
            server.should_exit = True
        if thread is not None:
            thread.join(timeout=10)
        if sock is not None:
            sock.close()


@asynccontextmanager
async def served_here(app: Any, **config: Any) -> AsyncIterator[tuple[int, uvicorn.Server]]:
    """``app`` served by uvicorn on this event loop, on a listening socket bound here (its port
    yielded with the server), with ``config`` (``http=`` a protocol class); stopped at the end."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    settings = {"lifespan": "off", "log_level": "warning", "timeout_graceful_shutdown": 1}
    server = uvicorn.Server(uvicorn.Config(app, **{**settings, **config}))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            assert not task.done(), task
            await asyncio.sleep(0.01)
        yield port, server
    finally:
        server.should_exit = True
        await task
        sock.close()

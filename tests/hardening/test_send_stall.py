"""A client that stops reading an answer does not hold the server's task or connection for ever.

uvicorn's ``send`` waits for the connection's buffer to drain before it writes more: for a
client that reads nothing, that wait has no end. ``RequestTimeoutMiddleware`` cut a stalled
stream after its timeout and then sent the stream's last part outside any timeout, into the
same wait (a red-team finding); with ``REQUEST_TIMEOUT_SECONDS=0``, or an answer written in one
piece and left in the buffer, nothing ended it at all. Now the middleware's last send has the
same timeout, and ``trulybot serve``'s protocol (``api.http_protocol``) aborts a connection whose
unsent bytes the client has not taken for ``SEND_STALL_SECONDS`` (nginx's ``send_timeout``):
every send of every answer is bounded. A client that reads slowly, pausing less than that, gets
the whole answer.

Each test runs uvicorn on a listening socket of its own, with the stall and the timeout at half a
second (the server's: 60 s); the client's socket has a small receive buffer and is not read.
Each wait is bounded generously.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from api.http_protocol import BoundedHttpToolsProtocol
from api.middleware import RequestTimeoutMiddleware
from tests.fakes.server import served_here

WAIT = 20.0  # how long a test waits for the server to give up: far past the stall
STALL = 0.5
CHUNK = b"x" * 65536
LARGE = 16 * 1024 * 1024  # far more than the kernel's buffers on both ends hold


class QuickStalls(BoundedHttpToolsProtocol):
    send_stall = STALL


async def endless(request: Request) -> StreamingResponse:
    async def body():  # type: ignore[no-untyped-def]
        while True:
            yield CHUNK
            await asyncio.sleep(0)

    return StreamingResponse(body())


async def large(request: Request) -> Response:
    """A large answer sent in one piece (a JSON list, a page): one ``send``, left in the
    buffer."""
    return Response(b"y" * LARGE, media_type="application/octet-stream")


def _app() -> Starlette:
    return Starlette(routes=[Route("/endless", endless), Route("/large", large)])


class Returned:
    """An ASGI app wrapped to tell when its call for a request has returned."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.returned = asyncio.Event()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await self.app(scope, receive, send)
        finally:
            if scope["type"] == "http":
                self.returned.set()


def _server(app: Any, http: Any = "httptools") -> Any:
    return served_here(app, http=http, log_level="critical")


@asynccontextmanager
async def _asking(
    port: int, path: str
) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    """A connection that asks for ``path`` and reads nothing unless the test does; closed at
    the end (a close with unread data resets the connection: the server lets go of it)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    reader, writer = await asyncio.open_connection(sock=sock, limit=4096)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: example\r\n\r\n".encode())
    await writer.drain()
    try:
        yield reader, writer
    finally:
        writer.transport.abort()


async def _until(condition: Callable[[], bool]) -> bool:
    async with asyncio.timeout(WAIT):
        while not condition():
            await asyncio.sleep(0.05)
    return True


async def test_the_timeout_ends_a_stalled_stream_however_its_last_send_goes() -> None:
    """Under uvicorn's own protocol (no stall bound of its own): the middleware's timeout ends
    the stream's task, its last part included (it waited on the full buffer for ever)."""
    app = Returned(RequestTimeoutMiddleware(_app(), seconds=STALL))
    async with _server(app) as (port, _), _asking(port, "/endless"):
        await asyncio.wait_for(app.returned.wait(), WAIT)


async def test_a_stalled_stream_without_a_request_timeout_is_aborted() -> None:
    """``REQUEST_TIMEOUT_SECONDS=0``: no middleware ends it; the protocol's stall bound does,
    and the stream's task ends with the connection."""
    app = Returned(_app())
    async with _server(app, QuickStalls) as (port, server), _asking(port, "/endless"):
        await asyncio.wait_for(app.returned.wait(), WAIT)
        assert await _until(lambda: not server.server_state.connections)


async def test_an_answer_sent_in_one_piece_and_never_read_is_aborted() -> None:
    """The application is done at once (one send, the rest in the buffer); the connection the
    client does not read from is let go after the stall."""
    app = Returned(_app())
    async with _server(app, QuickStalls) as (port, server), _asking(port, "/large"):
        await asyncio.wait_for(app.returned.wait(), WAIT)
        assert await _until(lambda: not server.server_state.connections)


async def test_a_client_reading_slowly_gets_the_whole_answer() -> None:
    """Pauses shorter than the stall, and the whole download longer than it: never cut."""
    app = Returned(_app())
    async with _server(app, QuickStalls) as (port, _), _asking(port, "/large") as (reader, _w):
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT)
        assert head.startswith(b"HTTP/1.1 200 ")
        received = 0
        while received < LARGE:
            part = await asyncio.wait_for(reader.readexactly(min(LARGE - received, 2**20)), WAIT)
            received += len(part)
            await asyncio.sleep(STALL / 5)
        assert received == LARGE

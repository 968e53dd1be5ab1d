"""A connection that never finishes its request head is closed, not held for ever.

uvicorn's httptools protocol arms no timer until a response has been sent (its keep-alive), and
takes it down again at the next byte: a client that connected and sent nothing, or half a head,
kept its connection (a file descriptor, a protocol object) as long as it liked, and a few
thousand of those left the process nothing to accept connections or reach its database with.
``trulybot serve``'s protocol (``api.http_protocol``) gives the head ``HEAD_TIMEOUT_SECONDS``
from the connection or from the head's first byte, then answers 408 ``request_head_timeout``
and closes; a request whose head came whole is never cut, however long its answer takes.

Run against uvicorn on a listening socket the test bound itself, with a trivial application
and a head timeout of half a second (the server's is 30 s); each wait is bounded generously.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from api.http_protocol import BoundedHttpToolsProtocol
from tests.fakes.server import served_here

WAIT = 20.0  # how long a test waits for the server to close: far past the head timeout


class QuickHeads(BoundedHttpToolsProtocol):
    head_timeout = 0.5


async def _slow_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers ``ok`` after three times the head timeout: a slow answer to a complete head."""
    if scope["type"] != "http":
        return
    await asyncio.sleep(3 * QuickHeads.head_timeout)
    headers = [(b"content-length", b"2")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"ok"})


@asynccontextmanager
async def _server() -> AsyncIterator[int]:
    async with served_here(_slow_app, http=QuickHeads) as (port, _):
        yield port


async def _until_closed(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes the connection."""
    return await asyncio.wait_for(reader.read(), WAIT)


async def test_a_connection_that_sends_nothing_is_closed() -> None:
    async with _server() as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            answer = await _until_closed(reader)
        finally:
            writer.close()
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert b'"code":"request_head_timeout"' in answer


async def test_half_a_head_is_answered_408_and_closed() -> None:
    async with _server() as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(b"GET / HTTP/1.1\r\nHost: example\r\nX-Slow: ")
            await writer.drain()
            answer = await _until_closed(reader)
        finally:
            writer.close()
    assert answer.startswith(b"HTTP/1.1 408 "), answer


async def test_a_complete_head_is_answered_however_long_it_takes() -> None:
    """The timer stops when the head is whole: an answer slower than the head timeout comes,
    and so does the next request's on the same connection."""
    async with _server() as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            request = b"GET / HTTP/1.1\r\nHost: example\r\n\r\n"
            answers = []
            for _ in range(2):
                writer.write(request)
                await writer.drain()
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT)
                body = await asyncio.wait_for(reader.readexactly(2), WAIT)
                answers.append((head.split(b"\r\n")[0], body))
        finally:
            writer.close()
    assert answers == [(b"HTTP/1.1 200 OK", b"ok")] * 2

"""What a connection may send besides request heads, under ``trulybot serve``'s protocol
(``api.http_protocol``): a kept-alive connection's blank lines, a chunked body's framing.

- uvicorn closes a kept-alive connection that starts no request within its keep-alive timeout,
  but takes the timer down at any byte; a blank line is no request (RFC 9112 section 2.2 lets
  a server skip it) and started no head timer either: one "\\r\\n" after an answer held the
  connection for ever, past both (a reviewer's finding).
- The bound on what is not body (``MAX_HEAD_BYTES``) counted a chunked body's chunk lines with
  its trailers: a client that streams its body in many small chunks (a generator's every
  ``yield`` is one) was cut off without an answer past 64 KiB of chunk lines (a reviewer's
  finding). An endless trailer still closes the connection.

uvicorn on a listening socket the test bound, a trivial application, and short timers; each
wait is bounded generously.
"""

from __future__ import annotations

import asyncio
from typing import Any

from api.http_protocol import MAX_HEAD_BYTES, BoundedHttpToolsProtocol
from tests.fakes.server import served_here

WAIT = 20.0  # far past every timer below


class QuickHeads(BoundedHttpToolsProtocol):
    head_timeout = 0.5


async def _counting_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers with the number of body bytes it received."""
    if scope["type"] != "http":
        return
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    body = str(size).encode()
    headers = [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _answer(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT)
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.startswith(b"content-length")
    )
    return head.split(b"\r\n")[0], await asyncio.wait_for(reader.readexactly(length), WAIT)


async def test_a_blank_line_after_an_answer_does_not_keep_the_connection() -> None:
    """Closed quietly at uvicorn's keep-alive timeout (no 408: no request was begun)."""
    async with served_here(_counting_app, http=QuickHeads, timeout_keep_alive=0.2) as (port, _):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            await writer.drain()
            assert await _answer(reader) == (b"HTTP/1.1 200 OK", b"0")
            writer.write(b"\r\n")
            await writer.drain()
            rest = await asyncio.wait_for(reader.read(), WAIT)
        finally:
            writer.close()
    assert rest == b""


async def test_a_blank_line_before_the_next_request_is_skipped() -> None:
    """Within the keep-alive timeout, the next request after a blank line is answered."""
    async with served_here(_counting_app, http=QuickHeads) as (port, _):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            await writer.drain()
            first = await _answer(reader)
            writer.write(b"\r\nPOST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
            await writer.drain()
            second = await _answer(reader)
        finally:
            writer.close()
    assert [first, second] == [(b"HTTP/1.1 200 OK", b"0"), (b"HTTP/1.1 200 OK", b"3")]


async def test_a_body_in_many_small_chunks_is_received_whole() -> None:
    """Far more than ``MAX_HEAD_BYTES`` of chunk lines, in small writes: answered."""
    chunks = MAX_HEAD_BYTES // 2  # each b"1\r\nx\r\n": 5 bytes of framing, 1 of body
    async with served_here(_counting_app, http=QuickHeads) as (port, _):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
            for sent in range(chunks):
                writer.write(b"1\r\nx\r\n")
                if sent % 512 == 0:
                    await writer.drain()
                    await asyncio.sleep(0)  # the server reads as it goes
            writer.write(b"0\r\n\r\n")
            await writer.drain()
            answer = await _answer(reader)
        finally:
            writer.close()
    assert answer == (b"HTTP/1.1 200 OK", str(chunks).encode())


async def test_an_endless_trailer_after_many_chunks_still_closes_the_connection() -> None:
    async with served_here(_counting_app, http=QuickHeads, log_level="critical") as (port, _):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        closed = False
        try:
            writer.write(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
            writer.write(b"1\r\nx\r\n" * 1000 + b"0\r\nX-Trailer: ")
            async with asyncio.timeout(WAIT):
                for _ in range(4 * MAX_HEAD_BYTES // 1024):
                    writer.write(b"y" * 1024)
                    await writer.drain()
                    await asyncio.sleep(0)
                closed = await reader.read() == b""
        except ConnectionError:
            closed = True
        finally:
            writer.close()
    assert closed

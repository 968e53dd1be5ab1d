"""The HTTP/1.1 protocol `trulybot serve` runs: uvicorn's httptools protocol with a bound on the
request head.

uvicorn's httptools protocol keeps every header a client sends until the head ends, with no
limit (its h11 protocol has one, ``h11_max_incomplete_event_size``, at a throughput cost): a
few connections that send megabytes of headers and never finish them held hundreds of MiB of
the server's memory, without any account (a red-team finding), and so did a chunked body's
trailers (a reviewer's finding). Here the request line and the headers, or a chunked body's
trailers, may take about ``MAX_HEAD_BYTES`` (counted per read); past it a head is answered 431
and the connection closed before the application sees anything. A chunked body's chunk lines
are not counted (httptools keeps none of them; counted, a body sent in many small chunks was
cut without an answer). Request bodies are bounded by MAX_BODY_BYTES in the application
(``api.limits``).

A head must also arrive in time: uvicorn arms no timer before its first response (its
keep-alive) and takes that one down at the next byte, so a connection that sent nothing, or
half a head, was held for as long as the client liked (a red-team finding: each one a file
descriptor, and a few thousand left the process none to accept or reach its database with).
Here the head gets ``HEAD_TIMEOUT_SECONDS`` from the connection, or from its first byte on a
kept-alive connection; then 408 ``request_head_timeout`` and the connection closed. A request
whose head came whole is never cut: its body and answer have the application's timeouts. Bytes
that begin no request on a kept-alive connection (blank lines) leave uvicorn's keep-alive timer
as it was: one "\r\n" after an answer took it down and the connection was held for ever.

An answer must also be taken in time: uvicorn's ``send`` waits for the connection's buffer to
drain before writing more, for as long as a client that reads nothing likes, and an answer
written in one piece sits in the buffer (a keep-alive's close waits for it to be sent) as long.
Here a connection whose unsent bytes the client has not taken any of for
``SEND_STALL_SECONDS`` is aborted (a red-team finding: a stalled stream's task and connection
were held for ever, past the request timeout). A client that reads slowly makes progress, and
each byte it takes gives it the full period again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEAD_BYTES = 64 * 1024
"""The request line and headers of one request, as sent (names, values and their separators):
four times nginx's default header buffers (4 x 8 KiB), far above what a browser sends."""

HEAD_TIMEOUT_SECONDS = 30.0
"""How long a request head may take to arrive: three times the shipped balancer's (HAProxy's
``timeout http-request 10s``, deploy/haproxy.cfg), half nginx's ``client_header_timeout``."""

SEND_STALL_SECONDS = 60.0
"""How long a client may take none of an answer's unsent bytes: nginx's ``send_timeout``
default, and the request timeout's default (a stream's parts each get as long)."""

_TIMEOUT_BODY = (
    b'{"error":{"code":"request_head_timeout","message":"The request line and headers did not'
    b' arrive within %d seconds","details":null}}' % HEAD_TIMEOUT_SECONDS
)
_TIMEOUT_REPLY = (
    b"HTTP/1.1 408 Request Timeout\r\n"
    b"content-type: application/json\r\n"
    b"connection: close\r\n"
    b"content-length: %d\r\n\r\n%s" % (len(_TIMEOUT_BODY), _TIMEOUT_BODY)
)

_REPLY = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: application/json\r\n"
    b"connection: close\r\n"
    b"content-length: %d\r\n\r\n%s"
)
_BODY = (
    b'{"error":{"code":"request_head_too_large","message":"The request line and headers '
    b'are longer than %d bytes","details":null}}' % MAX_HEAD_BYTES
)


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with at most ``MAX_HEAD_BYTES`` of a request that is not
    its body: the request line and headers, and a chunked body's trailers.

    httptools gathers a header's (or a trailer's) name and value itself before any callback
    sees them, so the bytes are counted as they arrive: every byte of a read that is not body
    data counts for the message in progress (from the read in which its last chunk line, if
    any, ended), and past the limit the connection is closed (with
    a 431 answer while the head is still coming, without one once the application has the
    request: a trailer that never ends). A head that arrives whole in one read is measured as
    parsed when it ends and refused the same way, before the application starts."""

    head_timeout = HEAD_TIMEOUT_SECONDS
    send_stall = SEND_STALL_SECONDS
    _head_timer: _Timer
    _stall_timer: _Timer
    _unsent = 0  # the buffer's size when the stall timer was armed
    _overhead = 0  # non-body bytes of the message in progress
    _body_in_read = 0
    _ended_in_read = False
    _chunk_in_read = False
    _began_in_read = False
    _in_body = False
    _refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_timer = _Timer(self.loop, self._head_timed_out)
        self._stall_timer = _Timer(self.loop, self._check_unsent)
        self._arm_head_timer()  # the first head: from the connection, bytes or none

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_timer.stop()
        self._stall_timer.stop()
        super().connection_lost(exc)

    def pause_writing(self) -> None:
        super().pause_writing()  # the application's next send waits for the client
        self._watch_unsent()

    def resume_writing(self) -> None:
        self._stall_timer.stop()  # the client took bytes
        super().resume_writing()

    def on_response_complete(self) -> None:
        # What the answer left unsent: a kept-alive connection, or one closing (a close waits
        # for the buffer to be sent), holds it until the client takes it.
        self._watch_unsent()
        super().on_response_complete()

    def _watch_unsent(self) -> None:
        unsent = self.transport.get_write_buffer_size()
        if not self._stall_timer.armed and unsent > 0:
            self._unsent = unsent
            self._stall_timer.arm(self.send_stall)

    def _check_unsent(self) -> None:
        unsent = self.transport.get_write_buffer_size()
        if unsent != self._unsent:  # bytes taken (or more written) since: no stall
            self._watch_unsent()
            return
        self.logger.info(
            "Client took none of %d unsent bytes in %g s: connection aborted.",
            unsent,
            self.send_stall,
        )
        self.transport.abort()  # a close would wait for the buffer to be sent

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._began_in_read = True
        self._arm_head_timer()  # a kept-alive connection's next head: from its first byte

    def _keep_alive_until(self, when: float) -> None:
        if self.timeout_keep_alive_task is None and not self.transport.is_closing():
            self.timeout_keep_alive_task = self.loop.call_at(when, self.timeout_keep_alive_handler)

    def _arm_head_timer(self) -> None:
        self._head_timer.arm(self.head_timeout)

    def _head_timed_out(self) -> None:
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            # A pipelined head behind a request still being answered: that answer is not cut;
            # the head gets another period once it is sent.
            self._arm_head_timer()
            return
        self.logger.info("Request head not received within %g s: closed.", self.head_timeout)
        self.transport.write(_TIMEOUT_REPLY)
        self.transport.close()

    def data_received(self, data: bytes) -> None:
        self._body_in_read = 0
        self._ended_in_read = False
        self._chunk_in_read = False
        self._began_in_read = False
        keep_alive = self.timeout_keep_alive_task
        super().data_received(data)  # takes the keep-alive timer down
        if keep_alive is not None and not self._began_in_read:
            # Bytes that begin no request (a blank line, the rest of a body its answer did not
            # wait for) leave the keep-alive as it was: one "\r\n" held the connection for
            # ever (no head began, so no head timer either).
            self._keep_alive_until(keep_alive.when())
        if self._refused:
            return
        if self._ended_in_read or self._chunk_in_read:
            # A chunk line complete: the framing before it was no trailer in progress (only
            # a trailer, after the last chunk, is gathered in memory; the rest of this read
            # is left uncounted, as a head's read is counted only after it is parsed).
            self._overhead = 0
        else:
            self._overhead += len(data) - self._body_in_read
        if self._overhead > MAX_HEAD_BYTES and not self.transport.is_closing():
            if self._in_body:  # a trailer that never ends: the application has the request
                self.logger.warning("Request trailers longer than %d bytes.", MAX_HEAD_BYTES)
                self.transport.close()
            else:
                self._refuse()

    def on_headers_complete(self) -> None:
        self._head_timer.stop()
        # A head that arrived whole in one read was not counted above: measure it as parsed.
        size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
        if size > MAX_HEAD_BYTES:
            self._refuse()
            raise HeadTooLarge  # httptools stops parsing; the application never starts
        self._in_body = True
        super().on_headers_complete()

    def on_chunk_header(self) -> None:
        self._chunk_in_read = True

    def on_body(self, body: bytes) -> None:
        self._body_in_read += len(body)
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._in_body = False
        self._ended_in_read = True
        super().on_message_complete()

    def send_400_response(self, msg: str) -> None:
        if not self._refused:  # the parser's report of HeadTooLarge: answered already
            super().send_400_response(msg)

    def _refuse(self) -> None:
        self._refused = True
        self.logger.warning("Request head longer than %d bytes refused.", MAX_HEAD_BYTES)
        self.transport.write(_REPLY % (len(_BODY), _BODY))
        self.transport.close()


class _Timer:
    """One pending call of ``callback`` at a time: arming an armed timer changes nothing."""

    def __init__(self, loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
        self._loop = loop
        self._callback = callback
        self._handle: asyncio.TimerHandle | None = None

    @property
    def armed(self) -> bool:
        return self._handle is not None

    def arm(self, seconds: float) -> None:
        if self._handle is None:
            self._handle = self._loop.call_later(seconds, self._run)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _run(self) -> None:
        self._handle = None
        self._callback()


class HeadTooLarge(Exception):
    """Raised from a parser callback to stop httptools parsing a refused request."""

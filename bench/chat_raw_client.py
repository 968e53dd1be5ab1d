"""The lean load generator's visitors for bench.chat_http (``--clients lean``): the same
visitors' requests over keep-alive HTTP/1.1 connections written and read with asyncio streams,
no HTTP library.

The load generator runs on the same cores as the server: httpx2 spends about 3 ms of CPU per
request there, as much as PostgreSQL. This client sends the same bytes a browser's request
would carry (``POST /api/v1/chat``, a JSON body, the widget key, ``Accept: text/event-stream``
for the streamed scenario) and reads the response by its ``content-length`` or its chunked
encoding, so the server does the same work; only the bench's own share of the cores shrinks.
It is an option beside httpx2, which stays the default measurement.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx2

T = TypeVar("T")

TIMEOUT = 60.0
"""Seconds a request may take, as the httpx2 client's timeout."""

DEFAULT_HEADERS = {
    "accept": "*/*",
    "accept-encoding": "gzip, deflate",
    "connection": "keep-alive",
    "user-agent": f"python-httpx2/{httpx2.__version__}",
}
"""The headers httpx2 adds to every request, so the server reads the same ones (the user agent
is kept with a conversation); a header given by the caller replaces its default."""


class RawHTTPError(Exception):
    """The connection failed or the response was not HTTP/1.1 as this client reads it."""


class RawClient:
    """Keep-alive connections per server base URL: a request takes an idle one or opens one,
    and gives it back once its response was read to the end (unless the server said close)."""

    def __init__(self) -> None:
        self._idle: dict[str, list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]] = {}

    async def aclose(self) -> None:
        for connections in self._idle.values():
            for _, writer in connections:
                writer.close()
        self._idle.clear()

    async def _connect(self, base: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        idle = self._idle.get(base)
        if idle:
            return idle.pop()
        url = urlsplit(base)
        try:
            return await asyncio.open_connection(url.hostname, url.port or 80)
        except OSError as exc:
            raise RawHTTPError(type(exc).__name__) from exc

    def _give_back(
        self, base: str, connection: tuple[asyncio.StreamReader, asyncio.StreamWriter]
    ) -> None:
        self._idle.setdefault(base, []).append(connection)

    @staticmethod
    def _request(base: str, path: str, body: bytes, headers: dict[str, str]) -> bytes:
        host = urlsplit(base).netloc
        head = [f"POST {path} HTTP/1.1", f"host: {host}", "content-type: application/json"]
        fields = {**DEFAULT_HEADERS, **headers}
        head += [f"content-length: {len(body)}", *(f"{k}: {v}" for k, v in fields.items())]
        return ("\r\n".join(head) + "\r\n\r\n").encode() + body

    @staticmethod
    async def _head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
        try:
            raw = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            raise RawHTTPError("no response head") from exc
        status_line, *lines = raw[:-4].decode("latin-1").split("\r\n")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
            raise RawHTTPError(f"not an HTTP/1.1 status line: {status_line!r}")
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return int(parts[1]), headers

    @staticmethod
    async def _chunks(reader: asyncio.StreamReader) -> Any:
        """The body's chunks (``transfer-encoding: chunked``) as they arrive."""
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";", 1)[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")  # no trailers from uvicorn
                return
            chunk = await reader.readexactly(size + 2)
            yield chunk[:-2]

    async def _body(self, reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
        if "content-length" in headers:
            return await reader.readexactly(int(headers["content-length"]))
        if headers.get("transfer-encoding", "").lower() == "chunked":
            return b"".join([chunk async for chunk in self._chunks(reader)])
        raise RawHTTPError("a response with neither content-length nor chunks")

    async def _exchange(
        self,
        base: str,
        path: str,
        payload: dict[str, Any],
        headers: dict[str, str],
        read: Callable[[asyncio.StreamReader, int, dict[str, str]], Awaitable[T]],
    ) -> tuple[int, T]:
        """POST ``payload`` as JSON on a kept connection: (status, what ``read`` makes of the
        response once its head is read). The connection is kept for the next request unless the
        server said close or the exchange failed (``RawHTTPError``)."""
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        connection = await self._connect(base)
        reader, writer = connection
        try:
            async with asyncio.timeout(TIMEOUT):
                writer.write(self._request(base, path, body, headers))
                status, response_headers = await self._head(reader)
                result = await read(reader, status, response_headers)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
            writer.close()
            raise RawHTTPError(type(exc).__name__) from exc
        except BaseException:
            writer.close()
            raise
        if response_headers.get("connection", "").lower() == "close":
            writer.close()
        else:
            self._give_back(base, connection)
        return status, result

    async def post_json(
        self, base: str, path: str, payload: dict[str, Any], headers: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        """(status, headers, body) of a JSON POST."""

        async def read(
            reader: asyncio.StreamReader, status: int, head: dict[str, str]
        ) -> tuple[dict[str, str], bytes]:
            return head, await self._body(reader, head)

        status, (response_headers, content) = await self._exchange(
            base, path, payload, headers, read
        )
        return status, response_headers, content

    async def post_stream(
        self, base: str, path: str, payload: dict[str, Any], headers: dict[str, str]
    ) -> tuple[int, float, dict[str, Any]]:
        """A streamed POST: (status, ms to the first ``delta`` event, the ``done`` data), as
        bench.chat_workload's ``chat_stream`` reads it."""
        events = StreamedAnswer(time.perf_counter())

        async def read(reader: asyncio.StreamReader, status: int, head: dict[str, str]) -> None:
            if status != 200 or "content-length" in head:
                await self._body(reader, head)
                return
            pending = b""
            async for chunk in self._chunks(reader):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for raw in lines:
                    events.line(raw.rstrip(b"\r").decode())

        status, _ = await self._exchange(base, path, payload, headers, read)
        return status, events.first, events.done


class StreamedAnswer:
    """What the bench reads from a streamed answer's lines: when the first ``delta`` event came
    (ms after ``started``, a ``time.perf_counter()``) and the ``done`` event's data."""

    def __init__(self, started: float) -> None:
        self.started = started
        self.first = math.nan
        self.done: dict[str, Any] = {}
        self._event = ""

    def line(self, line: str) -> None:
        if line.startswith("event: "):
            self._event = line[7:]
        elif line.startswith("data: "):
            if self._event == "delta" and math.isnan(self.first):
                self.first = (time.perf_counter() - self.started) * 1000
            elif self._event == "done":
                self.done = json.loads(line[6:])

"""A lean OpenAI-compatible chat model for bench.chat_http (``--clients lean``): the same answers
as tests.fakes.openai_server.FakeOpenAI's ``/v1/chat/completions`` (a JSON completion, or a
stream of chunks with one delta per word), written by an asyncio protocol in a thread of the
bench, with no web framework and no record of the requests.

FakeOpenAI (starlette and uvicorn, every request's JSON kept for the tests to read) takes about
1 ms of the shared cores per answer; a real model runs elsewhere. The server's OpenAI client
reads the same status, headers and bodies from both, so its work is the same.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from tests.fakes.openai_bodies import (
    DELTA,
    chunk_body,
    completion_body,
    usage_chunk_body,
    word_usage,
)

PATH = b"/v1/chat/completions"


def completion(body: dict[str, Any], text: str, completion_id: str, created: int) -> bytes:
    """The JSON of a completion, as FakeOpenAI answers one (its default knobs), encoded as
    Starlette's JSONResponse encodes it."""
    model = str(body.get("model") or "gpt-4o-mini")
    answer = completion_body(completion_id, created, model, text, "stop", word_usage(body, text))
    return json.dumps(answer, ensure_ascii=False, separators=(",", ":")).encode()


def stream_events(
    body: dict[str, Any], text: str, completion_id: str, created: int
) -> Iterator[bytes]:
    """The events of a streamed completion, as FakeOpenAI sends them (its default knobs)."""
    model = str(body.get("model") or "gpt-4o-mini")
    options = body.get("stream_options") or {}
    include_usage = bool(isinstance(options, dict) and options.get("include_usage"))

    def event(payload: dict[str, Any]) -> bytes:
        return f"data: {json.dumps(payload)}\n\n".encode()

    def delta(content: dict[str, Any], finish: str | None) -> bytes:
        return event(chunk_body(completion_id, created, model, content, finish, include_usage))

    yield delta({"role": "assistant", "content": "", "refusal": None}, None)
    for piece in DELTA.findall(text):
        yield delta({"content": piece}, None)
    yield delta({}, "stop")
    if include_usage:
        yield event(usage_chunk_body(completion_id, created, model, word_usage(body, text)))
    yield b"data: [DONE]\n\n"


class _Protocol(asyncio.Protocol):
    def __init__(self, owner: LeanFakeLLM) -> None:
        self.owner = owner
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].split(b"\r\n")
            length = 0
            for line in head[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            method, target, *_ = [*head[0].split(b" "), b"", b""]
            self.owner.answer(self, method, target, body)

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)


class LeanFakeLLM:
    """``start()``, ``base_url``, ``latency`` and ``stop()`` as FakeOpenAI's; only chat
    completions with the default knobs (``chat_reply``: the text, or ``(body) -> text``)."""

    def __init__(self, *, chat_reply: str | Callable[[dict[str, Any]], str]) -> None:
        self.chat_reply = chat_reply
        self.latency = 0.0
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        if not self.port:
            raise RuntimeError("LeanFakeLLM is not started")
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> LeanFakeLLM:
        started = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            self._server = loop.run_until_complete(
                loop.create_server(lambda: _Protocol(self), "127.0.0.1", 0)
            )
            self.port = self._server.sockets[0].getsockname()[1]
            started.set()
            loop.run_forever()
            self._server.close()
            loop.run_until_complete(self._server.wait_closed())
            loop.close()

        self._thread = threading.Thread(target=run, name="lean-fake-llm", daemon=True)
        self._thread.start()
        if not started.wait(10):
            raise RuntimeError("LeanFakeLLM did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._loop = self._thread = None

    def answer(self, protocol: _Protocol, method: bytes, target: bytes, raw: bytes) -> None:
        if method != b"POST" or target != PATH:
            protocol.write(_response(404, "application/json", b'{"detail":"Not Found"}'))
            return
        body = json.loads(raw)
        text = self.chat_reply(body) if callable(self.chat_reply) else self.chat_reply
        completion_id, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())
        if body.get("stream"):
            events = list(stream_events(body, text, completion_id, created))
            head = _head(200, "text/event-stream; charset=utf-8", "cache-control: no-cache")
            chunks = b"".join(b"%x\r\n%s\r\n" % (len(e), e) for e in events)
            data = head + b"transfer-encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n"
        else:
            data = _response(
                200, "application/json", completion(body, text, completion_id, created)
            )
        if self.latency > 0 and self._loop is not None:
            self._loop.call_later(self.latency, protocol.write, data)
        else:
            protocol.write(data)


def _head(status: int, content_type: str, *extra: str) -> bytes:
    reason = {200: "OK", 404: "Not Found"}[status]
    lines = [f"HTTP/1.1 {status} {reason}", f"content-type: {content_type}", *extra]
    return ("\r\n".join(lines) + "\r\n").encode()


def _response(status: int, content_type: str, body: bytes) -> bytes:
    return _head(status, content_type, f"content-length: {len(body)}") + b"\r\n" + body

"""A small, local, OpenAI-compatible server for tests and benchmarks.

It is a real HTTP server (starlette + uvicorn in a background thread on 127.0.0.1, free port), so
the real ``openai`` SDK talks to it unchanged: tests swap the provider at the HTTP boundary.

Usage::

    with FakeOpenAI(chat_reply="Refunds take 5 days [1].") as fake:
        client = openai.AsyncOpenAI(api_key="test", base_url=fake.base_url)
        ...
        assert fake.requests[-1].json["max_tokens"] == 512

    fake = FakeOpenAI()      # from sync code / benchmarks
    fake.start()
    ...
    fake.stop()

Knobs (all may be changed while the server runs):

- ``latency``: seconds to wait before answering any request.
- ``fail_next(status, times=1)``: answer the next ``times`` requests with ``status`` (429, 500...)
  and an OpenAI-style error body; 429/503 carry ``retry-after-ms`` (``retry_after_ms``) so SDK
  retries stay fast.
- ``chat_reply``: the assistant text, or a callable ``(request_json) -> str``;
  ``ranking_reply(score)`` answers a reranking prompt (numbered ``[n] passage`` lines) with the
  numbers ordered by ``score(passage)``, highest first.
- ``hang``: never answer (until the client gives up or the server stops); a request hanging
  when it is set back to False is answered then.
- ``usage``: ``(prompt_tokens, completion_tokens)`` to report; ``None`` counts words instead.
- ``stream_chunk_chars``: split streamed replies into deltas of this many characters
  (default: one delta per word, trailing whitespace included).
- ``stream_delay``: seconds between streamed chunks.
- ``stream_error_after``: end streamed replies after this many deltas with an error event
  (``data: {"error": {...}}``, as OpenAI reports a failure once a stream has started).
- ``stream_hang_after``: stop streamed replies after this many deltas and send nothing more
  until it is set back to None (or the server stops); then the rest.
- ``stream_cut_after``: end streamed replies cleanly after this many deltas: the body just
  ends, with no ``finish_reason``, usage or ``[DONE]`` (a proxy or gateway closing the stream
  when its backend died).
- ``embedding_dimensions``: default vector size when the request has no ``dimensions`` (1536).
- ``finish_reason``: why the reply ended, as the provider reports it (``"stop"``; ``"length"``
  for a reply cut at max_tokens, ``"content_filter"``), streamed or not.

``reset_all()`` sets every knob back to what the fake was built with (a module-scoped fake's
per-test state). Events a test waits for instead of sleeping (``threading.Event``; cleared by
``reset_all``): ``hanging`` is set once a request hangs (``hang``), ``stream_sent`` once a
streamed reply has sent its ``stream_hang_after`` deltas and waits.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import math
import re
import struct
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.fakes.openai_bodies import (
    DELTA,
    WORD,
    chunk_body,
    completion_body,
    count_words,
    message_text,
    usage_chunk_body,
    word_usage,
)
from tests.fakes.server import ThreadedServer

ChatReply = str | Callable[[dict[str, Any]], str]

_NUMBERED = re.compile(r"^\[(\d+)\] (.*)$", re.MULTILINE)


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake received."""

    method: str
    path: str
    headers: dict[str, str]
    json: dict[str, Any]


def hash_embedding(text: str, dimensions: int) -> list[float]:
    """Deterministic bag-of-words vector: each word hashed into a signed bucket, L2-normalised.

    Texts sharing words get a positive cosine similarity; identical texts get 1.0.
    """
    vec = [0.0] * dimensions
    for word in WORD.findall(text.casefold()):
        digest = hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest()
        value = int.from_bytes(digest, "little")
        vec[value % dimensions] += 1.0 if (value >> 63) & 1 else -1.0
    norm = math.sqrt(sum(x * x for x in vec))
    if norm == 0.0:
        vec[0] = 1.0
        return vec
    return [x / norm for x in vec]


def numbered_passages(body: dict[str, Any]) -> dict[int, str]:
    """The ``[n] text`` lines of a request's last message, by number."""
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    text = message_text(messages[-1]) if messages else ""
    return {int(n): passage for n, passage in _NUMBERED.findall(text)}


def ranking_reply(score: Callable[[str], float]) -> Callable[[dict[str, Any]], str]:
    """A ``chat_reply`` that ranks the numbered passages by ``score`` (highest first, ties in
    their given order), answering like a model: ``"3, 1, 2"``."""

    def reply(body: dict[str, Any]) -> str:
        passages = numbered_passages(body)
        ranked = sorted(passages, key=lambda n: -score(passages[n]))
        return ", ".join(str(n) for n in ranked)

    return reply


class FakeOpenAI:
    """An OpenAI-compatible HTTP server on 127.0.0.1 running in a background thread."""

    def __init__(
        self,
        *,
        chat_reply: ChatReply = "This is a fake answer.",
        latency: float = 0.0,
        hang: bool = False,
        usage: tuple[int, int] | None = None,
        model: str = "gpt-4o-mini",
        embedding_dimensions: int = 1536,
        stream_chunk_chars: int | None = None,
        stream_delay: float = 0.0,
        stream_error_after: int | None = None,
        stream_hang_after: int | None = None,
        retry_after_ms: int = 10,
        finish_reason: str = "stop",
        stream_cut_after: int | None = None,
    ) -> None:
        self._knobs: dict[str, Any] = {
            "chat_reply": chat_reply,
            "latency": latency,
            "hang": hang,
            "usage": usage,
            "model": model,
            "embedding_dimensions": embedding_dimensions,
            "stream_chunk_chars": stream_chunk_chars,
            "stream_delay": stream_delay,
            "stream_error_after": stream_error_after,
            "stream_hang_after": stream_hang_after,
            "retry_after_ms": retry_after_ms,
            "finish_reason": finish_reason,
            "stream_cut_after": stream_cut_after,
        }
        self.stream_cut_after = stream_cut_after
        self.stream_sent = threading.Event()
        self.hanging = threading.Event()
        self.chat_reply: ChatReply = chat_reply
        self.latency = latency
        self.hang = hang
        self.usage = usage
        self.model = model
        self.embedding_dimensions = embedding_dimensions
        self.stream_chunk_chars = stream_chunk_chars
        self.stream_delay = stream_delay
        self.stream_error_after = stream_error_after
        self.stream_hang_after = stream_hang_after
        self.retry_after_ms = retry_after_ms
        self.finish_reason = finish_reason
        self.requests: list[RecordedRequest] = []
        self._failures: list[int] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.port: int = 0
        self.app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
                Route("/v1/embeddings", self._embeddings, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
            ]
        )
        self._http = ThreadedServer(self.app, name="fake-openai", ws="none")

    # ------------------------------------------------------------------ lifecycle

    @property
    def base_url(self) -> str:
        if not self.port:
            raise RuntimeError("FakeOpenAI is not started")
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FakeOpenAI:
        if self._http.running:
            return self
        self._stopping.clear()
        self._http.start()
        self.port = self._http.port
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._http.stop()

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ knobs

    def fail_next(self, status: int = 500, times: int = 1) -> None:
        """Answer the next ``times`` requests (any endpoint) with HTTP ``status``."""
        with self._lock:
            self._failures.extend([status] * times)

    def reset(self) -> None:
        """Forget recorded requests and pending failures."""
        with self._lock:
            self._failures.clear()
            self.requests.clear()

    def reset_all(self) -> None:
        """``reset``, and every knob back to what the fake was built with: a test that set one
        (and failed before setting it back) leaks nothing into the next test."""
        self.reset()
        for name, value in self._knobs.items():
            setattr(self, name, value)
        self.stream_sent.clear()
        self.hanging.clear()

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    @property
    def embedding_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith("/embeddings")]

    # ------------------------------------------------------------------ plumbing

    async def _record(self, request: Request) -> dict[str, Any]:
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else {}
        except json.JSONDecodeError:
            body = {}
        if not isinstance(body, dict):
            body = {"_body": body}
        with self._lock:
            self.requests.append(
                RecordedRequest(
                    method=request.method,
                    path=request.url.path,
                    headers={k.lower(): v for k, v in request.headers.items()},
                    json=body,
                )
            )
        return body

    async def _preamble(self, request: Request) -> Response | None:
        """Latency, hang and injected failures shared by every endpoint."""
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        if self.hang:
            self.hanging.set()
            while self.hang and not self._stopping.is_set():
                if await request.is_disconnected():
                    return Response(status_code=504)
                await asyncio.sleep(0.02)
            if self._stopping.is_set():
                return Response(status_code=504)
            # ``hang`` set back to False: the request is answered after all
        with self._lock:
            status = self._failures.pop(0) if self._failures else None
        if status is None:
            return None
        kind = {
            400: "invalid_request_error",
            401: "invalid_api_key",
            429: "rate_limit_exceeded",
        }.get(status, "server_error")
        headers = {"retry-after-ms": str(self.retry_after_ms)} if status in (429, 503) else {}
        return JSONResponse(
            {
                "error": {
                    "message": f"Fake failure {status}",
                    "type": kind,
                    "param": None,
                    "code": kind,
                }
            },
            status_code=status,
            headers=headers,
        )

    def _reply_text(self, body: dict[str, Any]) -> str:
        reply = self.chat_reply
        return reply(body) if callable(reply) else reply

    def _usage(self, body: dict[str, Any], text: str) -> dict[str, int]:
        return word_usage(body, text, self.usage)

    def _deltas(self, text: str) -> Iterator[str]:
        size = self.stream_chunk_chars
        if size:
            for i in range(0, len(text), size):
                yield text[i : i + size]
        else:
            yield from DELTA.findall(text)

    # ------------------------------------------------------------------ endpoints

    async def _models(self, request: Request) -> Response:
        return JSONResponse(
            {
                "object": "list",
                "data": [{"id": self.model, "object": "model", "created": 0, "owned_by": "fake"}],
            }
        )

    async def _chat(self, request: Request) -> Response:
        body = await self._record(request)
        early = await self._preamble(request)
        if early is not None:
            return early
        text = self._reply_text(body)
        model = str(body.get("model") or self.model)
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        usage = self._usage(body, text)
        if not body.get("stream"):
            return JSONResponse(
                completion_body(completion_id, created, model, text, self.finish_reason, usage)
            )
        options = body.get("stream_options") or {}
        include_usage = bool(isinstance(options, dict) and options.get("include_usage"))
        return StreamingResponse(
            self._sse(completion_id, created, model, text, usage, include_usage),
            media_type="text/event-stream",
            headers={"cache-control": "no-cache"},
        )

    async def _sse(
        self,
        completion_id: str,
        created: int,
        model: str,
        text: str,
        usage: dict[str, int],
        include_usage: bool,
    ) -> AsyncIterator[bytes]:
        def chunk(delta: dict[str, Any], finish: str | None) -> bytes:
            payload = chunk_body(completion_id, created, model, delta, finish, include_usage)
            return f"data: {json.dumps(payload)}\n\n".encode()

        yield chunk({"role": "assistant", "content": "", "refusal": None}, None)
        for sent, piece in enumerate(self._deltas(text)):
            if self.stream_cut_after is not None and sent >= self.stream_cut_after:
                return  # the body ends here: no finish_reason, no usage, no [DONE]
            if self.stream_error_after is not None and sent >= self.stream_error_after:
                error = {
                    "message": "Fake failure mid-stream",
                    "type": "server_error",
                    "param": None,
                    "code": "server_error",
                }
                yield f"data: {json.dumps({'error': error})}\n\n".encode()
                return
            while (
                self.stream_hang_after is not None
                and sent >= self.stream_hang_after
                and not self._stopping.is_set()
            ):
                self.stream_sent.set()
                await asyncio.sleep(0.02)
            if self.stream_delay > 0:
                await asyncio.sleep(self.stream_delay)
            yield chunk({"content": piece}, None)
        yield chunk({}, self.finish_reason)
        if include_usage:
            final = usage_chunk_body(completion_id, created, model, usage)
            yield f"data: {json.dumps(final)}\n\n".encode()
        yield b"data: [DONE]\n\n"

    async def _embeddings(self, request: Request) -> Response:
        body = await self._record(request)
        early = await self._preamble(request)
        if early is not None:
            return early
        raw_input = body.get("input")
        if isinstance(raw_input, str):
            inputs: list[str] = [raw_input]
        elif (
            isinstance(raw_input, list) and raw_input and all(isinstance(x, int) for x in raw_input)
        ):
            inputs = [" ".join(str(x) for x in raw_input)]
        elif isinstance(raw_input, list):
            inputs = [x if isinstance(x, str) else " ".join(str(t) for t in x) for x in raw_input]
        else:
            return JSONResponse(
                {
                    "error": {
                        "message": "'input' is required",
                        "type": "invalid_request_error",
                        "param": "input",
                        "code": None,
                    }
                },
                status_code=400,
            )
        dims = int(body.get("dimensions") or self.embedding_dimensions)
        as_base64 = body.get("encoding_format") == "base64"
        data: list[dict[str, Any]] = []
        for index, text in enumerate(inputs):
            vector = hash_embedding(text, dims)
            embedding: list[float] | str = (
                base64.b64encode(struct.pack(f"<{dims}f", *vector)).decode("ascii")
                if as_base64
                else vector
            )
            data.append({"object": "embedding", "index": index, "embedding": embedding})
        tokens = sum(count_words(t) for t in inputs)
        return JSONResponse(
            {
                "object": "list",
                "data": data,
                "model": str(body.get("model") or "text-embedding-3-small"),
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )


__all__ = [
    "ChatReply",
    "FakeOpenAI",
    "RecordedRequest",
    "hash_embedding",
    "numbered_passages",
    "ranking_reply",
]

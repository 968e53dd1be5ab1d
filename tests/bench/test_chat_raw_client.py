"""bench.chat_http's lean client (``--clients raw``) sends what its httpx2 client sends and reads
the same answers: the same headers and body bytes reach the server, the JSON and streamed
answers come back the same, and a connection is kept for the next request."""

from __future__ import annotations

import json
import math
from typing import Any

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from bench.chat_raw_client import RawClient, RawHTTPError
from bench.chat_servers import free_port
from bench.chat_workload import chat, chat_stream
from tests.fakes.server import served_here


def _app(seen: list[dict[str, Any]]) -> Starlette:
    async def endpoint(request: Request) -> Response:
        body = await request.body()
        seen.append(
            {
                "headers": dict(request.headers),
                "body": body,
                "port": request.client.port if request.client else None,
            }
        )
        message = json.loads(body)["message"]
        if message == "refuse":
            return JSONResponse({"error": {"code": "invalid_input"}}, status_code=422)
        answer = {"source": "rag", "answer": message[::-1], "timings_ms": {"total": 1.5}}
        if request.headers.get("accept") != "text/event-stream":
            return JSONResponse(answer)

        async def events() -> Any:
            yield 'event: meta\ndata: {"conversation_id": "c"}\n\n'
            for word in ("first ", "words"):
                yield f"event: delta\ndata: {json.dumps({'text': word})}\n\n"
            yield f"event: done\ndata: {json.dumps(answer)}\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    return Starlette(routes=[Route("/api/v1/chat", endpoint, methods=["POST"])])


async def test_the_raw_client_sends_and_reads_what_httpx2_does() -> None:
    seen: list[dict[str, Any]] = []
    raw = RawClient()
    async with served_here(_app(seen)) as (port, _), httpx2.AsyncClient() as client:
        base = f"http://127.0.0.1:{port}"
        message = "Combien coûte le plan Pro ? ✓"
        for visitor in (client, raw):
            assert await chat(visitor, base, "pk_1", message, "s-1") == (
                200,
                {"source": "rag", "answer": message[::-1], "timings_ms": {"total": 1.5}},
            )
            assert await chat(visitor, base, "pk_1", "refuse", "s-1") == (
                422,
                {"error": {"code": "invalid_input"}},
            )
        streamed = [await chat_stream(v, base, "pk_1", message, "s-2") for v in (client, raw)]
        await raw.aclose()
    by_httpx, by_raw = seen[:2] + seen[4:5], seen[2:4] + seen[5:6]
    for one, other in zip(by_httpx, by_raw, strict=True):
        assert one["body"] == other["body"]
        assert one["headers"] == other["headers"]
    for status, first_ms, done in streamed:
        assert status == 200
        assert not math.isnan(first_ms)
        assert done == {"source": "rag", "answer": message[::-1], "timings_ms": {"total": 1.5}}
    assert len({s["port"] for s in by_raw}) == 1  # one kept-alive connection for all three


async def test_a_refused_connection_is_the_raw_clients_error() -> None:
    raw = RawClient()  # counted by the bench as a failed request, as httpx2's errors are
    with pytest.raises(RawHTTPError):
        await chat(raw, f"http://127.0.0.1:{free_port()}", "pk_1", "hello", "s-1")

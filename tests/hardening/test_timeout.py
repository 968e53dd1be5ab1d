"""Requests that run too long end with 504 request_timeout, never hang or 500."""

from __future__ import annotations

import asyncio

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from api.middleware import RequestTimeoutMiddleware


async def slow(request: Request) -> JSONResponse:
    await asyncio.sleep(5)
    return JSONResponse({"late": True})


async def fast(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


async def stream(request: Request) -> StreamingResponse:
    async def body():  # type: ignore[no-untyped-def]
        yield b"first\n"
        await asyncio.sleep(5)
        yield b"never\n"

    return StreamingResponse(body())


def client(seconds: float) -> httpx.AsyncClient:
    app = Starlette(routes=[Route("/slow", slow), Route("/fast", fast), Route("/stream", stream)])
    wrapped = RequestTimeoutMiddleware(app, seconds=seconds)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=wrapped), base_url="http://t")


async def test_slow_request_is_504_and_fast_one_passes() -> None:
    async with client(0.2) as c:
        late = await c.get("/slow")
        assert late.status_code == 504
        assert late.json()["error"]["code"] == "request_timeout"
        assert (await c.get("/fast")).json() == {"ok": True}


async def test_a_started_stream_is_cut_off_not_replaced() -> None:
    async with client(0.2) as c:
        response = await c.get("/stream")
        assert response.status_code == 200
        assert response.text == "first\n"


async def test_the_app_enforces_the_setting(app_client) -> None:  # type: ignore[no-untyped-def]
    async with app_client(request_timeout_seconds=30) as c:
        assert (await c.get("/healthz")).status_code == 200

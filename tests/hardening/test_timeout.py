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
    """The real app with REQUEST_TIMEOUT_SECONDS: a route that never finishes answers 504
    ``request_timeout`` (the error shape, the request id) and a quick one still answers."""
    never = asyncio.Event()  # nobody sets it: the route would wait forever

    async def stuck() -> dict[str, bool]:
        await never.wait()
        return {"late": True}

    async def quick() -> dict[str, bool]:
        return {"ok": True}

    async with app_client(request_timeout_seconds=1.0) as c:
        c.app.add_api_route("/api/v1/_test/stuck", stuck)
        c.app.add_api_route("/api/v1/_test/quick", quick)
        async with asyncio.timeout(20):  # a guard against hanging, not a timing assertion
            late = await c.get("/api/v1/_test/stuck")
        assert late.status_code == 504
        assert late.json()["error"]["code"] == "request_timeout"
        assert late.headers["x-request-id"]
        assert (await c.get("/api/v1/_test/quick")).json() == {"ok": True}
    assert not never.is_set()

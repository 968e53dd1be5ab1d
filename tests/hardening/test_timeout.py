"""Requests that run too long end with 504 request_timeout, never hang or 500."""

from __future__ import annotations

import asyncio

import httpx
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from api.deps import SessionDep, WorkspaceDep
from api.middleware import RequestTimeoutMiddleware
from tests.conftest import Owner
from tests.hardening.conftest import ClientFactory
from workspaces.repository import update_workspace


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


async def download(request: Request) -> StreamingResponse:
    """A long download that keeps sending: six parts, 0.3 s apart."""

    async def body():  # type: ignore[no-untyped-def]
        for n in range(6):
            yield f"part {n}\n".encode()
            await asyncio.sleep(0.3)

    return StreamingResponse(body())


def client(seconds: float) -> httpx.AsyncClient:
    routes = [Route("/slow", slow), Route("/fast", fast), Route("/stream", stream)]
    app = Starlette(routes=[*routes, Route("/download", download)])
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


async def test_a_stream_that_keeps_sending_runs_past_the_limit() -> None:
    """The limit of a started response is on stalls: a download taking 1.8 s in parts 0.3 s
    apart is whole under a 1 s limit (it was cut after the first second: a truncated export)."""
    async with client(1.0) as c:
        response = await c.get("/download")
        assert response.status_code == 200
        assert response.text == "".join(f"part {n}\n" for n in range(6))


async def test_the_app_ends_a_request_past_request_timeout_seconds_and_rolls_it_back(
    app_client: ClientFactory, client: httpx.AsyncClient, owner: Owner
) -> None:
    """The whole app built with REQUEST_TIMEOUT_SECONDS=0.5 and a route (added for the test)
    that renames the workspace in its unit of work and then waits far longer: the caller gets the
    504, and the rename is rolled back."""
    async with app_client(request_timeout_seconds=0.5) as c:
        app: FastAPI = c.app  # type: ignore[attr-defined]

        @app.post("/api/v1/workspaces/{workspace_id}/_test/rename-then-hang")
        async def rename_then_hang(access: WorkspaceDep, session: SessionDep) -> None:
            await update_workspace(session, access.workspace.id, {"name": "Renamed by a hang"})
            await asyncio.sleep(30)  # without the timeout: a 200 (and this test fails) in 30 s

        hung = await c.post(owner.url("/_test/rename-then-hang"), headers=owner.headers)
    assert hung.status_code == 504
    assert hung.json()["error"]["code"] == "request_timeout"
    assert hung.json()["error"]["message"] == "The request took longer than 0.5 s"
    workspace = await client.get(owner.url(), headers=owner.headers)
    assert workspace.json()["name"] == owner.workspace["name"]

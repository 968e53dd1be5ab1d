from __future__ import annotations

import re

import httpx
from redis.asyncio import Redis
from starlette.types import Message, Receive, Scope, Send

from core.db import Database
from core.embedded import EmbeddedPostgres
from tests.conftest import APP_ROLE, Owner, client_for, make_runtime, make_settings


async def test_health_and_ready(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "redis": "ok"}


async def test_ready_while_every_pooled_connection_is_busy(
    pg: EmbeddedPostgres, redis_client: Redis
) -> None:
    """/readyz pinged on a connection of the request pool: with every one busy (long chat turns,
    an export) it waited for the pool, not the database, and answered 503, on every replica
    under the same load at once (the balancer took them all out)."""
    db = Database.from_url(pg.app_url(APP_ROLE), pool_size=1, max_overflow=0)
    settings = make_settings(db_pool_size=1, db_max_overflow=0)
    try:
        async with (
            make_runtime(settings, db, redis_client) as runtime,
            client_for(runtime) as client,
        ):
            assert (await client.get("/readyz")).status_code == 200
            async with db.engine.connect() as busy:  # the pool's only connection
                await busy.exec_driver_sql("SELECT 1")
                ready = await client.get("/readyz")
            assert ready.status_code == 200, ready.json()
            assert ready.json()["checks"]["database"] == "ok"
    finally:
        await db.dispose()


async def test_body_over_limit_is_413(client: httpx.AsyncClient, owner: Owner, settings) -> None:  # type: ignore[no-untyped-def]
    big = "x" * (settings.max_body_bytes + 10)
    response = await client.post(
        owner.url("/leads"), json={"email": "big@example.com", "notes": big}, headers=owner.headers
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"

    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(20):
            yield b"x" * 100_000

    streamed = await client.post(
        owner.url("/leads"),
        content=chunks(),
        headers=owner.headers | {"Content-Type": "application/json"},
    )
    assert streamed.status_code == 413
    assert (await client.get(owner.url("/leads"), headers=owner.headers)).json()["total"] == 0


async def test_request_id_is_echoed_or_made(client: httpx.AsyncClient) -> None:
    echoed = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    made = await client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert made.headers["x-request-id"] != "bad id with spaces"
    assert len(made.headers["x-request-id"]) == 32


async def test_a_request_id_with_a_line_break_or_out_of_bounds_is_replaced() -> None:
    """A client's X-Request-ID is echoed and written into every log line and audit entry of
    its request: only a short id of safe characters is kept (what a trusted proxy sends), any
    other replaced by a generated one. The check's ``$`` also matched before a final line
    break, so ``abc\n`` was echoed and logged with its line break (an HTTP client refuses
    to send one; a raw ASGI call shows what the app keeps)."""
    from api.middleware import RequestIdMiddleware

    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["state"]["request_id"])

    async def kept(sent: bytes) -> str:
        scope: Scope = {"type": "http", "headers": [(b"x-request-id", sent)]}
        await RequestIdMiddleware(app)(scope, _nothing_received, _nothing_sent)
        return seen[-1]

    for sent in (b"abc\n", b"abc\r\n", b"a" * 129, b"<b>x</b>", b"x\x00y", b"caf\xc3\xa9", b""):
        assert re.fullmatch(r"[0-9a-f]{32}", await kept(sent)), sent
    assert await kept(b"edge-7f3a.91:req_2026") == "edge-7f3a.91:req_2026"


async def _nothing_received() -> Message:
    raise AssertionError("the app reads no body here")


async def _nothing_sent(message: Message) -> None:
    raise AssertionError("the app answers nothing here")


async def test_unknown_route_and_method_use_the_error_shape(client: httpx.AsyncClient) -> None:
    missing = await client.get("/api/v1/nope")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    wrong = await client.put("/healthz")
    assert wrong.status_code == 405
    assert wrong.json()["error"]["code"] == "method_not_allowed"


def test_the_visitors_endpoint_is_the_one_route_for_its_path() -> None:
    """POST /api/v1/chat is matched by its own router, registered before the other API
    routers so the busiest route is found first; that is safe only while no other route's path
    matches it (a later ``/api/v1/{name}`` route would be shadowed: this fails first)."""
    from starlette.routing import Match

    from api.app import create_app
    from tests.conftest import make_settings

    app = create_app(make_settings())

    def matching(path: str, method: str) -> list[tuple[int, Match]]:
        scope = {"type": "http", "path": path, "method": method, "root_path": "", "app": app}
        found = [(i, route.matches(scope)[0]) for i, route in enumerate(app.router.routes)]
        return [(i, match) for i, match in found if match is not Match.NONE]

    chat = matching("/api/v1/chat", "POST")
    assert [match for _, match in chat] == [Match.FULL]
    auth = matching("/api/v1/auth/login", "POST")
    assert auth
    assert auth[0][0] > chat[0][0]  # the visitors' router comes before the others


async def test_malformed_json_is_one_status_and_one_code_on_every_route(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """The same mistake got 422 validation_error with the position as a field name ("9"),
    400 bad_request (a body not in UTF-8), or 422 with no details (the documents route, which
    reads its JSON itself): now 422 invalid_json with where reading stopped, on every route."""
    lead = await client.post(
        owner.url("/leads"), json={"email": "json@example.com"}, headers=owner.headers
    )
    document = await client.post(
        owner.url("/documents"), json={"title": "T", "text": "Some text."}, headers=owner.headers
    )
    routes = [
        ("POST", owner.url("/leads")),
        ("PATCH", owner.url(f"/leads/{lead.json()['id']}")),
        ("POST", owner.url("/faqs")),
        ("POST", owner.url("/documents")),
        ("PUT", owner.url(f"/documents/{document.json()['id']}")),
        ("POST", "/api/v1/auth/login"),
        ("POST", "/api/v1/chat"),
    ]
    bodies = [
        (b'{"email":', 9, "Expecting value"),
        ('{"email": "café@example.com"}'.encode("latin-1"), 14, "not UTF-8 text"),
        (b"email=x", 0, "Expecting value"),
    ]
    headers = owner.headers | {
        "Content-Type": "application/json",
        "X-Widget-Key": owner.workspace["public_key"],
    }
    for method, url in routes:
        for body, position, reason in bodies:
            response = await client.request(method, url, content=body, headers=headers)
            assert response.status_code == 422, (method, url, body, response.text)
            error = response.json()["error"]
            assert error["code"] == "invalid_json", (method, url, body, error)
            detail = {"field": None, "position": position, "message": reason}
            assert error["details"] == [detail], (method, url, body)
    assert (await client.get(owner.url("/faqs"), headers=owner.headers)).json()["total"] == 0


async def test_head_is_answered_wherever_get_is_without_a_body(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """HEAD /healthz, /readyz, /widget.js and the API's lists answered 405: uptime monitors
    and balancers that probe with HEAD saw the service down. Now the GET's status and headers,
    and no body."""
    lead = {"email": "head@example.com"}
    await client.post(owner.url("/leads"), json=lead, headers=owner.headers)
    for path, headers in [
        ("/healthz", {}),
        ("/readyz", {}),
        ("/widget.js", {}),
        (owner.url("/leads"), owner.headers),
        (owner.url("/leads/export"), owner.headers),
        ("/api/v1/me", owner.headers),
    ]:
        get = await client.get(path, headers=headers)
        head = await client.head(path, headers=headers)
        assert head.status_code == get.status_code == 200, (path, head.status_code)
        assert head.content == b"", path
        assert head.headers["content-type"] == get.headers["content-type"], path
        if "content-length" in get.headers:
            assert head.headers["content-length"] == get.headers["content-length"], path
    # Still authenticated: HEAD is GET without the body, not a way around the checks.
    refused = await client.head(owner.url("/leads"))
    assert (refused.status_code, refused.content) == (401, b"")


async def test_a_405_names_every_method_the_path_serves(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """DELETE on /leads said Allow: POST (the first route declared for the path), though GET
    is served there too."""
    wrong = await client.delete(owner.url("/leads"), headers=owner.headers)
    assert wrong.status_code == 405
    assert wrong.json()["error"]["code"] == "method_not_allowed"
    assert wrong.headers["allow"] == "GET, HEAD, POST"
    health = await client.put("/healthz")
    assert (health.status_code, health.headers["allow"]) == (405, "GET, HEAD")
    lead = await client.post(
        owner.url("/leads"), json={"email": "allow@example.com"}, headers=owner.headers
    )
    one = await client.put(owner.url(f"/leads/{lead.json()['id']}"), headers=owner.headers)
    assert (one.status_code, one.headers["allow"]) == (405, "DELETE, GET, HEAD, PATCH")

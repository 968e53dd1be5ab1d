"""Every route of the API walked by an attacker: each operation in the OpenAPI document is
classified here, so a new route fails ``test_every_operation_is_classified`` until it is, and
then ``test_each_intruder_is_refused_everywhere`` sends it every intruder's request.

The intruders, against workspace A: the owner of another workspace (B) with A's ids, B's API
key, A's public widget key, A's revoked key, a member removed from A (their own token) and the
key an admin of A made before leaving it (``POST .../leave``) and their own token, and nobody
at all. Then A's owner with B's ids under A's path (documents, FAQs, sources, leads,
conversations, exports, invitations, keys, members) and in bodies (a message to rate,
questions to resolve, a conversation to continue, a visitor to erase). Nothing of B's may be
read or change.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from api.runtime import Runtime
from core.config import Settings
from core.db import Database
from tests.conftest import (
    Owner,
    RuntimeFactory,
    client_for,
    join,
    login,
    make_runtime,
    signup,
)
from tests.fakes.razorpay_server import FakeRazorpay
from tests.workspaces.conftest import billing_on

API = "/api/v1"
WS = f"{API}/workspaces/{{workspace_id}}"

# What a request needs to get past body validation: the answer must be about who asks, not
# about a malformed body. ``ids`` are the target's (the other workspace's) ids.
Body = Callable[[dict[str, str]], Any]


def _fixed(value: Any) -> Body:
    return lambda ids: value


NO_BODY: Body = _fixed(None)

# (method, path) of every operation that acts on one workspace: its body.
WORKSPACE_OPERATIONS: dict[tuple[str, str], Body] = {
    ("GET", WS): NO_BODY,
    ("PATCH", WS): _fixed({"name": "pwned"}),
    ("DELETE", WS): lambda ids: {"confirm": ids["slug"]},
    ("POST", f"{WS}/restore"): NO_BODY,
    ("GET", f"{WS}/webhook"): NO_BODY,
    ("POST", f"{WS}/webhook/rotate-secret"): NO_BODY,
    ("POST", f"{WS}/webhook/confirm"): NO_BODY,
    ("GET", f"{WS}/webhook/deliveries"): NO_BODY,
    ("POST", f"{WS}/members"): _fixed({"email": "walker@example.com", "role": "owner"}),
    ("GET", f"{WS}/members"): NO_BODY,
    ("PATCH", f"{WS}/members/{{user_id}}"): _fixed({"role": "member"}),
    ("DELETE", f"{WS}/members/{{user_id}}"): NO_BODY,
    ("POST", f"{WS}/leave"): NO_BODY,
    ("GET", f"{WS}/invitations"): NO_BODY,
    ("DELETE", f"{WS}/invitations/{{invitation_id}}"): NO_BODY,
    ("POST", f"{WS}/api-keys"): _fixed({"name": "walker"}),
    ("GET", f"{WS}/api-keys"): NO_BODY,
    ("DELETE", f"{WS}/api-keys/{{key_id}}"): NO_BODY,
    ("GET", f"{WS}/usage"): NO_BODY,
    ("GET", f"{WS}/audit"): NO_BODY,
    ("POST", f"{WS}/leads"): _fixed({"email": "planted@example.com"}),
    ("GET", f"{WS}/leads"): NO_BODY,
    ("GET", f"{WS}/leads/export"): NO_BODY,
    ("GET", f"{WS}/leads/{{lead_id}}"): NO_BODY,
    ("PATCH", f"{WS}/leads/{{lead_id}}"): _fixed({"status": "lost"}),
    ("DELETE", f"{WS}/leads/{{lead_id}}"): NO_BODY,
    ("GET", f"{WS}/leads/{{lead_id}}/submissions"): NO_BODY,
    ("POST", f"{WS}/documents"): _fixed({"title": "Planted", "text": "Planted text."}),
    ("GET", f"{WS}/documents"): NO_BODY,
    ("GET", f"{WS}/documents/{{document_id}}"): NO_BODY,
    ("PUT", f"{WS}/documents/{{document_id}}"): _fixed({"text": "Replaced text."}),
    ("DELETE", f"{WS}/documents/{{document_id}}"): NO_BODY,
    ("POST", f"{WS}/documents/{{document_id}}/retry"): NO_BODY,
    ("GET", f"{WS}/documents/{{document_id}}/chunks"): NO_BODY,
    ("POST", f"{WS}/search"): _fixed({"query": "opening hours"}),
    ("GET", f"{WS}/sources"): NO_BODY,
    ("GET", f"{WS}/sources/{{source_id}}"): NO_BODY,
    ("DELETE", f"{WS}/sources/{{source_id}}"): NO_BODY,
    ("PUT", f"{WS}/sources/{{source_id}}/schedule"): _fixed({"schedule": "never"}),
    ("POST", f"{WS}/sources/{{source_id}}/sync"): NO_BODY,
    ("GET", f"{WS}/sources/{{source_id}}/syncs"): NO_BODY,
    ("GET", f"{WS}/faqs"): NO_BODY,
    ("POST", f"{WS}/faqs"): _fixed({"question": "Planted?", "answer": "Yes."}),
    ("GET", f"{WS}/faqs/{{faq_id}}"): NO_BODY,
    ("PATCH", f"{WS}/faqs/{{faq_id}}"): _fixed({"answer": "Changed."}),
    ("DELETE", f"{WS}/faqs/{{faq_id}}"): NO_BODY,
    ("POST", f"{WS}/chat"): lambda ids: {
        "message": "What did the visitor ask?",
        "conversation_id": ids["conversation_id"],
    },
    ("GET", f"{WS}/chat/stats"): NO_BODY,
    ("GET", f"{WS}/conversations"): NO_BODY,
    ("GET", f"{WS}/conversations/export"): NO_BODY,
    ("GET", f"{WS}/unanswered/export"): NO_BODY,
    ("GET", f"{WS}/conversations/{{conversation_id}}"): NO_BODY,
    ("PATCH", f"{WS}/conversations/{{conversation_id}}"): _fixed({"status": "closed"}),
    ("GET", f"{WS}/unanswered"): NO_BODY,
    ("POST", f"{WS}/unanswered/resolve"): lambda ids: {"ids": [ids["message_id"]]},
    ("POST", f"{WS}/feedback"): lambda ids: {"message_id": ids["message_id"], "rating": "down"},
    ("GET", f"{WS}/analytics"): NO_BODY,
    ("GET", f"{WS}/widget"): NO_BODY,
    ("PATCH", f"{WS}/widget"): _fixed({"bot_name": "Pwned"}),
    ("POST", f"{WS}/widget/rotate-key"): NO_BODY,
    ("POST", f"{WS}/billing/orders"): _fixed({"plan": "pro", "period": "monthly"}),
    ("POST", f"{WS}/billing/verify"): _fixed(
        {
            "razorpay_order_id": "order_Walk00000001",
            "razorpay_payment_id": "pay_Walk000000001",
            "razorpay_signature": "0" * 64,
        }
    ),
    ("GET", f"{WS}/billing/subscription"): NO_BODY,
    ("POST", f"{WS}/billing/subscription/cancel"): NO_BODY,
    ("POST", f"{WS}/billing/subscription/resume"): NO_BODY,
    ("GET", f"{WS}/billing/payments"): NO_BODY,
    ("POST", f"{WS}/exports"): NO_BODY,
    ("GET", f"{WS}/exports"): NO_BODY,
    ("GET", f"{WS}/exports/{{export_id}}"): NO_BODY,
    ("GET", f"{WS}/exports/{{export_id}}/download"): NO_BODY,
    ("POST", f"{WS}/erasures"): lambda ids: {"session_id": ids["visitor_session"]},
    ("GET", f"{WS}/retention"): NO_BODY,
    ("PUT", f"{WS}/retention"): _fixed({"conversation_retention_days": 7}),
    ("GET", f"{WS}/notifications/preferences"): NO_BODY,
    ("PUT", f"{WS}/notifications/preferences"): _fixed({"preferences": {"lead.created": "off"}}),
}

# Operations on no workspace of the path, and what guards them instead.
OTHER_OPERATIONS: dict[tuple[str, str], str] = {
    ("GET", "/healthz"): "public: says the process is up",
    ("GET", "/readyz"): "public: says the process can serve",
    ("POST", f"{API}/chat"): "widget key: the key's workspace only (tests/rag)",
    ("POST", f"{API}/widget/feedback"): "widget key and the visitor's session (below)",
    ("GET", f"{API}/widget/config"): "widget key: the key's workspace's public settings",
    ("POST", f"{API}/widget/leads"): "widget key; a conversation linked only by its session",
    ("POST", f"{API}/auth/signup"): "public",
    ("POST", f"{API}/auth/verify-email"): "the mailed token and the account's password or session",
    ("POST", f"{API}/auth/verify-email/resend"): "the caller's own account",
    ("POST", f"{API}/auth/password-reset"): "public, the same answer for every address",
    ("POST", f"{API}/auth/password-reset/confirm"): "the mailed token",
    ("POST", f"{API}/auth/password"): "the caller's own account and password",
    ("POST", f"{API}/invitations/accept"): "the mailed token, as its address",
    ("POST", f"{API}/auth/login"): "public",
    ("POST", f"{API}/auth/refresh"): "the refresh token",
    ("POST", f"{API}/auth/logout"): "the caller's own session",
    ("GET", f"{API}/auth/sessions"): "the caller's own sessions",
    ("DELETE", f"{API}/auth/sessions/{{session_id}}"): "the caller's own sessions (below)",
    ("GET", f"{API}/me"): "the caller's own account",
    ("PATCH", f"{API}/me"): "the caller's own account (a user's token; an API key is 401)",
    ("DELETE", f"{API}/me"): "the caller's own account and password",
    ("POST", f"{API}/workspaces"): "a new workspace of the caller's",
    ("GET", f"{API}/billing/plans"): "public: the catalog",
    ("POST", f"{API}/billing/webhooks/razorpay"): "Razorpay's signature (tests/billing)",
    ("POST", f"{API}/notifications/unsubscribe"): "the signed link (tests of notifications)",
}

DENIED = {"not_found", "member_not_found", "invitation_not_found", "order_not_found"}


@pytest.fixture
def settings(razorpay: FakeRazorpay) -> Settings:
    """Billing on (against the local fake: its routes answer as in production, not 503
    ``billing_disabled`` before anything else); a plan with room for every member; web sources
    on a closed loopback port (their fetches fail at once, offline)."""
    return billing_on(razorpay, "whsec_route_walk_0001")


def _operations(client: httpx.AsyncClient) -> set[tuple[str, str]]:
    schema = client.app.openapi()  # type: ignore[attr-defined]
    return {
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        for method in operations
        if method in {"get", "post", "put", "patch", "delete"}
    }


async def test_every_operation_is_classified(client: httpx.AsyncClient) -> None:
    """A route added to the API must be listed here: with its body among the workspace
    operations (the walk below then sends it every intruder), or among the others with what
    guards it."""
    operations = _operations(client)
    on_workspace = {op for op in operations if "{workspace_id}" in op[1]}
    assert sorted(on_workspace ^ set(WORKSPACE_OPERATIONS)) == []
    assert sorted((operations - on_workspace) ^ set(OTHER_OPERATIONS)) == []


@dataclass
class World:
    """Workspace A (its owner and intruders' credentials) and the other workspace B with one
    of everything."""

    a: Owner
    b: Owner
    a_ids: dict[str, str]
    b_ids: dict[str, str]
    intruders: dict[str, dict[str, str]]


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code < 300, response.text
    return response.json() if response.content else {}  # type: ignore[no-any-return]


async def _one_of_everything(client: httpx.AsyncClient, who: Owner) -> dict[str, str]:
    """A document, an FAQ, a lead, a visitor's conversation with an answer, a web source, an
    export, an invitation and an API key of ``who``'s workspace: their ids."""
    h = who.headers
    document = await _ok(
        await client.post(
            who.url("/documents"),
            json={"title": "Secret", "text": f"The safe code is {uuid.uuid4()}."},
            headers=h,
        )
    )
    faq = await _ok(
        await client.post(
            who.url("/faqs"), json={"question": "Secret question?", "answer": "Yes."}, headers=h
        )
    )
    lead = await _ok(
        await client.post(who.url("/leads"), json={"email": "secret@example.com"}, headers=h)
    )
    visitor = f"visitor-{uuid.uuid4().hex[:12]}"
    chat = await _ok(
        await client.post(
            f"{API}/chat",
            json={"message": "What is the secret plan?", "session_id": visitor},
            headers={"X-Widget-Key": who.workspace["public_key"]},
        )
    )
    url = f"http://127.0.0.1:9/page-{uuid.uuid4().hex[:12]}"
    await _ok(await client.post(who.url("/documents"), json={"url": url}, headers=h))
    sources = await _ok(await client.get(who.url("/sources?limit=100"), headers=h))
    [source] = [s for s in sources["items"] if s["url"] == url]
    export = await _ok(await client.post(who.url("/exports"), headers=h))
    invitation = await _ok(
        await client.post(
            who.url("/members"), json={"email": f"x-{uuid.uuid4().hex[:8]}@example.com"}, headers=h
        )
    )
    key = await _ok(await client.post(who.url("/api-keys"), json={"name": "theirs"}, headers=h))
    return {
        "workspace_id": who.workspace_id,
        "slug": who.workspace["slug"],
        "user_id": who.user_id,
        "document_id": document["id"],
        "faq_id": faq["id"],
        "lead_id": lead["id"],
        "conversation_id": chat["conversation_id"],
        "message_id": chat["message_id"],
        "visitor_session": visitor,
        "source_id": source["id"],
        "export_id": export["id"],
        "invitation_id": invitation["id"],
        "key_id": key["id"],
        "key": key["key"],
    }


async def _world(client: httpx.AsyncClient) -> World:
    a = await signup(client, "Acme")
    b = await signup(client, "Globex")
    a_ids = await _one_of_everything(client, a)
    b_ids = await _one_of_everything(client, b)
    revoked = await _ok(
        await client.post(a.url("/api-keys"), json={"name": "old"}, headers=a.headers)
    )
    await _ok(await client.delete(a.url(f"/api-keys/{revoked['id']}"), headers=a.headers))
    removed = await signup(client, "Removed")
    await join(client, a, removed, "admin")
    await _ok(await client.delete(a.url(f"/members/{removed.user_id}"), headers=a.headers))
    leaver = await signup(client, "Leaver")
    await join(client, a, leaver, "admin")
    left_key = await _ok(
        await client.post(a.url("/api-keys"), json={"name": "leaver's"}, headers=leaver.headers)
    )
    await _ok(await client.post(a.url("/leave"), headers=leaver.headers))
    return World(
        a=a,
        b=b,
        a_ids=a_ids,
        b_ids=b_ids,
        intruders={
            "other workspace's owner": b.headers,
            "other workspace's key": _bearer(b_ids["key"]),
            "widget key": {"X-Widget-Key": a.workspace["public_key"]},
            "widget key as bearer": _bearer(a.workspace["public_key"]),
            "revoked key": _bearer(revoked["key"]),
            "removed member": removed.headers,
            "key of a member who left": _bearer(left_key["key"]),
            "left member": leaver.headers,
            "nobody": {},
        },
    )


INTRUDERS = (
    "other workspace's owner",
    "other workspace's key",
    "widget key",
    "widget key as bearer",
    "revoked key",
    "removed member",
    "key of a member who left",
    "left member",
    "nobody",
)
SIGNED_IN = {"other workspace's owner", "other workspace's key", "removed member", "left member"}


def _url(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"{(\w+)}", lambda m: ids[m.group(1)], path)


async def _b_unchanged(client: httpx.AsyncClient, world: World) -> None:
    b, ids = world.b, world.b_ids
    got = await _ok(await client.get(b.url(""), headers=b.headers))
    assert (got["name"], got["public_key"]) == ("Globex", b.workspace["public_key"])
    for path in (
        f"/documents/{ids['document_id']}",
        f"/faqs/{ids['faq_id']}",
        f"/sources/{ids['source_id']}",
        f"/exports/{ids['export_id']}",
    ):
        await _ok(await client.get(b.url(path), headers=b.headers))
    lead = await _ok(await client.get(b.url(f"/leads/{ids['lead_id']}"), headers=b.headers))
    assert lead["status"] == "new"
    transcript = await _ok(
        await client.get(b.url(f"/conversations/{ids['conversation_id']}"), headers=b.headers)
    )
    assert transcript["conversation"]["status"] == "open"
    assert len(transcript["messages"]) == 2, transcript
    keys = await _ok(await client.get(b.url("/api-keys"), headers=b.headers))
    assert [k["id"] for k in keys] == [ids["key_id"]]
    pending = await _ok(await client.get(b.url("/invitations"), headers=b.headers))
    assert [i["id"] for i in pending] == [ids["invitation_id"]]
    members = await _ok(await client.get(b.url("/members"), headers=b.headers))
    assert [m["user_id"] for m in members] == [b.user_id]
    feedback = await _ok(await client.get(b.url("/chat/stats"), headers=b.headers))
    assert sum(feedback["feedback"].values()) == 0


@dataclass
class Walk:
    runtime: Runtime
    world: World


@pytest.fixture(scope="module")
async def walk(razorpay: FakeRazorpay, db: Database, redis_client: Redis) -> AsyncIterator[Walk]:
    """One world (four sign-ups, one of everything twice: most of a walk's time) for every
    intruder's walk, over a runtime of this module's settings. A walk that changed anything
    in it has failed already: each request of it must be refused."""
    settings = billing_on(razorpay, "whsec_route_walk_0001")
    async with make_runtime(settings, db, redis_client) as runtime:
        async with client_for(runtime) as client:
            world = await _world(client)
        yield Walk(runtime=runtime, world=world)
        await runtime.jobs.drain()


@pytest.mark.parametrize("intruder", INTRUDERS)
async def test_each_intruder_is_refused_everywhere(intruder: str, walk: Walk) -> None:
    """Every workspace operation on A, as this intruder: 404 for a signed-in caller of no
    standing in A (the workspace is not theirs to know of), 401 for a credential that is no
    credential (a widget key, a revoked key, a departed member's key, none)."""
    world = walk.world
    async with client_for(walk.runtime) as client:  # an address of its own, as before
        await _walk(client, world, intruder)
    await walk.runtime.jobs.drain()


async def _walk(client: httpx.AsyncClient, world: World, intruder: str) -> None:
    headers = world.intruders[intruder]
    expected = 404 if intruder in SIGNED_IN else 401
    answered = []
    for (method, path), body in sorted(WORKSPACE_OPERATIONS.items()):
        url = _url(path, world.a_ids)
        response = await client.request(method, url, json=body(world.a_ids), headers=headers)
        where = f"{intruder}: {method} {path}"
        assert response.status_code == expected, f"{where}: {response.text}"
        assert world.a_ids["document_id"] not in response.text, where
        answered.append(where)
    assert len(answered) == len(WORKSPACE_OPERATIONS)
    # A is as it was: the intruder's requests changed nothing.
    got = await _ok(await client.get(world.a.url(""), headers=world.a.headers))
    assert got["name"] == "Acme"


async def test_the_other_workspaces_ids_under_ones_own_path(
    client: httpx.AsyncClient, jobs: Any
) -> None:
    """A's owner, in A, naming B's objects in the path or the body: 404, and B unchanged."""
    world = await _world(client)
    a, b_ids = world.a, world.b_ids
    for (method, path), body in sorted(WORKSPACE_OPERATIONS.items()):
        if path == WS:
            continue  # B's slug confirms no deletion of A (and B is no object of A's path)
        names = set(re.findall(r"{(\w+)}", path)) - {"workspace_id"}
        uses_b = names or body(b_ids) != body(world.a_ids)
        if not uses_b:
            continue
        url = _url(path, {**b_ids, "workspace_id": a.workspace_id})
        response = await client.request(method, url, json=body(b_ids), headers=a.headers)
        where = f"{method} {path}"
        if path.endswith("/erasures"):
            # Nobody of A's with that session: nothing erased (B's visitor is B's).
            assert response.status_code == 200, f"{where}: {response.text}"
            assert not any(response.json()["erased"].values()), where
            continue
        if path.endswith("/unanswered/resolve"):
            assert response.status_code == 200, f"{where}: {response.text}"
            assert response.json()["resolved"] == 0, where
            continue
        assert response.status_code == 404, f"{where}: {response.text}"
        assert response.json()["error"]["code"] in DENIED, where
        assert "secret" not in response.text.lower(), where
    # The sessions of another user are not the caller's to end.
    b_session = (await login(client, world.b.email, world.b.password))["session_id"]
    ended = await client.delete(f"{API}/auth/sessions/{b_session}", headers=a.headers)
    assert ended.status_code == 404, ended.text
    # A visitor's rating through A's widget key, of B's answer, with B's visitor's session.
    rated = await client.post(
        f"{API}/widget/feedback",
        json={
            "message_id": b_ids["message_id"],
            "rating": "down",
            "session_id": b_ids["visitor_session"],
        },
        headers={"X-Widget-Key": a.workspace["public_key"]},
    )
    assert rated.status_code == 404, rated.text
    # Continuing B's conversation through A's widget key.
    continued = await client.post(
        f"{API}/chat",
        json={
            "message": "And what else?",
            "session_id": b_ids["visitor_session"],
            "conversation_id": b_ids["conversation_id"],
        },
        headers={"X-Widget-Key": a.workspace["public_key"]},
    )
    assert continued.status_code == 404, continued.text
    await _b_unchanged(client, world)
    await jobs.drain()


async def test_billing_switched_off_asks_who_is_calling_first(
    runtime_factory: RuntimeFactory,
) -> None:
    """Without Razorpay keys the billing routes answered 503 ``billing_disabled`` to anyone, any
    workspace id, no credentials at all, before asking who was calling. Now an intruder gets
    401 / 404 as on every other route; the workspace's owner still gets the 503."""
    async with runtime_factory() as runtime, client_for(runtime) as client:
        a = await signup(client, "Acme")
        b = await signup(client, "Globex")
        billing = [(m, p) for m, p in WORKSPACE_OPERATIONS if "/billing/" in p]
        assert len(billing) == 6
        for method, path in billing:
            body = WORKSPACE_OPERATIONS[(method, path)]({})
            url = _url(path, {"workspace_id": a.workspace_id})
            for headers, status in (({}, 401), (b.headers, 404), (a.headers, 503)):
                response = await client.request(method, url, json=body, headers=headers)
                assert response.status_code == status, (method, path, status, response.text)

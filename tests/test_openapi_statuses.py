"""Every status the API answers is one its operation lists in /openapi.json.

A recorder on the client notes each answer (operation, method, status) while the tests drive the
API: the cases that were missing (a duplicate's 200 next to a 201 or 202, a 202 next to a PUT's
200, a 409 on a write without a body, a 401 for wrong credentials, the webhook's 400), and a walk
over every operation with and without credentials, an empty JSON body and unknown ids. A status
an operation does not list made a generated client treat a real answer as unexpected."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from tests.conftest import Owner, RuntimeFactory, client_for, signup
from tests.lifecycle.held_builds import builds_held

Answer = tuple[str, str, int]  # (the operation's path, method, status)
# Operations the walk leaves out: they end the owner's session (run last, on their own).
_SESSION_ENDING = {("/api/v1/auth/logout", "post")}


def _templates(spec: dict[str, Any]) -> list[tuple[re.Pattern[str], str]]:
    """The spec's paths as patterns, literal segments first (``leads/export`` before
    ``leads/{lead_id}``), as the router matches them."""
    paths = sorted(spec["paths"], key=lambda p: [s.startswith("{") for s in p.split("/")])
    return [(re.compile(re.sub(r"\{[^}]+\}", "[^/]+", p) + "$"), p) for p in paths]


@contextmanager
def recording(client: httpx.AsyncClient, spec: dict[str, Any]) -> Iterator[list[Answer]]:
    """The answers ``client`` gets inside the block, by operation."""
    templates = _templates(spec)
    answers: list[Answer] = []

    async def note(response: httpx.Response) -> None:
        path = response.request.url.path
        for pattern, template in templates:
            if pattern.match(path):
                method = response.request.method.lower()
                answers.append(
                    (template, "get" if method == "head" else method, response.status_code)
                )
                return

    client.event_hooks["response"].append(note)
    try:
        yield answers
    finally:
        client.event_hooks["response"].remove(note)


def unlisted(spec: dict[str, Any], answers: list[Answer]) -> list[Answer]:
    """The answers whose status the operation does not list (a method the path does not serve,
    405, is no operation's)."""
    return sorted(
        {
            (path, method, status)
            for path, method, status in answers
            if method in spec["paths"][path]
            and str(status) not in spec["paths"][path][method]["responses"]
        }
    )


async def test_answers_the_review_found_unlisted_are_listed(
    client: httpx.AsyncClient,
    owner: Owner,
    runtime_factory: RuntimeFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spec = (await client.get("/openapi.json")).json()
    h = owner.headers
    with recording(client, spec) as answers:
        body = {"title": f"Hours {uuid.uuid4().hex}", "text": "We open at nine."}
        created = await client.post(owner.url("/documents"), json=body, headers=h)
        assert created.status_code == 202, created.text
        duplicate = await client.post(owner.url("/documents"), json=body, headers=h)
        assert duplicate.status_code == 200, duplicate.text
        document = owner.url(f"/documents/{created.json()['id']}")
        replaced = await client.put(document, json={"text": "We open at ten."}, headers=h)
        assert replaced.status_code == 202, replaced.text
        lead = {"email": f"dup-{uuid.uuid4().hex[:8]}@example.com"}
        assert (await client.post(owner.url("/leads"), json=lead, headers=h)).status_code == 201
        assert (await client.post(owner.url("/leads"), json=lead, headers=h)).status_code == 200
        with builds_held(monkeypatch):  # still building when the next request looks
            assert (await client.post(owner.url("/exports"), headers=h)).status_code == 202
            again = await client.post(owner.url("/exports"), headers=h)
        assert again.json()["error"]["code"] == "export_in_progress", again.text
        restore = await client.post(owner.url("/restore"), headers=h)
        assert restore.json()["error"]["code"] == "not_deleted", restore.text
        wrong = {"email": owner.email, "password": "not the password at all"}
        login = await client.post("/api/v1/auth/login", json=wrong)
        assert login.json()["error"]["code"] == "invalid_credentials", login.text
        refresh = await client.post("/api/v1/auth/refresh", json={"refresh_token": "nope"})
        assert refresh.json()["error"]["code"] == "invalid_refresh_token", refresh.text
    assert unlisted(spec, answers) == []

    secret = "whsec_" + uuid.uuid4().hex
    async with (
        runtime_factory(razorpay_webhook_secret=[secret]) as rt,
        client_for(rt) as billing,
    ):
        with recording(billing, spec) as answers:
            forged = await billing.post(
                "/api/v1/billing/webhooks/razorpay",
                content=b'{"event": "payment.captured"}',
                headers={"X-Razorpay-Signature": "0" * 64, "Content-Type": "application/json"},
            )
            assert forged.json()["error"]["code"] == "invalid_signature", forged.text
        assert unlisted(spec, answers) == []


async def test_every_operation_lists_what_it_answers_when_walked(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """Each operation once without credentials, once as the owner with an empty JSON body (when
    it takes one) and unknown ids for everything but the workspace; then the session-ending
    ones."""
    spec = (await client.get("/openapi.json")).json()
    operations = [
        (path, method, operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
    ]
    assert len(operations) > 80
    with recording(client, spec) as answers:
        for credentials in ({}, owner.headers):
            for path, method, operation in operations:
                if (path, method) in _SESSION_ENDING:
                    continue
                url = path.replace("{workspace_id}", owner.workspace_id)
                url = re.sub(r"\{[^}]+\}", lambda _: str(uuid.uuid4()), url)
                content = operation.get("requestBody", {}).get("content", {})
                body = {"json": {}} if "application/json" in content else {}
                await client.request(method.upper(), url, headers=credentials, **body)
        for path, method in sorted(_SESSION_ENDING):
            await client.request(method.upper(), path, headers=owner.headers)
    walked = {(path, method) for path, method, _ in answers}
    assert len(walked) == len(operations)
    assert unlisted(spec, answers) == []
    # The owner's workspace is still there: the walk sent nothing that could delete it.
    again = await signup(client, "After the walk")
    assert (await client.get(again.url(), headers=again.headers)).status_code == 200

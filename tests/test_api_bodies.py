"""Request bodies are read one way on every route: unknown fields are refused (422), a body that
is not JSON by its media type is 415, the schema states the chat message's length, and a
literal path segment (``leads/export``) is not taken for an id."""

from __future__ import annotations

import gzip
import json
import uuid
from typing import Any

import httpx

from core.config import Settings
from tests.conftest import Owner

# The one body that ignores unknown fields, deliberately (billing/schemas.py VerifyIn).
LENIENT = {"VerifyIn"}


def _error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code, response.text
    return error


def _extra_fields(response: httpx.Response) -> set[str]:
    error = _error(response, 422, "validation_error")
    return {d["field"] for d in error["details"] if d.get("type") == "extra_forbidden"}


async def test_every_json_body_refuses_unknown_fields_in_the_schema(
    client: httpx.AsyncClient,
) -> None:
    """Documents, search, sources' schedule, retention, erasures and the deletions took unknown
    fields silently while FAQs, leads, chat and workspaces refused them."""
    spec = (await client.get("/openapi.json")).json()
    components = spec["components"]["schemas"]

    def models(schema: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        """The object schemas a body may be (a reference, inline, or one of alternatives)."""
        found = []
        for alternative in schema.get("oneOf") or schema.get("anyOf") or [schema]:
            if "$ref" in alternative:
                name = alternative["$ref"].rsplit("/", 1)[-1]
                found.append((name, components[name]))
            elif alternative.get("type") == "object":
                found.append((alternative["title"], alternative))
        return found

    lenient = []
    checked = 0
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" not in content:
                continue
            for name, schema in models(content["application/json"]["schema"]):
                checked += 1
                if schema.get("additionalProperties") is not False and name not in LENIENT:
                    lenient.append((path, method, name))
    assert checked > 30
    assert lenient == []


async def test_unknown_fields_are_refused_where_they_were_ignored(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    h = owner.headers
    search = await client.post(
        owner.url("/search"), json={"query": "refunds", "top_k": 20}, headers=h
    )
    assert _extra_fields(search) == {"top_k"}
    tagged = {"title": f"T {uuid.uuid4().hex}", "text": "x", "tags": ["x"]}
    assert _extra_fields(await client.post(owner.url("/documents"), json=tagged, headers=h)) == {
        "tags"
    }
    # Two alternatives at once: the text was thrown away and the URL fetched.
    both = {"title": "T", "text": "x", "url": "https://example.com/"}
    assert _extra_fields(await client.post(owner.url("/documents"), json=both, headers=h)) == {
        "title",
        "text",
    }
    titled = {"url": "https://example.com/", "title": "Mine"}
    assert _extra_fields(await client.post(owner.url("/documents"), json=titled, headers=h)) == {
        "title"
    }
    created = await client.post(
        owner.url("/documents"), json={"title": f"K {uuid.uuid4().hex}", "text": "Kept."}, headers=h
    )
    assert created.status_code == 202, created.text
    document = owner.url(f"/documents/{created.json()['id']}")
    put = await client.put(document, json={"text": "New.", "tags": ["x"]}, headers=h)
    assert _extra_fields(put) == {"tags"}
    upload = await client.post(
        owner.url("/documents"),
        files={"file": ("a.txt", b"Some text.", "text/plain")},
        data={"tags": "x"},
        headers=h,
    )
    assert _extra_fields(upload) == {"tags"}
    retention = await client.put(
        owner.url("/retention"), json={"conversation_retention_days": 30, "days": 7}, headers=h
    )
    assert _extra_fields(retention) == {"days"}
    erasure = await client.post(
        owner.url("/erasures"), json={"email": "v@example.com", "all": True}, headers=h
    )
    assert _extra_fields(erasure) == {"all"}
    schedule = await client.put(
        owner.url(f"/sources/{uuid.uuid4()}/schedule"),
        json={"schedule": "daily", "hour": 3},
        headers=h,
    )
    assert schedule.status_code in (404, 422), schedule.text  # the source is checked first
    # Nothing of the refused bodies was stored: the document is as it was.
    again = await client.put(document, json={"text": "Kept."}, headers=h)
    assert again.json()["duplicate"] is True, again.text


async def test_a_body_that_is_not_json_by_its_media_type_is_415_on_every_route(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """``curl -d`` (form-urlencoded) or text/plain got 422 "Input should be a valid dictionary"
    from a body model, and 415 from the document routes."""
    h = owner.headers
    lead = b'{"email": "ct@example.com"}'
    targets = [
        ("POST", owner.url("/leads")),
        ("POST", owner.url("/faqs")),
        ("POST", owner.url("/search")),
        ("PATCH", owner.url()),
        ("POST", "/api/v1/auth/login"),
        ("POST", owner.url("/documents")),
        ("POST", owner.url("/exports")),  # no body expected: one sent is still not JSON
    ]
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "application/xml"):
        for method, url in targets:
            response = await client.request(
                method, url, content=lead, headers=h | {"Content-Type": content_type}
            )
            error = _error(response, 415, "unsupported_media_type")
            assert error["details"][0]["content_type"] == content_type, (url, error)
    # A body without a Content-Type is no JSON to a body model: 415 on every route too (the
    # document routes read it as JSON).
    for method, url in targets:
        response = await client.request(method, url, content=lead, headers=h)
        assert "content-type" not in response.request.headers
        assert _error(response, 415, "unsupported_media_type")["details"][0]["content_type"] == ""
    # JSON under any of its names is read.
    for content_type in ("Application/JSON; charset=utf-8", "application/merge-patch+json"):
        email = f"ct-{uuid.uuid4().hex[:8]}@example.com".encode()
        created = await client.post(
            owner.url("/leads"),
            content=b'{"email": "' + email + b'"}',
            headers=h | {"Content-Type": content_type},
        )
        assert created.status_code == 201, (content_type, created.text)
    # An empty body is no body: the route answers as it does without one.
    assert (
        await client.post(
            owner.url("/exports"), content=b"", headers=h | {"Content-Type": "text/plain"}
        )
    ).status_code == 202
    # A mail client's one-click unsubscribe reads no body: a form, or no type, reaches it.
    for headers in ({"Content-Type": "application/x-www-form-urlencoded"}, {}):
        unsubscribe = await client.post(
            "/api/v1/notifications/unsubscribe?token=abc.def",
            content=b"List-Unsubscribe=One-Click",
            headers=headers,
        )
        _error(unsubscribe, 400, "link_invalid")
    spec = (await client.get("/openapi.json")).json()
    assert "415" in spec["paths"]["/api/v1/workspaces/{workspace_id}/leads"]["post"]["responses"]


async def test_the_schema_gives_the_chat_message_its_length(
    client: httpx.AsyncClient, owner: Owner, settings: Settings
) -> None:
    spec = (await client.get("/openapi.json")).json()
    for name in ("ChatIn", "OwnerChatIn"):
        message = spec["components"]["schemas"][name]["properties"]["message"]
        assert message["maxLength"] == settings.max_message_chars, (name, message)
        assert message["minLength"] == 1
    too_long = "x" * (settings.max_message_chars + 1)
    answer = await client.post(
        owner.url("/chat"), json={"message": too_long}, headers=owner.headers
    )
    _error(answer, 422, "message_too_long")


async def test_a_literal_segment_is_not_taken_for_an_id(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """``DELETE .../leads/export`` answered 422 ``path.lead_id`` and OPTIONS named DELETE and
    PATCH, methods the export does not serve."""
    h = owner.headers
    for path in ("/leads/export", "/conversations/export"):
        for method in ("DELETE", "PATCH", "OPTIONS"):
            response = await client.request(method, owner.url(path), headers=h)
            _error(response, 405, "method_not_allowed")
            assert response.headers["allow"] == "GET, HEAD", (path, method)
    # A malformed id is no lead (or conversation) there: 404, as an unknown one.
    for path in ("/leads/not-a-lead", "/conversations/not-one", f"/leads/{uuid.uuid4()}"):
        _error(await client.get(owner.url(path), headers=h), 404, "not_found")


async def test_a_body_sent_with_a_content_encoding_is_refused_not_misread(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """No request body is decoded: a gzip JSON body was refused as "not UTF-8" JSON and a
    plain body labelled ``br`` was taken. Both are 415 ``unsupported_content_encoding`` with
    ``Accept-Encoding: identity`` (RFC 7694), an upload too; ``identity`` is read as none."""
    body = json.dumps({"question": "Gzipped?", "answer": "No."}).encode()
    for coding, sent in (("gzip", gzip.compress(body)), ("br", body), ("gzip, identity", body)):
        response = await client.post(
            owner.url("/faqs"),
            content=sent,
            headers={
                **owner.headers,
                "Content-Type": "application/json",
                "Content-Encoding": coding,
            },
        )
        error = _error(response, 415, "unsupported_content_encoding")
        assert error["details"] == {"content_encoding": coding}
        assert response.headers["accept-encoding"] == "identity"
    upload = await client.post(
        owner.url("/documents"),
        files={"file": ("hours.txt", b"Open nine to five.", "text/plain")},
        headers={**owner.headers, "Content-Encoding": "gzip"},
    )
    _error(upload, 415, "unsupported_content_encoding")
    faqs = await client.get(owner.url("/faqs"), headers=owner.headers)
    assert faqs.json()["items"] == []
    plain = await client.post(
        owner.url("/faqs"),
        content=body,
        headers={
            **owner.headers,
            "Content-Type": "application/json",
            "Content-Encoding": "identity",
        },
    )
    assert plain.status_code == 201, plain.text


async def test_a_number_python_cannot_read_is_a_json_refusal(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """Valid JSON holding an integer of more than 4,300 digits (Python reads none): a bare 400
    ``bad_request`` before, and on the documents route a 422 naming the wrong thing."""
    huge = b"1" * 5000
    for path, body in (
        (owner.url("/faqs"), b'{"question": "Q?", "answer": "A.", "n": ' + huge + b"}"),
        (owner.url("/documents"), b'{"title": "T", "text": "Hours.", "n": ' + huge + b"}"),
        ("/api/v1/auth/login", b'{"email": "a@example.com", "password": ' + huge + b"}"),
    ):
        response = await client.post(
            path, content=body, headers={**owner.headers, "Content-Type": "application/json"}
        )
        error = _error(response, 422, "invalid_json")
        assert "more than 4,300 digits" in error["message"], (path, error)

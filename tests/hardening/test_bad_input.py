"""Input that used to crash a handler (500) gets a 4xx with a stable code and stores nothing:
JSON nested too deep, an offset past int64, unpaired UTF-16 surrogates in strings."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from core.db import Database
from tests.conftest import Owner, signup
from tests.hardening.conftest import ClientFactory

JSON = {"content-type": "application/json"}


def wk(owner: Owner) -> dict[str, str]:
    return {"X-Widget-Key": owner.workspace["public_key"], **JSON}


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code, error
    return error


async def document_count(client: httpx.AsyncClient, owner: Owner) -> int:
    listing = await client.get(owner.url("/documents"), headers=owner.headers)
    return int(listing.json()["total"])


# --- JSON nested too deep --------------------------------------------------------------------


@pytest.mark.parametrize("depth", [65, 1_000, 100_000])
async def test_deeply_nested_json_on_documents_is_422(
    client: httpx.AsyncClient, owner: Owner, depth: int
) -> None:
    bodies = [nested(depth), '{"title": "t", "text": "x", "extra": ' + nested(depth) + "}"]
    for body in bodies:
        created = await client.post(
            owner.url("/documents"), content=body, headers=owner.headers | JSON
        )
        assert_error(created, 422, "json_too_deep")
    document = await client.post(
        owner.url("/documents"), json={"title": "Kept", "text": "Some text."}, headers=owner.headers
    )
    assert document.status_code == 202
    replaced = await client.put(
        owner.url(f"/documents/{document.json()['id']}"),
        content=bodies[1],
        headers=owner.headers | JSON,
    )
    assert_error(replaced, 422, "json_too_deep")
    assert await document_count(client, owner) == 1


async def test_deep_json_is_refused_on_every_json_endpoint(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    deep = nested(1_000)
    owner_json = owner.headers | JSON
    for path, headers, body in (
        ("/api/v1/chat", wk(owner), '{"message": "hi", "session_id": "s", "x": ' + deep + "}"),
        (owner.url("/leads"), owner_json, '{"email": "a@example.com", "n": ' + deep + "}"),
        ("/api/v1/auth/login", JSON, deep),
    ):
        assert_error(await client.post(path, content=body, headers=headers), 422, "json_too_deep")


async def test_ordinary_nesting_still_works(client: httpx.AsyncClient, owner: Owner) -> None:
    """Real bodies nest a few levels; 64 levels (the limit) are still parsed and validated: the
    deep value reaches validation, which names its field (unknown fields are refused)."""
    response = await client.post(
        owner.url("/documents"),
        content='{"title": "t", "text": "Deep enough.", "extra": ' + nested(63) + "}",
        headers=owner.headers | JSON,
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error", error
    assert [(d["field"], d["type"]) for d in error["details"]] == [("extra", "extra_forbidden")]


# --- offsets ---------------------------------------------------------------------------------


async def test_offset_past_int64_is_422_on_every_list_endpoint(
    client: httpx.AsyncClient, owner: Owner, owner_db: Database
) -> None:
    document = await client.post(
        owner.url("/documents"), json={"title": "T", "text": "Text."}, headers=owner.headers
    )
    source_id = str(uuid.uuid4())
    async with owner_db.transaction() as session:  # a web source, without fetching anything
        await session.execute(
            text(
                "INSERT INTO sources (id, workspace_id, url, kind) "
                "VALUES (:id, :w, 'https://example.com/', 'page')"
            ),
            {"id": source_id, "w": owner.workspace_id},
        )
    ids = {
        "workspace_id": owner.workspace_id,
        "document_id": document.json()["id"],
        "source_id": source_id,
    }
    spec = (await client.get("/openapi.json")).json()
    paths = [
        path
        for path, methods in spec["paths"].items()
        for op in methods.values()
        if any(p["name"] == "offset" for p in op.get("parameters", []))
    ]
    assert len(paths) >= 3, paths
    for path in paths:
        url = "/" + path.lstrip("/").format(**ids)
        for offset in ("9223372036854775808", "9223372036854775807", "100001", "-1"):
            response = await client.get(url, params={"offset": offset}, headers=owner.headers)
            error = assert_error(response, 422, "validation_error")
            assert error["details"][0]["field"] == "query.offset", (path, offset)
        ok = await client.get(url, params={"offset": "100000"}, headers=owner.headers)
        assert ok.status_code == 200, (path, ok.text)
        assert ok.json()["items"] == []


# --- unpaired surrogates ---------------------------------------------------------------------

LONE = ["\\ud800", "\\udfff", "tail \\udbff", "\\udc00 lead", "\\ud800\\ud800", "\\ud83d\\u0041"]


@pytest.mark.parametrize("escaped", LONE)
async def test_a_lone_surrogate_in_a_chat_message_is_422_and_stores_nothing(
    client: httpx.AsyncClient, owner: Owner, escaped: str
) -> None:
    body = '{"message": "hello ' + escaped + '", "session_id": "s-surrogate"}'
    error = assert_error(
        await client.post("/api/v1/chat", content=body, headers=wk(owner)), 422, "invalid_text"
    )
    assert error["details"][0]["field"] == "message"
    conversations = (await client.get(owner.url("/conversations"), headers=owner.headers)).json()
    assert conversations["items"] == []


async def test_lone_surrogates_are_refused_wherever_text_comes_in(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    owner_json = owner.headers | JSON
    for path, headers, body, field in (
        (owner.url("/chat"), owner_json, '{"message": "a\\udc00"}', "message"),
        (
            owner.url("/widget"),
            owner_json,
            '{"suggested_questions": ["ok", "bad \\ud800"]}',
            "suggested_questions.1",
        ),
        (
            "/api/v1/widget/leads",
            wk(owner),
            '{"email": "s@example.com", "name": "\\ud800"}',
            "name",
        ),
        (owner.url("/faqs"), owner_json, '{"question": "q\\ud800", "answer": "a"}', "question"),
        (owner.url("/documents"), owner_json, '{"title": "t", "text": "\\udfff"}', "text"),
        (owner.url("/leads"), owner_json, '{"email": "x@example.com", "\\ud800": 1}', None),
    ):
        response = await client.request(
            "PATCH" if path.endswith("/widget") else "POST", path, content=body, headers=headers
        )
        error = assert_error(response, 422, "invalid_text")
        assert error["details"][0]["field"] == field, path
    assert await document_count(client, owner) == 0


async def test_paired_surrogates_and_escaped_backslashes_are_ordinary_text(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    # An escaped emoji (a valid pair) and a literal backslash followed by "ud800".
    body = json.dumps({"title": "Emoji", "text": "Smile \U0001f600 and C:\\ud800 path"})
    assert "\\ud83d\\ude00" in body
    assert "\\\\ud800" in body
    created = await client.post(owner.url("/documents"), content=body, headers=owner.headers | JSON)
    assert created.status_code == 202, created.text
    chat = await client.post(
        "/api/v1/chat",
        content='{"message": "hi \\ud83d\\ude00 and \\\\ud800", "session_id": "s-ok"}',
        headers=wk(owner),
    )
    assert chat.status_code == 200, chat.text
    transcript = (
        await client.get(
            owner.url(f"/conversations/{chat.json()['conversation_id']}"), headers=owner.headers
        )
    ).json()
    assert transcript["messages"][0]["text"] == "hi \U0001f600 and \\ud800"


# Surrogates without an escape: raw CESU-8 bytes (which ``json.loads`` decodes with
# ``surrogatepass``) and UTF-16 bodies (which it detects) are not UTF-8 text.
HIGH, LOW = b"\xed\xa0\x80", b"\xed\xb0\x80"


def utf16(text: str) -> bytes:
    return text.encode("utf-16-le")


async def test_a_body_that_is_not_utf8_is_refused_on_every_route_and_changes_nothing(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    created = await client.post(
        owner.url("/documents"), json={"title": "Keep", "text": "Original."}, headers=owner.headers
    )
    assert created.status_code == 202, created.text
    document = owner.url(f"/documents/{created.json()['id']}")
    widget_before = (await client.get(owner.url("/widget"), headers=owner.headers)).json()
    owner_json = owner.headers | JSON
    for method, path, headers, body in (
        ("POST", "/api/v1/chat", wk(owner), b'{"message": "hi ' + HIGH + b'", "session_id": "s1"}'),
        ("POST", owner.url("/chat"), owner_json, b'{"message": "hi ' + HIGH + b'"}'),
        (
            "PATCH",
            owner.url("/widget"),
            owner_json,
            b'{"suggested_questions": ["a ' + HIGH + b'"]}',
        ),
        ("PATCH", owner.url("/widget"), owner_json, b'{"allowed_origins": ["a' + LOW + b'b"]}'),
        ("PUT", document, owner_json, b'{"text": "x ' + HIGH + b'"}'),
        ("PUT", document, owner_json, b'{"text": "new text", "title": "T ' + LOW + b'"}'),
        ("PUT", document, owner_json, utf16('{"text": "x ') + b"\x00\xd8" + utf16('"}')),
        ("POST", owner.url("/documents"), owner_json, utf16('{"title": "U", "text": "x"}')),
        # UTF-16 whose bytes are UTF-8 too: a lone high surrogate, then U+0080.
        ("PUT", document, owner_json, utf16('{"text": "') + b"\x00\xd8\x80\x00" + utf16('"}')),
        ("POST", owner.url("/faqs"), owner_json, b'{"question": "q' + HIGH + b'", "answer": "a"}'),
    ):
        response = await client.request(method, path, content=body, headers=headers)
        error = assert_error(response, 422, "invalid_json")
        assert error["details"][0]["message"] == "not UTF-8 text", path
        assert isinstance(error["details"][0]["position"], int)
    # Nothing was stored: the document is as it was, no conversation, the widget unchanged.
    again = await client.put(document, json={"text": "Original."}, headers=owner.headers)
    assert again.json()["duplicate"] is True, again.text
    assert await document_count(client, owner) == 1
    conversations = (await client.get(owner.url("/conversations"), headers=owner.headers)).json()
    assert conversations["items"] == []
    widget_after = (await client.get(owner.url("/widget"), headers=owner.headers)).json()
    assert widget_after == widget_before


async def test_a_document_body_is_read_as_its_media_type_says_in_any_case(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """A media type that is neither multipart nor JSON is 415 (it was read as JSON past the
    guard, a lone surrogate included: 500); any capitalisation of multipart/form-data or JSON
    is read as such."""
    created = await client.post(
        owner.url("/documents"), json={"title": "Keep", "text": "Original."}, headers=owner.headers
    )
    document = owner.url(f"/documents/{created.json()['id']}")
    lone = b'{"text": "x \\ud800"}'
    for content_type, body in (
        ("application/x-www-form-urlencoded", lone),  # a form: the JSON guard lets it by
        ("text/plain", b'{"title": "Plain", "text": "Some text."}'),
        ("application/xml", b'{"title": "Plain", "text": "Some text."}'),
    ):
        for method, path in (("PUT", document), ("POST", owner.url("/documents"))):
            response = await client.request(
                method, path, content=body, headers=owner.headers | {"content-type": content_type}
            )
            assert_error(response, 415, "unsupported_media_type")
    for content_type in (
        "application/x-www-form-urlencoded+json",
        "Application/JSON; charset=UTF-8",
    ):
        response = await client.put(
            document, content=lone, headers=owner.headers | {"content-type": content_type}
        )
        assert_error(response, 422, "invalid_text")
    # A JSON body sent as multipart is read as a form: it has no `file`.
    response = await client.put(
        document,
        content=lone,
        headers=owner.headers | {"content-type": "Multipart/Form-Data; boundary=x"},
    )
    assert response.status_code in (400, 422), response.text
    again = await client.put(document, json={"text": "Original."}, headers=owner.headers)
    assert again.json()["duplicate"] is True, again.text

    upload = (
        b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="notes.txt"\r\n'
        b"Content-Type: text/plain\r\n\r\nSome notes about shipping.\r\n--XyZ--\r\n"
    )
    for content_type in ("Multipart/Form-Data; boundary=XyZ", "MULTIPART/FORM-DATA;boundary=XyZ"):
        uploaded = await client.post(
            owner.url("/documents"),
            content=upload,
            headers=owner.headers | {"content-type": content_type},
        )
        assert uploaded.status_code in (200, 202), uploaded.text
        assert uploaded.json()["title"] == "notes.txt"
    replaced = await client.put(
        document,
        content=upload.replace(b"Some notes", b"Other notes"),
        headers=owner.headers | {"content-type": "Multipart/Form-Data; boundary=XyZ"},
    )
    assert replaced.status_code == 202, replaced.text
    assert replaced.json()["updated"] is True


async def test_a_widget_key_holding_a_character_no_key_has_is_a_401(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """A NUL (or a space, a quote) in X-Widget-Key is a wrong key, as the widget should say: it
    answered 422 invalid_text "Text must be valid UTF-8" from the database."""
    key = owner.workspace["public_key"]
    for bad in (key + "\x00", "pk_\x00", key[:-1] + " ", 'pk_a"b', "pk_"):
        headers = {"X-Widget-Key": bad.encode("latin-1")}
        for method, path, body in (
            ("GET", "/api/v1/widget/config", None),
            ("POST", "/api/v1/chat", {"message": "hi", "session_id": "s-nul"}),
            ("POST", "/api/v1/widget/leads", {"email": "nul@example.com"}),
        ):
            response = await client.request(method, path, json=body, headers=headers)
            assert_error(response, 401, "invalid_widget_key")
    # The key itself still opens the widget.
    config = await client.get("/api/v1/widget/config", headers={"X-Widget-Key": key})
    assert config.status_code == 200, config.text


# --- dates -----------------------------------------------------------------------------------


async def test_dates_that_overflow_in_utc_are_422_on_every_endpoint(
    app_client: ClientFactory,
) -> None:
    """9999-12-31T23:59:59-14:00 is a valid ISO date whose UTC time is in the year 10000."""
    # Billing switched on (never called here) so its list of payments is reachable too.
    async with app_client(razorpay_key_id="rzp_test_k", razorpay_key_secret="s" * 24) as client:
        owner = await signup(client)
        await _check_dates(client, owner)


async def _check_dates(client: httpx.AsyncClient, owner: Owner) -> None:
    spec = (await client.get("/openapi.json")).json()
    checked = []
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            for param in op.get("parameters", []):
                formats = [s.get("format") for s in param["schema"].get("anyOf", [param["schema"]])]
                if param["in"] != "query" or "date-time" not in formats:
                    continue
                url = "/" + path.lstrip("/").format(workspace_id=owner.workspace_id)
                for value in ("9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"):
                    response = await client.request(
                        method.upper(), url, params={param["name"]: value}, headers=owner.headers
                    )
                    error = assert_error(response, 422, "validation_error")
                    assert error["details"][0]["field"] == f"query.{param['name']}"
                ok = await client.request(
                    method.upper(),
                    url,
                    params={param["name"]: "2030-01-01T00:00:00+05:30"},
                    headers=owner.headers,
                )
                assert ok.status_code == 200, (url, ok.text)
                checked.append(f"{path} {param['name']}")
    assert len(checked) >= 3, checked


async def test_an_upload_form_decoding_to_a_lone_surrogate_is_422_and_stores_nothing(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """A multipart upload decoded with the charset its Content-Type names: UTF-7's ``+2AA-``
    is U+D800 in a field's name, a title or a file's name. The unknown field's refusal, which
    names it, was a 500 (its JSON could not be encoded); each is 422 ``invalid_text``."""
    boundary = f"b{uuid.uuid4().hex}"
    headers = owner.headers | {
        "content-type": f"multipart/form-data; boundary={boundary}; charset=utf-7"
    }

    def body(field: str, value: str, filename: str) -> bytes:
        return (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"\r\n\r\n{value}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"'
            f"\r\nContent-Type: text/plain\r\n\r\nWe open at nine.\r\n--{boundary}--\r\n"
        ).encode()

    for field, value, filename, named in (
        ("extra+2AA-", "1", "a.txt", "extra\ufffd"),
        ("title", "Hours +2AA-", "a.txt", "title"),
        ("title", "Hours", "hours+2AA-.txt", "file"),
    ):
        response = await client.post(
            owner.url("/documents"), content=body(field, value, filename), headers=headers
        )
        error = assert_error(response, 422, "invalid_text")
        assert error["details"][0]["field"] == named, error
    assert await document_count(client, owner) == 0

"""The OpenAPI schema describes the errors the API really sends: real error responses are
validated against the schema /openapi.json serves for their operation and status."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import jsonschema_rs

from core.config import Settings
from tests.conftest import Owner

LEADS = "/api/v1/workspaces/{workspace_id}/leads"
LEAD = "/api/v1/workspaces/{workspace_id}/leads/{lead_id}"
FAQS = "/api/v1/workspaces/{workspace_id}/faqs"
DOCUMENTS = "/api/v1/workspaces/{workspace_id}/documents"
DOCUMENT = "/api/v1/workspaces/{workspace_id}/documents/{document_id}"
TRANSCRIPT = "/api/v1/workspaces/{workspace_id}/conversations/{conversation_id}"


def _validator(spec: dict[str, Any], path: str, method: str, status: int) -> Any:
    """A validator for the body the schema documents for this answer (its own status, else
    ``default``); fails when the status is expected to be listed and is not."""
    responses = spec["paths"][path][method]["responses"]
    documented = responses.get(str(status)) or responses["default"]
    schema = documented["content"]["application/json"]["schema"]
    return jsonschema_rs.Draft202012Validator({**schema, "components": spec["components"]})


async def test_real_error_responses_match_the_documented_schema(
    client: httpx.AsyncClient, owner: Owner, settings: Settings
) -> None:
    """The schema documented FastAPI's {"detail": [...]} for every 422 and no other error,
    while the API sends {"error": {code, message, details}}: a client generated from it found
    nothing where it looked."""
    spec = (await client.get("/openapi.json")).json()
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    h = owner.headers
    lead = await client.post(owner.url("/leads"), json={"email": "oa@example.com"}, headers=h)
    faq = {"question": f"Open {uuid.uuid4().hex}?", "answer": "Yes."}
    assert (await client.post(owner.url("/faqs"), json=faq, headers=h)).status_code == 201
    json_headers = h | {"Content-Type": "application/json"}
    big = {"email": "big@example.com", "notes": "x" * (settings.max_body_bytes + 10)}
    leads, faqs, docs = owner.url("/leads"), owner.url("/faqs"), owner.url("/documents")
    one_lead = owner.url(f"/leads/{lead.json()['id']}")
    program = {"file": ("a.exe", b"MZ\x90\x00\x03" * 50, "application/octet-stream")}
    answers = [
        # (operation, method, the status it must list, the response)
        (LEADS, "post", 422, await client.post(leads, json={"email": "no"}, headers=h)),
        (LEADS, "post", 422, await client.post(leads, content=b"{", headers=json_headers)),
        (DOCUMENTS, "post", 422, await client.post(docs, content=b"{", headers=json_headers)),
        (LEADS, "get", 401, await client.get(leads)),
        (LEADS, "get", 422, await client.get(leads, params={"limit": 0}, headers=h)),
        (LEAD, "get", 404, await client.get(owner.url(f"/leads/{uuid.uuid4()}"), headers=h)),
        (LEAD, "patch", 422, await client.patch(one_lead, json={"status": None}, headers=h)),
        (FAQS, "post", 409, await client.post(faqs, json=faq, headers=h)),
        (LEADS, "post", 413, await client.post(leads, json=big, headers=h)),
        (DOCUMENTS, "post", 415, await client.post(docs, files=program, headers=h)),
        (LEADS, "delete", 0, await client.delete(leads, headers=h)),  # 405: ``default``
    ]
    for path, method, status, response in answers:
        if status:
            assert response.status_code == status, (path, method, response.text)
            listed = spec["paths"][path][method]["responses"]
            assert str(status) in listed, (path, method, status, sorted(listed))
        body = response.json()
        # A method the path does not serve (405): any of its operations' ``default``.
        documented = method if method in spec["paths"][path] else next(iter(spec["paths"][path]))
        validator = _validator(spec, path, documented, response.status_code)
        errors = [e.message for e in validator.iter_errors(body)]
        assert not errors, (path, method, response.status_code, body, errors)
        # What the schema said before is no longer a valid answer: the check can fail.
        assert not validator.is_valid({"detail": [{"loc": ["body"], "msg": "x", "type": "y"}]})


async def test_the_schema_documents_limits_and_the_document_bodies(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    """``limit`` said minimum 1 and no maximum (MAX_PAGE_SIZE refuses more); the two document
    routes had no requestBody at all (multipart and JSON only in free text)."""
    spec = (await client.get("/openapi.json")).json()
    limits = [
        param["schema"]
        for path, item in spec["paths"].items()
        if path != TRANSCRIPT  # its pages of messages: tests/rag/test_long_transcripts.py
        for operation in item.values()
        for param in operation.get("parameters", [])
        if param["in"] == "query" and param["name"] == "limit"
    ]
    assert len(limits) > 5
    assert all(s.get("maximum") == settings.max_page_size for s in limits), limits
    for path, method, alternatives in [
        (DOCUMENTS, "post", {"TextIn", "UrlIn", "SitemapIn"}),
        (DOCUMENT, "put", {"ReplaceTextIn"}),
    ]:
        content = spec["paths"][path][method]["requestBody"]["content"]
        assert content["multipart/form-data"]["schema"]["required"] == ["file"]
        json_schema = content["application/json"]["schema"]
        titles = {s["title"] for s in json_schema.get("oneOf", [json_schema])}
        assert titles == alternatives, (path, titles)
    status_lists = [
        set(operation["responses"])
        for path, item in spec["paths"].items()
        if path.startswith("/api/v1/workspaces/{workspace_id}/")
        for operation in item.values()
    ]
    assert all({"401", "403", "404", "429", "default"} <= listed for listed in status_lists)


async def test_only_the_routes_taking_a_file_say_a_415_may_be_about_its_bytes(
    client: httpx.AsyncClient,
) -> None:
    """Every write said "its name or declared type says PDF or DOCX" under 415, sign-in too."""
    spec = (await client.get("/openapi.json")).json()
    login = spec["paths"]["/api/v1/auth/login"]["post"]["responses"]["415"]["description"]
    assert "unsupported_media_type" in login
    assert "content_type_mismatch" not in login
    for path, method in [(DOCUMENTS, "post"), (DOCUMENT, "put")]:
        upload = spec["paths"][path][method]["responses"]["415"]["description"]
        assert "content_type_mismatch" in upload, path

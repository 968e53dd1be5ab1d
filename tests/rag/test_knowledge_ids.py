"""Knowledge routes take their ids as a UUID in the path itself (docs/errors.md)."""

from __future__ import annotations

import uuid

import httpx

from tests.conftest import Owner


async def test_a_malformed_knowledge_id_is_404_as_a_leads_is(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """A document's, a source's or an FAQ's id is a UUID in the path itself, as a lead's and
    a conversation's are (docs/errors.md): anything else there is nothing of the workspace, 404
    ``not_found`` (some answered 422 ``validation_error`` naming ``path.document_id``)."""
    routes = [
        ("GET", "/documents/{}"),
        ("PUT", "/documents/{}"),
        ("DELETE", "/documents/{}"),
        ("POST", "/documents/{}/retry"),
        ("GET", "/documents/{}/chunks"),
        ("GET", "/sources/{}"),
        ("DELETE", "/sources/{}"),
        ("PUT", "/sources/{}/schedule"),
        ("POST", "/sources/{}/sync"),
        ("GET", "/sources/{}/syncs"),
        ("GET", "/faqs/{}"),
        ("PATCH", "/faqs/{}"),
        ("DELETE", "/faqs/{}"),
    ]
    for method, path in routes:
        for bad in ("123", "not-a-uuid", str(uuid.uuid4())[:-1]):
            body = {"text": "x"} if method in ("PUT", "PATCH") else None
            response = await client.request(
                method, owner.url(path.format(bad)), json=body, headers=owner.headers
            )
            assert response.status_code == 404, (method, path, bad, response.text)
            assert response.json()["error"]["code"] == "not_found", (method, path)

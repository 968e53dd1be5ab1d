"""An upload's title (the multipart field ``title``) is held to the length a JSON title is.

``POST {title, text}`` and ``PUT {text, title}`` refuse a title over 300 characters (422, the
field named); the same title sent with a file was cut to 300 without a word, on POST and PUT
alike, so the owner's title was stored other than sent. Now it is refused the same way."""

from __future__ import annotations

import uuid

import httpx

from rag.knowledge.submissions import MAX_TITLE
from tests.conftest import Owner
from tests.rag.test_documents_api import upload


def _refused_for_its_title(response: httpx.Response) -> None:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error", error
    assert [d["field"] for d in error["details"]] == ["title"], error


async def test_a_title_past_the_limit_is_refused_with_a_file_as_in_json(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    long = "T" * (MAX_TITLE + 1)
    name = f"menu-{uuid.uuid4().hex[:6]}.txt"
    _refused_for_its_title(
        await client.post(
            owner.url("/documents"),
            json={"title": long, "text": "Tea and coffee."},
            headers=owner.headers,
        )
    )
    _refused_for_its_title(
        await upload(client, owner, name, b"Tea and coffee.", "text/plain", long)
    )
    listed = await client.get(owner.url("/documents"), headers=owner.headers)
    assert listed.json()["items"] == []  # nothing stored
    at_limit = await upload(client, owner, name, b"Tea and coffee.", "text/plain", "T" * MAX_TITLE)
    assert at_limit.status_code == 202, at_limit.text
    assert at_limit.json()["title"] == "T" * MAX_TITLE
    document = at_limit.json()["id"]
    replaced = await client.put(
        owner.url(f"/documents/{document}"),
        files={"file": (name, b"Tea, coffee and cocoa.", "text/plain")},
        data={"title": long},
        headers=owner.headers,
    )
    _refused_for_its_title(replaced)

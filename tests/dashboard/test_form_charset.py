"""A form posted as multipart with a ``charset`` parameter of the client's choosing: the parser
decodes its fields (and files' names) with that codec, and UTF-7 or ``unicode_escape`` turn
plain ASCII bytes into an unpaired surrogate, which no page can encode. Refused, 422
``invalid_text``, before any handler (or the stale-form page) sees it; nothing is stored."""

from __future__ import annotations

import uuid
from urllib.parse import unquote

import httpx
import pytest
from sqlalchemy import text

from api.runtime import Runtime
from tests.dashboard.conftest import WebOwner, csrf_of

SURROGATE_IN = {"utf-7": "+2AA-", "unicode_escape": "\\ud800"}
"""ASCII that each codec decodes to U+D800, an unpaired surrogate."""


def multipart(
    fields: dict[str, str], charset: str, file: tuple[str, bytes] | None = None
) -> tuple[bytes, dict[str, str]]:
    """A multipart body of ``fields`` (and ``file``: its name and content, as ``files``) whose
    Content-Type names ``charset``, as a hand-made request can."""
    boundary = f"b{uuid.uuid4().hex}"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    if file is not None:
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{file[0]}"'
            "\r\nContent-Type: text/plain\r\n\r\n"
        )
        parts.append(head.encode() + file[1] + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}; charset={charset}"}


def refused(response: httpx.Response) -> None:
    assert response.status_code == 422, (response.status_code, response.text[-800:])
    assert "not valid Unicode" in response.text


@pytest.mark.parametrize("charset", sorted(SURROGATE_IN))
async def test_a_workspace_form_decoding_to_a_lone_surrogate_is_a_422(
    runtime: Runtime, web: WebOwner, charset: str
) -> None:
    lone = SURROGATE_IN[charset]
    forms = {
        web.url("settings"): {"name": f"Renamed {lone}"},
        web.url("team/members"): {"email": f"a{lone}@example.com", "role": "member"},
        web.url("team/api-keys"): {"name": f"key {lone}"},
        web.url("knowledge/faqs"): {"question": f"Open {lone}?", "answer": "Yes."},
        web.url("knowledge/web"): {"url": f"https://example.com/{lone}", "kind": "page"},
        web.url("widget"): {"bot_name": f"Bot {lone}", "greeting": "Hi"},
        "/app/workspaces": {"name": f"Second {lone}"},
    }
    for url, fields in forms.items():
        body, headers = multipart({"csrf_token": web.csrf, **fields}, charset)
        refused(await web.client.post(url, content=body, headers=headers))
    # The media type in capitals (the parser reads it so too): refused the same way.
    body, headers = multipart({"csrf_token": web.csrf, "name": f"Renamed {lone}"}, charset)
    shouted = {
        "Content-Type": headers["Content-Type"].replace(
            "multipart/form-data", "MULTIPART/FORM-DATA"
        )
    }
    refused(await web.client.post(web.url("settings"), content=body, headers=shouted))
    # htmx's request (the token in its header, no field read for it): refused the same way.
    body, headers = multipart({"name": f"Renamed {lone}"}, charset)
    htmx = {**headers, "HX-Request": "true", "X-CSRF-Token": web.csrf}
    answer = await web.client.post(web.url("settings"), content=body, headers=htmx)
    assert answer.status_code == 422
    assert "not valid Unicode" in unquote(answer.headers["X-Error-Message"])
    # A file's name: refused before the file is read, nothing added.
    body, headers = multipart({"csrf_token": web.csrf}, charset, (f"notes{lone}.txt", b"Hi.\n"))
    refused(await web.client.post(web.url("knowledge/upload"), content=body, headers=headers))
    # A form whose token is stale (signed in again since): refused too, not shown again.
    body, headers = multipart({"csrf_token": "stale", "name": f"Renamed {lone}"}, charset)
    refused(await web.client.post(web.url("settings"), content=body, headers=headers))
    async with runtime.db.transaction(workspace_id=uuid.UUID(web.workspace_id)) as session:
        stored = await session.execute(
            text(
                "SELECT (SELECT name FROM workspaces WHERE id = :w),"
                " (SELECT count(*) FROM faqs WHERE workspace_id = :w),"
                " (SELECT count(*) FROM documents WHERE workspace_id = :w)"
            ),
            {"w": web.workspace_id},
        )
        assert tuple(stored.one()) == ("Acme", 0, 0)


@pytest.mark.parametrize("path", ["/app/login", "/app/signup", "/app/forgot-password"])
async def test_a_signed_out_form_decoding_to_a_lone_surrogate_is_a_422(
    client: httpx.AsyncClient, path: str
) -> None:
    lone = SURROGATE_IN["utf-7"]
    page = await client.get(path)
    fields = {
        "csrf_token": csrf_of(page.text),
        "email": f"someone{lone}@example.com",
        "password": f"correct horse {lone}",
        "workspace_name": f"Acme {lone}",
    }
    body, headers = multipart(fields, "utf-7")
    refused(await client.post(path, content=body, headers=headers))


async def test_a_form_in_utf_8_still_works(web: WebOwner) -> None:
    """The refusal is of the surrogate, not of a charset parameter: UTF-8 named is fine."""
    body, headers = multipart({"csrf_token": web.csrf, "name": "Acme Café"}, "utf-8")
    saved = await web.client.post(web.url("settings"), content=body, headers=headers)
    assert saved.status_code == 303, saved.text[-500:]
    page = await web.client.get(web.url("settings"))
    assert "Acme Café" in page.text

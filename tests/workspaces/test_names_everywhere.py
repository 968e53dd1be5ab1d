"""A person's name is one line of plain text on every path that sets it, by the account page's
rule (``workspaces.profile.display_name``): sign-up (API and dashboard form) and accepting an
invitation with a new account (API and dashboard form) too. Trimmed first, at most 200
characters; a control character (a line break) or a bidirectional override is 422
``invalid_text``, a longer name 422 ``validation_error``. Before, these paths stored "Ada\\nX",
an RTL override and untrimmed spaces as typed."""

from __future__ import annotations

import html
import uuid

import httpx
import pytest

from tests.conftest import login
from tests.dashboard.conftest import csrf_of, invitation, post_signup_form

PASSWORD = "correct horse battery"

REFUSED = [
    ("Ada\nLovelace", "invalid_text"),
    ("Ada\r\nYour account is locked", "invalid_text"),
    ("Ada \u202eecalevoL", "invalid_text"),
    ("Ada\u2066 Lovelace", "invalid_text"),
    ("Ada\u2028Lovelace", "invalid_text"),
    ("A" * 201, "validation_error"),
]


def _email(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex[:12]}@example.com"


async def _my_name(client: httpx.AsyncClient, email: str) -> str | None:
    tokens = await login(client, email, PASSWORD)
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    me = await client.get("/api/v1/me", headers=headers)
    assert me.status_code == 200, me.text
    name: str | None = me.json()["user"]["name"]
    return name


async def _api_signup(client: httpx.AsyncClient, name: str) -> tuple[httpx.Response, str]:
    email = _email("names")
    body = {"email": email, "password": PASSWORD, "workspace_name": "Names", "name": name}
    return await client.post("/api/v1/auth/signup", json=body), email


@pytest.mark.parametrize(("name", "code"), REFUSED)
async def test_sign_up_refuses_a_name_that_is_not_one_line_of_plain_text(
    client: httpx.AsyncClient, name: str, code: str
) -> None:
    refused, email = await _api_signup(client, name)
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["code"] == code
    assert error["details"][0]["field"] == "name"
    # Nothing was created: the address signs up afterwards with a plain name.
    again, _ = await _api_signup(client, "Ada")
    assert again.status_code == 202
    no_account = await client.post(
        "/api/v1/auth/login", json={"email": email, "password": PASSWORD}
    )
    assert no_account.status_code == 401


async def test_sign_up_trims_the_name_before_it_counts_its_length(
    client: httpx.AsyncClient,
) -> None:
    long_name = "L" * 200
    done, email = await _api_signup(client, f"  {long_name}\u200b ")
    assert done.status_code == 202, done.text
    assert await _my_name(client, email) == long_name
    blank, other = await _api_signup(client, "   ")
    assert blank.status_code == 202, blank.text
    assert await _my_name(client, other) is None


async def _web_signup(client: httpx.AsyncClient, name: str) -> tuple[httpx.Response, str]:
    email = _email("web-names")
    return await post_signup_form(client, email, "Names", name), email


async def test_the_sign_up_page_refuses_a_name_on_two_lines(client: httpx.AsyncClient) -> None:
    refused, email = await _web_signup(client, "Ada\r\nLovelace")
    assert refused.status_code == 422, refused.text
    assert "Check your email" not in refused.text
    assert "contains the control character U+000D" in html.unescape(refused.text)
    gone = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert gone.status_code == 401
    done, kept = await _web_signup(client, "  Ada Lovelace ")
    assert done.status_code == 200, done.text
    assert await _my_name(client, kept) == "Ada Lovelace"


async def _api_accept(client: httpx.AsyncClient, token: str, name: str) -> httpx.Response:
    body = {"token": token, "password": PASSWORD, "name": name}
    return await client.post("/api/v1/invitations/accept", json=body)


@pytest.mark.parametrize(("name", "code"), REFUSED)
async def test_accepting_an_invitation_refuses_such_a_name(
    client: httpx.AsyncClient, name: str, code: str
) -> None:
    _, invited, token = await invitation(client)
    refused = await _api_accept(client, token, name)
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["code"] == code
    assert refused.json()["error"]["details"][0]["field"] == "name"
    # The invitation is still unused: accepted with a plain name, trimmed.
    joined = await _api_accept(client, token, f" Nia {'N' * 195} ")
    assert joined.status_code == 200, joined.text
    assert await _my_name(client, invited) == f"Nia {'N' * 195}"


async def test_the_invitation_page_refuses_a_name_on_two_lines(
    client: httpx.AsyncClient,
) -> None:
    _, invited, token = await invitation(client)
    form = await client.get(f"/app/accept-invitation?token={token}")
    data = {"csrf_token": csrf_of(form.text), "token": token, "password": PASSWORD}
    refused = await client.post("/app/accept-invitation", data={**data, "name": "Nia\nRao"})
    assert refused.status_code == 422, refused.text
    assert "contains the control character U+000A" in html.unescape(refused.text)
    joined = await client.post("/app/accept-invitation", data={**data, "name": " Nia Rao "})
    assert joined.status_code == 303, joined.text
    assert await _my_name(client, invited) == "Nia Rao"

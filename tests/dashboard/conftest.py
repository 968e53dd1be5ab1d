"""A signed-in browser-like client of the dashboard over the real app, database and Redis."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

import httpx
import pytest

from api.runtime import Runtime
from tests.conftest import Owner, mail_token, signup
from workspaces import repository as ws_repo

PASSWORD = "correct horse battery"
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]*)">')


def csrf_of(html: str) -> str:
    found = CSRF_META.search(html)
    assert found, "the page has no CSRF meta tag"
    return found.group(1)


async def web_login(
    client: httpx.AsyncClient, email: str, password: str, next: str | None = None
) -> httpx.Response:
    """The login form posted as a browser does (303 signed in, 401 refused), with the page to
    go to next when given."""
    page = await client.get("/app/login")
    data = {"csrf_token": csrf_of(page.text), "email": email, "password": password}
    return await client.post("/app/login", data={**data, **({"next": next} if next else {})})


@dataclass
class WebOwner:
    client: httpx.AsyncClient
    email: str
    workspace_id: str
    csrf: str

    def url(self, page: str = "") -> str:
        return f"/app/w/{self.workspace_id}" + (f"/{page}" if page else "")

    async def post(
        self, path: str, data: dict[str, object] | None = None, **kwargs: object
    ) -> httpx.Response:
        return await self.client.post(
            path,
            data={"csrf_token": self.csrf, **(data or {})},
            **kwargs,  # type: ignore[arg-type]
        )


SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "navigate"}
"""What a browser sends with a click on one of the dashboard's own pages (a download: the
dashboard refuses one another site started, ``page_route.refuse_cross_site``)."""


async def post_signup_form(
    client: httpx.AsyncClient, email: str, workspace_name: str, name: str | None = None
) -> httpx.Response:
    """The sign-up form filled in and posted (with ``PASSWORD``), as a browser does."""
    page = await client.get("/app/signup")
    assert page.status_code == 200, page.text
    data = {"csrf_token": csrf_of(page.text), "email": email, "password": PASSWORD}
    named = {} if name is None else {"name": name}
    return await client.post(
        "/app/signup", data={**data, "workspace_name": workspace_name, **named}
    )


async def web_signup(
    client: httpx.AsyncClient, workspace_name: str = "Acme", *, verify: bool = True
) -> WebOwner:
    """Sign up through the dashboard's form ("check your email"), confirm the address (unless
    ``verify`` is False), then log in, as a browser does (the cookies stay on ``client``)."""
    email = f"web-{uuid.uuid4().hex[:10]}@example.com"
    response = await post_signup_form(client, email, workspace_name)
    assert response.status_code == 200, response.text
    assert "Check your email" in response.text
    if verify:
        # The link in the verification mail (exporting personal data needs a verified owner).
        token = await mail_token(client, email, "verify_email")
        verified = await client.post(  # not signed in yet: the account's password proves it
            "/api/v1/auth/verify-email", json={"token": token, "password": PASSWORD}
        )
        assert verified.status_code == 200, verified.text
    login = await client.post(
        "/app/login",
        data={"csrf_token": csrf_of(response.text), "email": email, "password": PASSWORD},
    )
    assert login.status_code == 303, login.text
    landing = await client.get(login.headers["location"])  # /app/ -> the first workspace
    assert landing.status_code == 303, landing.text
    location = landing.headers["location"]
    workspace_id = location.rstrip("/").split("/")[-1]
    home = await client.get(location)
    assert home.status_code == 200, home.text
    return WebOwner(client=client, email=email, workspace_id=workspace_id, csrf=csrf_of(home.text))


API_KEY_SHOWN = re.compile(r'data-testid="api-key">(tb_[^<]+)<')


async def new_api_key(web: WebOwner, name: str) -> str:
    """A key made with the Team page's form: its secret, from the page the form's answer leads
    to (shown there once)."""
    created = await web.post(web.url("team/api-keys"), {"name": name})
    assert created.status_code == 303, created.text
    shown = await web.client.get(created.headers["location"])
    secret = API_KEY_SHOWN.search(shown.text)
    assert secret, shown.text
    return secret.group(1)


async def widget_key(runtime: Runtime, web: WebOwner) -> str:
    """The public key of ``web``'s workspace (what its widget snippet carries)."""
    async with runtime.db.transaction(workspace_id=uuid.UUID(web.workspace_id)) as session:
        workspace = await ws_repo.get_workspace(session, uuid.UUID(web.workspace_id))
        assert workspace is not None
        return workspace.public_key


@pytest.fixture
async def web(client: httpx.AsyncClient) -> WebOwner:
    return await web_signup(client)


async def asked_by_a_visitor(runtime: Runtime, web: WebOwner, question: str) -> list[str]:
    """``question``, which no knowledge answers, asked through the widget's API: the question
    ids of its group as the Unanswered page lists them."""
    async with runtime.db.transaction(workspace_id=uuid.UUID(web.workspace_id)) as session:
        workspace = await ws_repo.get_workspace(session, uuid.UUID(web.workspace_id))
        assert workspace is not None
    asked = await web.client.post(
        "/api/v1/chat",
        json={"message": question, "session_id": f"visitor-{uuid.uuid4().hex[:8]}"},
        headers={"X-Widget-Key": workspace.public_key},
    )
    assert asked.json()["source"] == "fallback", asked.text
    page = await web.client.get(web.url("unanswered"))
    assert question in page.text
    ids = list(dict.fromkeys(re.findall(r'name="ids" value="([^"]+)"', page.text)))
    assert ids
    return ids


async def invitation(
    client: httpx.AsyncClient, workspace_name: str = "Inviting", role: str = "member"
) -> tuple[Owner, str, str]:
    """A new owner's invitation of a new address (as a member unless ``role`` says): (the
    owner, the address, the token of the link mailed to it)."""
    owner = await signup(client, workspace_name)
    invited = f"invited-{uuid.uuid4().hex[:10]}@example.com"
    response = await client.post(
        f"/api/v1/workspaces/{owner.workspace_id}/members",
        json={"email": invited, "role": role},
        headers={"Authorization": f"Bearer {owner.token}"},
    )
    assert response.status_code == 202, response.text
    return owner, invited, await mail_token(client, invited, "invitation")

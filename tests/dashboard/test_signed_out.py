"""A page left open after its session ended (from another browser, a password change, expiry):
signing in again leads back to the page the owner was on, a script's request is told it was
signed out, and Log out still works."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from api.runtime import Runtime
from tests.conftest import client_for
from tests.dashboard.conftest import PASSWORD, WebOwner, csrf_of, web_login

NEW_PASSWORD = "another horse battery"
BASE = "http://testserver"


@pytest.fixture
async def ended(runtime: Runtime, web: WebOwner) -> WebOwner:
    """``web`` whose session was ended from another browser (a password change there signs
    every other browser out); its page, token and cookie are left as they were."""
    async with client_for(runtime) as other:
        assert (await web_login(other, web.email, PASSWORD)).status_code == 303
        page = await other.get("/app/account")
        passwords = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
        form = {"csrf_token": csrf_of(page.text), **passwords}
        changed = await other.post("/app/account/password", data=form)
        assert changed.status_code == 303, changed.text
    assert (await web.client.get(web.url("knowledge"))).status_code == 303  # signed out
    return web


def next_of(login_url: str) -> str:
    parts = urlsplit(login_url)
    assert parts.path == "/app/login"
    return parse_qs(parts.query)["next"][0]


async def signed_in_again(web: WebOwner, next_url: str) -> httpx.Response:
    """Log in again from the login page the owner was sent to: the page they land on."""
    login = await web.client.get("/app/login", params={"next": next_url})
    field = re.search(r'name="next" value="([^"]*)"', login.text)
    assert field is not None
    assert html.unescape(field.group(1)) == next_url
    done = await web_login(web.client, web.email, NEW_PASSWORD, next=next_url)
    assert done.status_code == 303
    assert done.headers["location"] == next_url
    return await web.client.get(done.headers["location"])


async def test_the_documents_poll_leads_back_to_the_knowledge_page(ended: WebOwner) -> None:
    knowledge = ended.url("knowledge") + "?offset=0"
    poll = await ended.client.get(
        ended.url("knowledge/documents"),
        headers={"HX-Request": "true", "HX-Current-URL": BASE + knowledge},
    )
    assert poll.status_code == 401
    assert next_of(poll.headers["hx-redirect"]) == knowledge
    landed = await signed_in_again(ended, knowledge)
    assert landed.status_code == 200
    assert "<html" in landed.text
    assert "<h1>Knowledge</h1>" in landed.text


async def test_a_form_posted_after_sign_out_leads_back_to_its_page(ended: WebOwner) -> None:
    knowledge = ended.url("knowledge")
    posted = await ended.post(
        ended.url("knowledge/faqs"),
        {"question": "Do you ship to Pune?", "answer": "Yes, in 3 days."},
        headers={"Referer": BASE + knowledge + "#faqs"},
    )
    assert posted.status_code == 303
    assert next_of(posted.headers["location"]) == knowledge
    # No Referer (or another site's): the workspace's home, never the POST-only address.
    for referer in ({}, {"Referer": "https://elsewhere.example/app/w/x/knowledge"}):
        bare = await ended.post(ended.url("knowledge/faqs"), {"question": "Q?"}, headers=referer)
        assert next_of(bare.headers["location"]) == ended.url()
    # An htmx button (delete) on the same page: back to that page.
    button = await ended.client.post(
        ended.url("knowledge/faqs/00000000-0000-0000-0000-000000000001/delete"),
        headers={
            "HX-Request": "true",
            "HX-Current-URL": BASE + knowledge,
            "X-CSRF-Token": ended.csrf,
        },
    )
    assert button.status_code == 401
    assert next_of(button.headers["hx-redirect"]) == knowledge
    landed = await signed_in_again(ended, knowledge)
    assert landed.status_code == 200
    assert "<h1>Knowledge</h1>" in landed.text


async def test_the_playground_stream_is_told_it_was_signed_out(ended: WebOwner) -> None:
    streamed = await ended.client.post(
        ended.url("playground/stream"),
        data={"message": "Do you ship to Pune?"},
        headers={"Accept": "text/event-stream", "X-CSRF-Token": ended.csrf},
    )
    assert streamed.status_code == 401  # not a redirect to a login page it would read as a stream
    assert "location" not in streamed.headers
    fetched = await ended.client.post(
        ended.url("playground/stream"),
        data={"message": "Do you ship to Pune?"},
        headers={"Sec-Fetch-Mode": "cors", "X-CSRF-Token": ended.csrf},
    )
    assert fetched.status_code == 401


async def test_log_out_in_a_stale_tab_clears_the_cookie(ended: WebOwner) -> None:
    out = await ended.post("/app/logout")
    assert out.status_code == 303
    assert out.headers["location"] == "/app/login"
    assert 'tb_session=""' in out.headers["set-cookie"]
    assert "tb_session" not in ended.client.cookies
    # And again, with no cookie left at all (the other tab already logged out).
    again = await ended.post("/app/logout")
    assert again.status_code == 303
    assert again.headers["location"] == "/app/login"

"""The dashboard's foundation: sign-up and log-in pages, the session cookie, CSRF, CSP, 404s."""

from __future__ import annotations

import re
import uuid

import httpx

from tests.conftest import client_for, signup
from tests.dashboard.conftest import PASSWORD, WebOwner, csrf_of, web_signup


async def test_signup_says_check_your_email_then_login_shows_getting_started(web: WebOwner) -> None:
    page = await web.client.get(web.url())
    assert page.status_code == 200
    assert "Getting started" in page.text
    assert "0 of 4 steps done" in page.text
    assert web.email in page.text


async def test_session_cookie_flags(client: httpx.AsyncClient) -> None:
    web = await web_signup(client, "Cookie Co")
    await web.post("/app/logout")
    page = await client.get("/app/login")
    response = await client.post(
        "/app/login",
        data={"csrf_token": csrf_of(page.text), "email": web.email, "password": PASSWORD},
    )
    cookie = next(
        v for k, v in response.headers.multi_items() if k == "set-cookie" and "tb_session=" in v
    )
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Path=/app" in cookie
    assert "Secure" not in cookie  # only in production


async def test_pages_carry_a_strict_csp(web: WebOwner) -> None:
    for path in (web.url(), "/app/login", "/app/nothing-here"):
        response = await web.client.get(path)
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "<script>" not in response.text
        assert " style=" not in response.text


async def test_login_and_logout(client: httpx.AsyncClient, web: WebOwner) -> None:
    out = await web.post("/app/logout")
    assert out.status_code == 303
    after = await client.get(web.url())
    assert after.status_code == 303
    assert after.headers["location"].startswith("/app/login")

    login = await client.get("/app/login")
    wrong = await client.post(
        "/app/login",
        data={"csrf_token": csrf_of(login.text), "email": web.email, "password": "wrong one!!"},
    )
    assert wrong.status_code == 401
    assert "Invalid email or password" in wrong.text
    ok = await client.post(
        "/app/login",
        data={
            "csrf_token": csrf_of(wrong.text),
            "email": web.email,
            "password": PASSWORD,
            "next": web.url("knowledge"),
        },
    )
    assert ok.status_code == 303
    assert ok.headers["location"] == web.url("knowledge")


async def test_login_refuses_an_offsite_next(client: httpx.AsyncClient, web: WebOwner) -> None:
    await web.post("/app/logout")
    login = await client.get("/app/login")
    ok = await client.post(
        "/app/login",
        data={
            "csrf_token": csrf_of(login.text),
            "email": web.email,
            "password": PASSWORD,
            "next": "//evil.example/steal",
        },
    )
    assert ok.headers["location"] == "/app/"


async def test_state_changes_without_the_csrf_token_are_refused(web: WebOwner) -> None:
    without = await web.client.post("/app/logout")
    assert without.status_code == 403
    assert "csrf" in without.text.lower() or "expired" in without.text
    wrong = await web.client.post("/app/logout", data={"csrf_token": "forged"})
    assert wrong.status_code == 403
    header = await web.client.post("/app/logout", headers={"X-CSRF-Token": web.csrf})
    assert header.status_code == 303


async def test_a_form_sent_after_signing_out_asks_to_log_in(web: WebOwner) -> None:
    """A tab still showing a workspace's form after the owner signed out elsewhere: the post
    leads to the login page (it said "the form expired or did not come from this site")."""
    form_token = web.csrf
    out = await web.client.post("/app/logout", headers={"X-CSRF-Token": web.csrf})
    assert out.status_code == 303
    stale = await web.post(
        web.url("knowledge/faqs"),
        {"question": "Still there?", "answer": "Yes.", "csrf_token": form_token},
    )
    assert stale.status_code == 303
    assert stale.headers["location"].startswith("/app/login?next=")
    # Without a session and with no token at all, outside a workspace: still a CSRF refusal
    # (but Log out, which has nothing left to end, leads to the login page: test_signed_out).
    assert (await web.client.post("/app/switch")).status_code == 403


async def test_login_form_needs_its_csrf_cookie(runtime: object) -> None:
    async with client_for(runtime) as fresh:  # type: ignore[arg-type]
        response = await fresh.post(
            "/app/login", data={"email": "a@example.com", "password": "x", "csrf_token": "x"}
        )
        assert response.status_code == 403


async def test_a_session_cookie_does_not_authenticate_the_json_api(web: WebOwner) -> None:
    response = await web.client.get(f"/api/v1/workspaces/{web.workspace_id}")
    assert response.status_code == 401


async def test_another_workspace_is_a_404(client: httpx.AsyncClient, web: WebOwner) -> None:
    other = await signup(client, "Globex")
    for workspace_id in (other.workspace_id, str(uuid.uuid4()), "not-a-uuid"):
        response = await web.client.get(f"/app/w/{workspace_id}")
        assert response.status_code == 404
        assert "Globex" not in response.text
        assert "Page not found" in response.text


async def test_switcher_lists_every_workspace_of_the_user(runtime: object) -> None:
    async with client_for(runtime) as c:  # type: ignore[arg-type]
        web = await web_signup(c, "First Shop")
        second = await c.post(
            "/api/v1/workspaces",
            json={"name": "Second Shop"},
            headers={"Authorization": "Bearer " + await _token(c, web.email)},
        )
        assert second.status_code == 201
        page = await c.get(web.url())
        assert "Second Shop" in page.text
        assert "First Shop" in page.text
        switched = await web.post("/app/switch", {"workspace_id": second.json()["id"]})
        assert switched.headers["location"] == f"/app/w/{second.json()['id']}"
        foreign = await web.post("/app/switch", {"workspace_id": str(uuid.uuid4())})
        assert foreign.status_code == 404
        # From a section (its list or one of its items) the switch lands on the same section of
        # the other workspace: an owner reading both workspaces' leads landed on "Getting
        # started" at every switch. The form names the section; anything else is the overview.
        leads = await c.get(web.url("leads"))
        assert re.search(r'<input type="hidden" name="page" value="leads">', leads.text)
        item = await c.get(web.url(f"leads/{uuid.uuid4()}"))
        assert re.search(r'<input type="hidden" name="page" value="leads">', item.text)
        second_id = second.json()["id"]
        same = await web.post("/app/switch", {"workspace_id": second_id, "page": "leads"})
        assert same.headers["location"] == f"/app/w/{second_id}/leads"
        for page in ("", "leads/../team", "//evil.example", "no-such-page"):
            other = await web.post("/app/switch", {"workspace_id": second_id, "page": page})
            assert other.headers["location"] == f"/app/w/{second_id}", page


async def _token(client: httpx.AsyncClient, email: str) -> str:
    response = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    return str(response.json()["access_token"])


async def test_static_files_and_vendored_htmx_are_served(client: httpx.AsyncClient) -> None:
    htmx = await client.get("/app/static/vendor/htmx.min.js")
    assert htmx.status_code == 200
    assert "htmx" in htmx.text[:2000]
    css = await client.get("/app/static/app.css")
    assert css.status_code == 200


async def test_logout_ends_the_session_on_the_server(runtime: object) -> None:
    async with client_for(runtime) as c:  # type: ignore[arg-type]
        web = await web_signup(c, "Replay Co")
        cookie = c.cookies.get("tb_session")
        assert cookie
        assert cookie.startswith("ws_")
        await web.post("/app/logout")
    # The old cookie, replayed by someone who kept it, no longer works.
    async with client_for(runtime) as thief:  # type: ignore[arg-type]
        thief.cookies.set("tb_session", cookie, path="/app")
        response = await thief.get(web.url())
        assert response.status_code == 303
        assert response.headers["location"].startswith("/app/login")


async def test_sessions_page_lists_and_revokes_at_once(runtime: object) -> None:
    async with client_for(runtime) as laptop, client_for(runtime) as phone:  # type: ignore[arg-type]
        web = await web_signup(laptop, "Two Devices")
        login = await phone.get("/app/login")
        signed_in = await phone.post(
            "/app/login",
            data={"csrf_token": csrf_of(login.text), "email": web.email, "password": PASSWORD},
            headers={"User-Agent": "PhoneBrowser/1.0"},
        )
        assert signed_in.status_code == 303
        assert (await phone.get(web.url())).status_code == 200
        page = await laptop.get("/app/sessions")
        assert page.status_code == 200
        assert "PhoneBrowser/1.0" in page.text
        assert "this browser" in page.text
        rows = re.findall(r'data-session="([^"]+)"', page.text)
        assert len(rows) == 2
        phone_row = next(
            r for r in rows if "PhoneBrowser" in page.text.split(f'data-session="{r}"')[1][:400]
        )
        revoked = await web.post(f"/app/sessions/{phone_row}/revoke")
        assert revoked.status_code == 303
        after = await phone.get(web.url())
        assert after.status_code == 303  # signed out at its next request
        assert (await laptop.get(web.url())).status_code == 200
        foreign = await web.post(f"/app/sessions/{uuid.uuid4()}/revoke")
        assert foreign.status_code == 404


async def test_opening_the_address_a_form_posted_to_leads_to_its_page(web: WebOwner) -> None:
    """A refused or answered form is shown at the address it posted to (the new API key's
    page at .../team/api-keys, a refused CSV import at .../knowledge/faqs/import). Opened again
    from the address bar, a restored tab or a bookmark, that address answered "Page not found:
    ... or it belongs to a workspace you are not a member of", in the owner's own workspace. It
    leads to the page the form is on; an address no form posts to is still not found."""
    member = web.workspace_id
    landings = {
        "team/api-keys": f"/app/w/{member}/team",
        "knowledge/faqs/import": f"/app/w/{member}/knowledge",
        "knowledge/upload": f"/app/w/{member}/knowledge",
        f"team/members/{uuid.uuid4()}/role": f"/app/w/{member}/team",
        f"/app/sessions/{uuid.uuid4()}/revoke": "/app/sessions",
    }
    for posted_to, page in landings.items():
        opened = await web.client.get(
            posted_to if posted_to.startswith("/") else web.url(posted_to)
        )
        assert opened.status_code == 303, (posted_to, opened.text[:300])
        assert opened.headers["location"] == page
        assert (await web.client.get(page)).status_code == 200
    for unknown in ("team/nothing-here", "knowledge/faqs/import/more"):
        response = await web.client.get(web.url(unknown))
        assert response.status_code == 404
        assert "Page not found" in response.text

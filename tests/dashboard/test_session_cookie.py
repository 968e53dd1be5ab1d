"""Over HTTPS the dashboard's session cookie is ``__Host-tb_session`` (Secure, Path=/, no Domain):
only this host can set it. The plain ``tb_session`` (Path=/app) could be planted by any sibling
subdomain that sets cookies for the parent domain: with Path=/ it came after the browser's own
cookie in the Cookie header, the last value of a name won, and the browser was signed in to the
planter's account (whatever was uploaded or typed then went to the planter). Plain HTTP (``make
run``) keeps ``tb_session``: a browser keeps no ``__Host-`` cookie without TLS. Upgrading over
HTTPS signs every browser out once: a ``tb_session`` there is ignored and cleared at sign-in."""

from __future__ import annotations

import httpx

from api.runtime import Runtime
from tests.conftest import client_for
from tests.dashboard.conftest import PASSWORD, WebOwner, csrf_of, web_login, web_signup
from workspaces import sessions as web_sessions

HTTPS = "https://testserver"
HOST_COOKIE = "__Host-tb_session"


def _set_cookies(response: httpx.Response) -> list[str]:
    return [v for k, v in response.headers.multi_items() if k == "set-cookie"]


def _flags(cookie: str) -> set[str]:
    return {part.strip().lower() for part in cookie.split(";")[1:]}


async def _https_owner(runtime: Runtime, name: str) -> tuple[WebOwner, str]:
    """An account signed in over HTTPS, and its session cookie's value."""
    async with client_for(runtime, base_url=HTTPS) as browser:
        owner = await web_signup(browser, name)
        return owner, browser.cookies[HOST_COOKIE]


async def _signed_in_as(runtime: Runtime, cookie_header: str) -> str | None:
    """The account a browser sending this Cookie header is signed in to (None: the login page)."""
    async with client_for(runtime, base_url=HTTPS) as browser:
        page = await browser.get("/app/account", headers={"Cookie": cookie_header})
        if page.status_code == 303:
            assert "/app/login" in page.headers["location"], page.headers
            return None
        assert page.status_code == 200, page.text
        return page.text


async def test_over_https_the_session_cookie_is_host_only(runtime: Runtime) -> None:
    async with client_for(runtime, base_url=HTTPS) as browser:
        owner = await web_signup(browser, "Host only")
        signed_in = await web_login(browser, owner.email, PASSWORD)
        assert signed_in.status_code == 303, signed_in.text
        [cookie] = [
            c
            for c in _set_cookies(signed_in)
            if "tb_session=" in c and "max-age=0" not in c.lower()
        ]
        assert cookie.startswith(HOST_COOKIE + "="), cookie
        assert {"secure", "httponly", "path=/", "samesite=lax"} <= _flags(cookie), cookie
        assert not any(flag.startswith("domain=") for flag in _flags(cookie)), cookie
        # Logging out clears that very cookie.
        page = await browser.get("/app/account")
        out = await browser.post("/app/logout", headers={"X-CSRF-Token": csrf_of(page.text)})
        assert out.status_code == 303, out.text
        cleared = [c for c in _set_cookies(out) if c.startswith(HOST_COOKIE + "=")]
        assert cleared, _set_cookies(out)
        assert "max-age=0" in cleared[0].lower(), cleared


async def test_a_planted_session_cookie_does_not_shadow_the_browsers_own(
    runtime: Runtime,
) -> None:
    """The victim is signed in; a sibling subdomain sets ``tb_session`` (the planter's own
    session) for the parent domain with Path=/. The browser sends both; the victim stays
    signed in to the victim's account."""
    victim, victim_cookie = await _https_owner(runtime, "Victim's")
    planter, planter_cookie = await _https_owner(runtime, "Planter's")
    # Before: tb_session=<own, Path=/app>; tb_session=<planted, Path=/> (longer path first).
    shown = await _signed_in_as(
        runtime, f"{HOST_COOKIE}={victim_cookie}; tb_session={planter_cookie}"
    )
    assert shown is not None
    assert victim.email in shown
    assert planter.email not in shown
    # A browser signed in to nothing is not signed in to the planter's account either.
    assert await _signed_in_as(runtime, f"tb_session={planter_cookie}") is None


async def test_the_upgrade_signs_a_browser_out_once_and_clears_the_old_cookie(
    runtime: Runtime,
) -> None:
    """A ``tb_session`` from before the upgrade is not trusted over HTTPS (a planted one looks
    the same): the browser signs in again, and that sign-in clears the old cookie."""
    owner, old_cookie = await _https_owner(runtime, "Upgraded")  # as tb_session before it
    async with client_for(runtime, base_url=HTTPS) as browser:
        browser.cookies.set("tb_session", old_cookie, path="/app")
        assert (await browser.get("/app/account")).status_code == 303
        signed_in = await web_login(browser, owner.email, PASSWORD)
        assert signed_in.status_code == 303, signed_in.text
        cleared = [c for c in _set_cookies(signed_in) if c.startswith("tb_session=")]
        assert cleared, _set_cookies(signed_in)
        assert "max-age=0" in cleared[0].lower()
        assert "path=/app" in cleared[0].lower()
        assert (await browser.get("/app/account")).status_code == 200
    # The sign-in ended the old cookie's session, as it ends any cookie it replaces.
    async with runtime.db.transaction() as session:
        assert await web_sessions.authenticate(session, old_cookie) is None

"""Signing in to the dashboard ends the session of the cookie the browser still sent: the new
cookie only overwrote it in that browser, and a copy of the old one (taken from the machine,
a backup, a shared computer) went on working until it expired."""

from __future__ import annotations

import httpx

from tests.conftest import client_for, runtime_of
from tests.dashboard.conftest import PASSWORD, WebOwner, web_login, web_signup
from workspaces import sessions as web_sessions


async def test_a_sign_in_ends_the_browsers_previous_session(
    client: httpx.AsyncClient, web: WebOwner
) -> None:
    old_cookie = client.cookies["tb_session"]
    again = await web_login(client, web.email, PASSWORD)
    assert again.status_code == 303, again.text
    assert client.cookies["tb_session"] != old_cookie
    assert (await client.get("/app/account")).status_code == 200  # the new cookie works
    async with client_for(runtime_of(client)) as copied:  # another browser with the old cookie
        copied.cookies.set("tb_session", old_cookie, path="/app")
        shown = await copied.get("/app/account")
        assert shown.status_code == 303, shown.text
        assert "/app/login" in shown.headers["location"]
    async with runtime_of(client).db.transaction() as session:
        assert await web_sessions.authenticate(session, old_cookie) is None


async def test_a_failed_sign_in_ends_nothing(client: httpx.AsyncClient, web: WebOwner) -> None:
    refused = await web_login(client, web.email, "not the password")
    assert refused.status_code == 401, refused.text
    assert (await client.get("/app/account")).status_code == 200


async def test_signing_in_as_another_account_in_the_same_browser(
    client: httpx.AsyncClient, web: WebOwner
) -> None:
    """The browser still holds the first account's cookie when the second account signs in:
    the first's session ends and the second is signed in."""
    async with client_for(runtime_of(client)) as elsewhere:
        second = await web_signup(elsewhere, "Second account")
    old_cookie = client.cookies["tb_session"]
    signed_in = await web_login(client, second.email, PASSWORD)
    assert signed_in.status_code == 303, signed_in.text
    shown = await client.get("/app/account")
    assert shown.status_code == 200
    assert second.email in shown.text
    async with runtime_of(client).db.transaction() as session:
        assert await web_sessions.authenticate(session, old_cookie) is None

"""The account page: an owner changes their password and confirms their email address from the
dashboard, as the API lets them (before, the dashboard had neither)."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest

from api.runtime import Runtime
from tests.conftest import client_for, mail_token, signup
from tests.dashboard.conftest import PASSWORD, SAME_ORIGIN, WebOwner, csrf_of, web_login

NEW_PASSWORD = "an altogether new passphrase"


async def test_an_owner_changes_their_password_and_stays_signed_in_here_only(
    web: WebOwner, runtime: Runtime
) -> None:
    home = await web.client.get(web.url())
    assert 'href="/app/account"' in home.text  # the header's email leads to the account page
    async with client_for(runtime) as other:  # another browser, signed in before the change
        assert (await web_login(other, web.email, PASSWORD)).status_code == 303
        assert (await other.get("/app/account")).status_code == 200

        page = await web.client.get("/app/account")
        assert page.status_code == 200
        assert web.email in page.text
        wrong = await web.post(
            "/app/account/password",
            {"current_password": "not my password", "new_password": NEW_PASSWORD},
        )
        assert wrong.status_code == 422
        assert "current password is not correct" in wrong.text
        weak = await web.post(
            "/app/account/password",
            {"current_password": PASSWORD, "new_password": web.email},
        )
        assert weak.status_code == 422
        assert "must not be your email address" in weak.text
        assert (await web_login(other, web.email, PASSWORD)).status_code == 303  # unchanged

        done = await web.post(
            "/app/account/password",
            {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        )
        assert done.status_code == 303, done.text
        assert done.headers["location"].startswith("/app/account?notice=Password+changed")
        assert (await web.client.get("/app/account")).status_code == 200  # this browser stays
        signed_out = await other.get("/app/account")
        assert signed_out.status_code == 303
        assert signed_out.headers["location"].startswith("/app/login")
        assert (await web_login(other, web.email, PASSWORD)).status_code == 401
        assert (await web_login(other, web.email, NEW_PASSWORD)).status_code == 303


async def test_an_unconfirmed_owner_is_sent_to_confirm_from_the_account_page(
    client: httpx.AsyncClient,
) -> None:
    owner = await signup(client, "Unconfirmed", verify=False)
    assert (await web_login(client, owner.email, owner.password)).status_code == 303
    team = await client.get(f"/app/w/{owner.workspace_id}/team")
    invite = await client.post(
        f"/app/w/{owner.workspace_id}/team/members",
        data={
            "csrf_token": csrf_of(team.text),
            "email": f"teammate-{uuid.uuid4().hex[:10]}@example.com",
            "role": "member",
        },
    )
    assert invite.status_code == 403
    assert "Confirm your email address first" in invite.text
    assert "/api/v1" not in invite.text  # the API's resend is no use on a page
    assert 'href="/app/account"' in invite.text

    page = await client.get("/app/account")
    assert "Send the link again" in page.text
    first = await mail_token(client, owner.email, "verify_email")
    sent = await client.post("/app/account/verify-email", data={"csrf_token": csrf_of(page.text)})
    assert sent.status_code == 303, sent.text
    token = await mail_token(client, owner.email, "verify_email")
    assert token != first
    link = await client.get(f"/app/verify-email?token={token}")
    assert link.status_code == 200, link.text
    assert "Send the link again" in (await client.get("/app/account")).text  # not yet
    confirmed = await client.post(
        "/app/verify-email", data={"csrf_token": csrf_of(link.text), "token": token}
    )
    assert confirmed.status_code == 200, confirmed.text
    page = await client.get("/app/account")
    assert "Send the link again" not in page.text
    assert "confirmed" in page.text


async def test_an_unconfirmed_owners_settings_keep_what_was_typed(
    client: httpx.AsyncClient,
) -> None:
    """A webhook needs a confirmed address: the form says so up front, and a refused save
    keeps the typed name and address with the reason beside the address."""
    owner = await signup(client, "Unconfirmed", verify=False)
    assert (await web_login(client, owner.email, owner.password)).status_code == 303
    settings = f"/app/w/{owner.workspace_id}/settings"
    page = await client.get(settings)
    assert 'data-testid="webhook-needs-verification"' in page.text
    name = f"Acme Sweets Pune {uuid.uuid4().hex[:6]}"
    hook = "https://hooks.example.com/trulybot"
    refused = await client.post(
        settings, data={"csrf_token": csrf_of(page.text), "name": name, "webhook_url": hook}
    )
    assert refused.status_code == 403
    assert "<h1>Settings</h1>" in refused.text
    assert f'value="{name}"' in refused.text
    assert f'value="{hook}"' in refused.text
    assert 'id="webhook-err"' in refused.text
    assert "Confirm your email address before setting a webhook" in refused.text
    after = await client.get(settings)  # nothing was saved
    assert name not in after.text
    # Without a webhook, the name alone is saved.
    renamed = await client.post(settings, data={"csrf_token": csrf_of(page.text), "name": name})
    assert renamed.status_code == 303
    assert name in (await client.get(settings)).text


async def test_an_unconfirmed_owners_export_link_shows_why(client: httpx.AsyncClient) -> None:
    """The export link is a plain link (the file's name comes from the answer): a browser shows
    the "Confirm your email" page instead of a failed download."""
    owner = await signup(client, "Unconfirmed", verify=False)
    assert (await web_login(client, owner.email, owner.password)).status_code == 303
    page = await client.get(f"/app/w/{owner.workspace_id}/leads")
    link = re.search(r'<a [^>]*data-testid="export"[^>]*>', page.text)
    assert link is not None
    assert " download" not in link.group(0)
    export = await client.get(f"/app/w/{owner.workspace_id}/leads/export", headers=SAME_ORIGIN)
    assert export.status_code == 403
    assert "Confirm your email" in export.text


async def test_an_owner_deletes_their_account_from_the_account_page(
    web: WebOwner, runtime: Runtime
) -> None:
    """The API's account deletion from the dashboard: a wrong password keeps everything and says
    so beside the form; the right one deletes the account and its lone workspace and signs this
    browser out, and the address no longer signs in."""
    page = await web.client.get("/app/account")
    assert 'data-testid="delete-account"' in page.text
    wrong = await web.post("/app/account/delete", {"password": "not my password"})
    assert wrong.status_code == 403
    assert "password is not correct" in wrong.text
    assert (await web.client.get(web.url())).status_code == 200  # nothing happened

    done = await web.post("/app/account/delete", {"password": PASSWORD})
    assert done.status_code == 303, done.text
    assert done.headers["location"].startswith("/app/login?notice=")
    said = await web.client.get(done.headers["location"])  # this browser, signed out now
    assert "Your account is deleted" in said.text  # it was a bare sign-in form
    assert 'tb_session=""' in done.headers.get("set-cookie", "") or "Max-Age=0" in (
        done.headers.get("set-cookie", "")
    )
    gone = await web.client.get(web.url())
    assert gone.status_code in (303, 307)
    assert gone.headers["location"].startswith("/app/login")
    async with client_for(runtime) as other:
        assert (await web_login(other, web.email, PASSWORD)).status_code == 401


@pytest.mark.parametrize(
    "browser",
    [
        {},
        {
            "Sec-Fetch-Site": "same-origin",
            "Sec-Fetch-Mode": "navigate",
            "Sec-Fetch-Dest": "document",
        },
    ],
    ids=["plain", "browser-headers"],
)
async def test_the_confirm_button_pressed_twice_says_the_address_is_confirmed(
    client: httpx.AsyncClient, browser: dict[str, str]
) -> None:
    """A double click (or Back and again) on "Confirm my address" confirmed it, then showed
    "This link was already used": an error about nothing (new-dashboard review F2). Since the
    first press signs the browser in, the second carries the signed-out page's token: it is
    answered "confirmed" too, not "the form expired" nor "your session changed"."""
    owner = await signup(client, "Double click", verify=False)
    token = await mail_token(client, owner.email, "verify_email")
    link = await client.get(f"/app/verify-email?token={token}")
    # Signed up through the API: no dashboard session here, so the account's password.
    form = {"csrf_token": csrf_of(link.text), "token": token, "password": owner.password}
    first = await client.post("/app/verify-email", data=form, headers=browser)
    again = await client.post("/app/verify-email", data=form, headers=browser)
    assert first.status_code == again.status_code == 200, again.text
    assert "already used" not in again.text
    assert again.text.count("confirmed") == first.text.count("confirmed") > 0


async def test_a_password_change_ends_a_copy_of_this_browsers_cookie(
    web: WebOwner, runtime: Runtime
) -> None:
    """Someone who copied this browser's session cookie (the reason one changes a password)
    kept the session: the change ended every session but this one, and the copy is this one.
    Now this browser gets a new session and cookie, and the old cookie stops working."""
    stolen = web.client.cookies["tb_session"]
    async with client_for(runtime) as thief:
        thief.cookies.set("tb_session", stolen, path="/app")
        assert (await thief.get("/app/account")).status_code == 200
        done = await web.post(
            "/app/account/password",
            {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        )
        assert done.status_code == 303, done.text
        signed_out = await thief.get("/app/account")
        assert signed_out.status_code == 303
        assert signed_out.headers["location"].startswith("/app/login")
    assert web.client.cookies["tb_session"] != stolen
    page = await web.client.get("/app/account")  # this browser stays signed in
    assert page.status_code == 200
    # Its forms carry the new cookie's CSRF token, and they work.
    sent = await web.client.post(
        "/app/sessions/revoke-others", data={"csrf_token": csrf_of(page.text)}
    )
    assert sent.status_code == 303, sent.text


async def test_the_account_pages_password_forms_name_the_account_for_password_managers(
    web: WebOwner,
) -> None:
    """An owner's walk: Chromium warned "Password forms should have (optionally hidden) username
    fields" on the account page, and a password manager saving the new password did not know
    for which account. Each password form names the address, hidden and sent nowhere."""
    page = (await web.client.get("/app/account")).text
    forms = re.findall(r"<form [^>]*>.*?</form>", page, flags=re.DOTALL)
    with_password = [form for form in forms if 'type="password"' in form]
    assert len(with_password) == 2  # the password change and the account's deletion
    for form in with_password:
        username = re.search(r'<input [^>]*autocomplete="username"[^>]*>', form)
        assert username, form
        assert f'value="{web.email}"' in username.group(0)
        assert " hidden" in username.group(0)
        assert "name=" not in username.group(0)  # not posted


async def test_the_password_changed_notice_shows_once_after_the_cookie_changed(
    web: WebOwner, runtime: Runtime
) -> None:
    """The change gives this browser a new session cookie, and the notice of the redirect was
    signed for the old one: the owner followed it to an account page without "Password
    changed". The notice is signed for the cookie the browser holds next; it shows once, and
    the old cookie stays ended."""
    old = web.client.cookies["tb_session"]
    done = await web.post(
        "/app/account/password",
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert done.status_code == 303, done.text
    assert web.client.cookies["tb_session"] != old
    page = await web.client.get(done.headers["location"])
    assert page.status_code == 200
    assert "Password changed. You were signed out everywhere else." in page.text
    again = await web.client.get(done.headers["location"])  # a reload shows it no more
    assert again.status_code == 200
    assert "Password changed" not in again.text
    async with client_for(runtime) as old_browser:
        old_browser.cookies.set("tb_session", old, path="/app")
        ended = await old_browser.get(done.headers["location"])
        assert ended.status_code == 303
        assert ended.headers["location"].startswith("/app/login")

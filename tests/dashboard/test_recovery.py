"""The dashboard pages the account mails link to: a forgotten password and an invitation, used
as a person would (the form, the link in the mail, the new password, logging in)."""

from __future__ import annotations

import html
import re
import uuid

import httpx
from sqlalchemy import text

from api.runtime import Runtime
from core.db import Database
from tests.conftest import client_for, login, mail_token, signup
from tests.dashboard.conftest import PASSWORD, WebOwner, csrf_of, invitation, web_login
from tests.workspaces.test_accounts import _age

NEW_PASSWORD = "a brand new passphrase"


async def test_a_forgotten_password_is_reset_from_the_mailed_link(
    client: httpx.AsyncClient,
) -> None:
    owner = await signup(client, "Forgetful")
    login_page = await client.get("/app/login")
    assert 'href="/app/forgot-password"' in login_page.text

    page = await client.get("/app/forgot-password")
    answers = []
    for email in (owner.email, f"nobody-{uuid.uuid4().hex[:10]}@example.com"):
        sent = await client.post(
            "/app/forgot-password", data={"csrf_token": csrf_of(page.text), "email": email}
        )
        assert sent.status_code == 200, sent.text
        answers.append(sent.text.replace(email, "EMAIL"))
    # The same page whether or not the address has an account.
    assert answers[0] == answers[1]
    assert "Check your email" in answers[0]

    token = await mail_token(client, owner.email, "password_reset")
    form = await client.get(f"/app/reset-password?token={token}")
    assert form.status_code == 200
    assert f'value="{token}"' in form.text
    short = await client.post(
        "/app/reset-password",
        data={"csrf_token": csrf_of(form.text), "token": token, "password": "short"},
    )
    assert short.status_code == 422
    done = await client.post(
        "/app/reset-password",
        data={"csrf_token": csrf_of(form.text), "token": token, "password": NEW_PASSWORD},
    )
    assert done.status_code == 303, done.text
    assert done.headers["location"].startswith("/app/login?notice=")
    told = await client.get(done.headers["location"])
    assert "Password changed. Log in with the new one." in told.text
    # A page says only what this server sends it there to say (the notice is signed), on the
    # public login page and on a signed-in one alike.
    forged = "?notice=Your+account+is+locked.+Call+555-0100."
    shown = await client.get("/app/login" + forged)
    assert "Call 555-0100" not in shown.text

    assert (await web_login(client, owner.email, owner.password)).status_code == 401
    assert (await web_login(client, owner.email, NEW_PASSWORD)).status_code == 303
    shown = await client.get("/app/account" + forged)  # signed in
    assert shown.status_code == 200
    assert "Call 555-0100" not in shown.text
    # The link works once.
    form = await client.get(f"/app/reset-password?token={token}")  # signed in now
    again = await client.post(
        "/app/reset-password",
        data={"csrf_token": csrf_of(form.text), "token": token, "password": NEW_PASSWORD + "!"},
    )
    assert again.status_code == 422
    assert (await web_login(client, owner.email, NEW_PASSWORD + "!")).status_code == 401


async def test_an_invitation_link_creates_the_account_and_joins_the_workspace(
    client: httpx.AsyncClient,
) -> None:
    owner, invited, token = await invitation(client)
    form = await client.get(f"/app/accept-invitation?token={token}")
    assert form.status_code == 200
    assert 'name="password"' in form.text
    # "Log in first" (an address with an account) comes back to this invitation afterwards:
    # the link kept no token, so the invited person lost it (a tester's finding).
    link = re.search(r'href="([^"]+)" data-testid="login-then-accept"', form.text)
    assert link
    login_page = await client.get(html.unescape(link.group(1)))
    assert f'value="/app/accept-invitation?token={token}"' in html.unescape(login_page.text)
    joined = await client.post(
        "/app/accept-invitation",
        data={"csrf_token": csrf_of(form.text), "token": token, "password": PASSWORD},
    )
    assert joined.status_code == 303, joined.text
    # The new member is signed in and lands in the workspace they joined: they had just chosen
    # the password, and the login page asked for the address and that password again.
    assert joined.headers["location"].rstrip("/").endswith(owner.workspace_id)
    landing = await client.get(joined.headers["location"])
    assert landing.status_code == 200, landing.text
    assert "Getting started" in landing.text
    # That one dashboard session: accepting on the page made no API session.
    tokens = await login(client, invited, PASSWORD)
    listed = await client.get(
        "/api/v1/auth/sessions", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert sorted(s["kind"] for s in listed.json()) == ["api", "web"]

    # A used token is refused on the page, not with a server error.
    form = await client.get(f"/app/accept-invitation?token={token}")  # signed in now
    used = await client.post(
        "/app/accept-invitation", data={"csrf_token": csrf_of(form.text), "token": token}
    )
    assert used.status_code == 422


async def test_a_refused_new_password_leaves_the_reset_link_usable(
    client: httpx.AsyncClient,
) -> None:
    """Long enough for the form but refused by the policy (one repeated character): the page
    says so and the same link still sets the next password, as it does through the API."""
    owner = await signup(client, "Retrying")
    page = await client.get("/app/forgot-password")
    await client.post(
        "/app/forgot-password", data={"csrf_token": csrf_of(page.text), "email": owner.email}
    )
    token = await mail_token(client, owner.email, "password_reset")
    form = await client.get(f"/app/reset-password?token={token}")
    weak = await client.post(
        "/app/reset-password",
        data={"csrf_token": csrf_of(form.text), "token": token, "password": "z" * 12},
    )
    assert weak.status_code == 422
    assert "repeat" in weak.text
    done = await client.post(
        "/app/reset-password",
        data={"csrf_token": csrf_of(form.text), "token": token, "password": NEW_PASSWORD},
    )
    assert done.status_code == 303, done.text
    assert (await web_login(client, owner.email, NEW_PASSWORD)).status_code == 303


async def test_a_refused_acceptance_leaves_the_invitation_usable(
    client: httpx.AsyncClient, owner_db: Database
) -> None:
    """Refused on the page (a password the policy refuses; then a plan whose members are all
    taken since the invitation left): no half-made account or used link is kept, and the same
    link joins once the workspace has room."""
    owner = await signup(client, "Patient")

    async def set_plan(plan: str) -> None:
        async with owner_db.transaction() as session:
            await session.execute(
                text("UPDATE workspaces SET plan = :p, plan_expires_at = NULL WHERE id = :w"),
                {"p": plan, "w": owner.workspace_id},
            )

    await set_plan("starter")
    invited = [f"invited-{uuid.uuid4().hex[:10]}@example.com" for _ in range(2)]
    for email in invited:
        response = await client.post(
            f"/api/v1/workspaces/{owner.workspace_id}/members",
            json={"email": email, "role": "member"},
            headers={"Authorization": f"Bearer {owner.token}"},
        )
        assert response.status_code == 202, response.text
    tokens = [await mail_token(client, email, "invitation") for email in invited]
    form = await client.get(f"/app/accept-invitation?token={tokens[1]}")
    weak = await client.post(
        "/app/accept-invitation",
        data={"csrf_token": csrf_of(form.text), "token": tokens[1], "password": invited[1]},
    )
    assert weak.status_code == 422
    assert "must not be your email address" in weak.text

    await set_plan("free")  # two members: the owner and one teammate
    joined = []
    for token in tokens:
        client.cookies.clear()  # each invited person in a browser of their own (signed in after)
        form = await client.get(f"/app/accept-invitation?token={token}")
        joined.append(
            await client.post(
                "/app/accept-invitation",
                data={"csrf_token": csrf_of(form.text), "token": token, "password": PASSWORD},
            )
        )
    assert joined[0].status_code == 303, joined[0].text
    assert joined[1].status_code == 422
    assert (await web_login(client, invited[1], PASSWORD)).status_code == 401  # no account made

    await set_plan("starter")
    again = await client.post(
        "/app/accept-invitation",
        data={"csrf_token": csrf_of(form.text), "token": tokens[1], "password": PASSWORD},
    )
    assert again.status_code == 303, again.text
    assert (await web_login(client, invited[1], PASSWORD)).status_code == 303


async def test_confirming_the_address_with_the_password_signs_the_browser_in(
    client: httpx.AsyncClient,
) -> None:
    """Every new owner: sign up (not signed in: the page says "check your email" whether or
    not the address had an account), open the mailed link, type the password and confirm. The
    page said "close this page and sign in", and the login page asked for the address and the
    same password again. The password just checked signs this browser in."""
    owner = await signup(client, "Confirming", verify=False)
    token = await mail_token(client, owner.email, "verify_email")
    page = await client.get(f"/app/verify-email?token={token}")
    assert 'name="password"' in page.text
    wrong = await client.post(
        "/app/verify-email",
        data={"csrf_token": csrf_of(page.text), "token": token, "password": "not the password"},
    )
    assert wrong.status_code == 403
    assert (await client.get("/app/")).status_code == 303  # still signed out: to the login page
    assert "/app/login" in (await client.get("/app/")).headers["location"]
    confirmed = await client.post(
        "/app/verify-email",
        data={"csrf_token": csrf_of(page.text), "token": token, "password": owner.password},
    )
    assert confirmed.status_code == 200, confirmed.text
    assert "Email confirmed" in confirmed.text
    assert "close this page and sign in" not in confirmed.text
    assert 'href="/app/"' in confirmed.text  # on to the dashboard
    home = await client.get("/app/")
    assert home.status_code == 303
    assert home.headers["location"].rstrip("/").endswith(owner.workspace_id)
    assert "Getting started" in (await client.get(home.headers["location"])).text


async def test_a_verification_link_that_cannot_be_used_says_so_before_a_password_is_typed(
    client: httpx.AsyncClient, owner_db: Database
) -> None:
    """An expired confirmation link, opened signed out, asked for the account's password and
    only said "This link has expired" once it was typed and sent (the reset and invitation
    links' pages say so at once). A link used already, opened again (the mail read twice),
    asked for the password too, to say "Email confirmed" after."""
    late = await signup(client, "Late", verify=False)
    token = await mail_token(client, late.email, "verify_email")
    await _age(owner_db, "account_tokens", token)
    page = await client.get(f"/app/verify-email?token={token}")
    assert page.status_code == 400
    assert "This link has expired" in page.text
    assert 'name="password"' not in page.text
    assert 'href="/app/login"' in page.text  # where a new one is sent from

    confirmed = await signup(client, "Confirmed")  # its link used (verify=True)
    used = await mail_token(client, confirmed.email, "verify_email")
    again = await client.get(f"/app/verify-email?token={used}")
    assert again.status_code == 200
    assert "Email confirmed" in again.text
    assert 'name="password"' not in again.text


async def test_a_reset_from_the_mailed_link_signs_every_other_browser_out(
    runtime: Runtime, web: WebOwner
) -> None:
    """Whoever reset the password (the address's owner, taking back an account someone else
    was signed in to) leaves no dashboard session of the old password working: the browser
    signed in before is sent to the login page at its next click, and its forms are refused."""
    async with client_for(runtime) as elsewhere:
        page = await elsewhere.get("/app/forgot-password")
        asked = await elsewhere.post(
            "/app/forgot-password", data={"csrf_token": csrf_of(page.text), "email": web.email}
        )
        assert asked.status_code == 200
        await runtime.jobs.drain()
        token = await mail_token(elsewhere, web.email, "password_reset")
        form = await elsewhere.get(f"/app/reset-password?token={token}")
        done = await elsewhere.post(
            "/app/reset-password",
            data={"csrf_token": csrf_of(form.text), "token": token, "password": NEW_PASSWORD},
        )
        assert done.status_code == 303, done.text
    signed_out = await web.client.get(web.url("team"))
    assert signed_out.status_code == 303
    assert signed_out.headers["location"].startswith("/app/login")
    refused = await web.post(web.url("knowledge/faqs"), {"question": "Still in?", "answer": "No."})
    assert refused.status_code == 303
    assert refused.headers["location"].startswith("/app/login")
    assert (await web_login(web.client, web.email, NEW_PASSWORD)).status_code == 303
    knowledge = await web.client.get(web.url("knowledge"))
    assert "Still in?" not in knowledge.text


async def test_a_used_link_of_another_account_tells_the_signed_in_browser_nothing_of_its_own(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    """A browser signed in to an unconfirmed account opened a used confirmation link of another
    account (its owner's second account, an old mail on a shared computer): the page read
    "Email confirmed. You can now invite teammates, buy a plan..." with "Go to your dashboard",
    of the signed-in account, whose address was still unconfirmed (its dashboard went on asking
    for the link). The page says the link's address is confirmed and no more."""
    confirmed = await signup(client, "Confirmed")  # its link used (verify=True)
    used = await mail_token(client, confirmed.email, "verify_email")
    other = await signup(client, "Unconfirmed", verify=False)
    async with client_for(runtime) as browser:
        assert (await web_login(browser, other.email, PASSWORD)).status_code == 303
        opened = await browser.get(f"/app/verify-email?token={used}")
        assert opened.status_code == 200
        assert "Email confirmed" in opened.text
        assert "You can now invite teammates" not in opened.text
        assert "Go to your dashboard" not in opened.text
        pressed = await browser.post(  # the button pressed on a page opened before it was used
            "/app/verify-email", data={"csrf_token": csrf_of(opened.text), "token": used}
        )
        assert pressed.status_code == 200
        assert "Email confirmed" in pressed.text
        assert "You can now invite teammates" not in pressed.text


async def test_an_expired_link_of_a_confirmed_address_says_it_is_confirmed(
    client: httpx.AsyncClient, owner_db: Database
) -> None:
    """The first confirmation mail opened after its link expired, the address confirmed
    meanwhile from a newer link: the page (before a password is typed, since rtdash) said "This
    link has expired; ask for a new one. Log in and send a new link", a link the account page
    no longer offers. It says the address is confirmed, as for a used link."""
    late = await signup(client, "Twice", verify=False)
    first = await mail_token(client, late.email, "verify_email")
    headers = {"Authorization": f"Bearer {late.token}"}
    resent = await client.post("/api/v1/auth/verify-email/resend", headers=headers)
    assert resent.status_code == 202, resent.text
    newer = await mail_token(client, late.email, "verify_email")
    assert newer != first
    confirmed = await client.post(
        "/api/v1/auth/verify-email", json={"token": newer, "password": PASSWORD}
    )
    assert confirmed.status_code == 200, confirmed.text
    await _age(owner_db, "account_tokens", first)
    page = await client.get(f"/app/verify-email?token={first}")
    assert page.status_code == 200
    assert "Email confirmed" in page.text
    assert "expired" not in page.text
    assert 'name="password"' not in page.text

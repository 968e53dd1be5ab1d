"""The account flows through the HTTP API, with the mail read from a real SMTP server (aiosmtpd):
verification, no enumeration at signup, what an unverified owner may not do, password reset and
change, invitations, the last owner."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import pytest
from sqlalchemy import text

from api.runtime import Runtime
from core.db import Database
from tests.conftest import Owner, RuntimeFactory, client_for, login
from tests.dashboard.conftest import csrf_of
from tests.fakes.smtp import Received, SmtpServer

PASSWORD = "correct horse battery"


@dataclass
class Site:
    """The app over a runtime whose mail goes to the test's SMTP server."""

    client: httpx.AsyncClient
    runtime: Runtime
    smtp: SmtpServer

    async def inbox(self, to: str) -> list[Received]:
        await self.runtime.mailer.settle()
        await self.runtime.jobs.drain()
        return self.smtp.to(to)

    async def last_mail(self, to: str, subject_has: str) -> Received:
        found = [m for m in await self.inbox(to) if subject_has in str(m.message["Subject"])]
        assert found, [str(m.message["Subject"]) for m in await self.inbox(to)]
        return found[-1]

    async def token(self, to: str, subject_has: str, path: str) -> str:
        link = (await self.last_mail(to, subject_has)).link(path)
        return parse_qs(urlsplit(link).query)["token"][0]

    async def confirm(self, link: str) -> httpx.Response:
        """Open the verification link, type the account's password and press the button, as
        the person does (this client has no dashboard session)."""
        page = await self.client.get(link)
        assert page.status_code == 200, page.text
        csrf = csrf_of(page.text)
        return await self.client.post(
            urljoin(link, "/app/verify-email"),
            data={
                "csrf_token": csrf,
                "token": parse_qs(urlsplit(link).query)["token"][0],
                "password": PASSWORD,  # not signed in here: the account's password proves it
            },
        )

    async def signup(self, name: str = "Acme", *, verify: bool = True) -> Owner:
        email = f"acct-{uuid.uuid4().hex[:10]}@example.com"
        response = await self.client.post(
            "/api/v1/auth/signup",
            json={"email": email, "password": PASSWORD, "workspace_name": name},
        )
        assert response.status_code == 202, response.text
        if verify:
            confirmed = await self.confirm(
                (await self.last_mail(email, "Confirm")).link("/verify-email")
            )
            assert confirmed.status_code == 200, confirmed.text
        tokens = await login(self.client, email, PASSWORD)
        headers = {"Authorization": f"Bearer {tokens['access_token']}"}
        me = (await self.client.get("/api/v1/me", headers=headers)).json()
        return Owner(
            email=email,
            password=PASSWORD,
            token=tokens["access_token"],
            user_id=me["user"]["id"],
            workspace_id=me["workspaces"][0]["id"],
            workspace=me["workspaces"][0],
        )


@asynccontextmanager
async def _site(
    runtime_factory: RuntimeFactory, smtp: SmtpServer, **settings: Any
) -> AsyncIterator[Site]:
    async with (
        runtime_factory(
            smtp_url=smtp.url,
            smtp_starttls="off",
            public_base_url="https://bot.example.com",
            default_plan="unlimited",
            **settings,
        ) as runtime,
        client_for(runtime) as client,
    ):
        yield Site(client=client, runtime=runtime, smtp=smtp)


@pytest.fixture
async def site(runtime_factory: RuntimeFactory, smtp: SmtpServer) -> AsyncIterator[Site]:
    async with _site(runtime_factory, smtp) as it:
        yield it


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _me(site: Site, token: str) -> httpx.Response:
    return await site.client.get("/api/v1/me", headers=_bearer(token))


async def _age(owner_db: Database, table: str, token: str) -> None:
    """Make the row a link's token names expire (its hash is what is stored)."""
    import hashlib

    async with owner_db.transaction() as s:
        result = await s.execute(
            text(
                f"UPDATE {table} SET expires_at = now() - interval '1 minute'"  # noqa: S608
                " WHERE token_hash = :h"
            ),
            {"h": hashlib.sha256(token.encode()).hexdigest()},
        )
        assert result.rowcount == 1  # type: ignore[attr-defined]


# --- verification ------------------------------------------------------------------------------


async def test_the_verification_link_arrives_and_works_once(site: Site, owner_db: Database) -> None:
    owner = await site.signup("Verify me", verify=False)
    assert (await _me(site, owner.token)).json()["user"]["email_verified_at"] is None
    mail = await site.last_mail(owner.email, "Confirm your email")
    link = mail.link("/app/verify-email")
    assert link.startswith("https://bot.example.com/app/verify-email?token=")
    assert mail.html is not None
    assert link.replace("&", "&amp;") in mail.html
    token = parse_qs(urlsplit(link).query)["token"][0]
    # Opening the link (as a mail scanner does) confirms nothing: the page asks for a click.
    # A link mailed before, to the API's address, leads to the same page.
    old_link = link.replace("/app/verify-email", "/api/v1/auth/verify-email")
    sent_on = await site.client.get(old_link)
    assert sent_on.status_code == 303
    assert urljoin(old_link, sent_on.headers["location"]) == link
    for _ in range(2):
        opened = await site.client.get(link)
        assert opened.status_code == 200, opened.text
        assert "Confirm my address" in opened.text
        assert "Email confirmed" not in opened.text
    assert (await _me(site, owner.token)).json()["user"]["email_verified_at"] is None
    async with owner_db.transaction() as session:
        used = await session.scalar(
            text("SELECT used_at FROM account_tokens WHERE user_id = :u"), {"u": owner.user_id}
        )
    assert used is None
    # The button confirms, once.
    confirmed = await site.confirm(link)
    assert confirmed.status_code == 200, confirmed.text
    assert "Email confirmed" in confirmed.text
    assert (await _me(site, owner.token)).json()["user"]["email_verified_at"] is not None
    # Pressed again (a double click, Back and again): its account is confirmed, and says so.
    again = await site.confirm(link)
    assert again.status_code == 200, again.text
    assert "Email confirmed" in again.text
    reused = await site.client.post("/api/v1/auth/verify-email", json={"token": token})
    assert reused.status_code == 400
    assert reused.json()["error"]["code"] == "link_used"


async def test_a_verification_page_with_a_forged_link_says_so_and_confirms_nothing(
    site: Site,
) -> None:
    owner = await site.signup("Forged", verify=False)
    for path in ("/app/verify-email?token=a.b", "/api/v1/auth/verify-email?token=a.b"):
        page = await site.client.get(path)
        assert page.status_code == 400
        assert "This link does not work" in page.text
        assert "Confirm my address" not in page.text
    assert (await _me(site, owner.token)).json()["user"]["email_verified_at"] is None


async def test_forged_and_expired_verification_links_are_refused(
    site: Site, owner_db: Database
) -> None:
    owner = await site.signup("Expired", verify=False)
    token = await site.token(owner.email, "Confirm", "/verify-email")
    for bad in (token[:-2] + ("AA" if not token.endswith("AA") else "BB"), "x" * 40, "a.b"):
        response = await site.client.post("/api/v1/auth/verify-email", json={"token": bad})
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "link_invalid"
    await _age(owner_db, "account_tokens", token)
    expired = await site.client.post("/api/v1/auth/verify-email", json={"token": token})
    assert expired.status_code == 400
    assert expired.json()["error"]["code"] == "link_expired"
    assert (await _me(site, owner.token)).json()["user"]["email_verified_at"] is None
    # A new link on request; it works.
    resent = await site.client.post("/api/v1/auth/verify-email/resend", headers=owner.headers)
    assert resent.status_code == 202
    fresh = await site.token(owner.email, "Confirm", "/verify-email")
    assert fresh != token
    ok = await site.client.post(
        "/api/v1/auth/verify-email", json={"token": fresh, "password": PASSWORD}
    )
    assert ok.status_code == 200


# --- what signup (and the login after it) tells --------------------------------------------


async def test_signup_answers_the_same_for_a_taken_email_and_warns_its_owner(
    site: Site,
) -> None:
    owner = await site.signup("Taken")
    fresh = f"fresh-{uuid.uuid4().hex[:10]}@example.com"
    new = await site.client.post(
        "/api/v1/auth/signup",
        json={"email": fresh, "password": "another passphrase", "workspace_name": "New"},
    )
    taken = await site.client.post(
        "/api/v1/auth/signup",
        json={
            "email": owner.email.upper(),
            "password": "another passphrase",
            "workspace_name": "X",
        },
    )
    assert new.status_code == taken.status_code == 202
    assert new.json() == taken.json() == {"status": "check_your_email"}
    assert set(new.headers) - {
        "x-request-id",
        "ratelimit-limit",
        "ratelimit-remaining",
        "ratelimit-reset",
    } == set(taken.headers) - {
        "x-request-id",
        "ratelimit-limit",
        "ratelimit-remaining",
        "ratelimit-reset",
    }
    # What the answer hides, the login that follows tells (documented: an unverified account
    # may sign in, to reach the page that sends its verification link again).
    logins = [
        await site.client.post(
            "/api/v1/auth/login", json={"email": email, "password": "another passphrase"}
        )
        for email in (fresh, owner.email)
    ]
    assert [r.status_code for r in logins] == [200, 401]
    warning = await site.last_mail(owner.email, "Someone tried to sign up")
    assert "No new account was created" in warning.text
    # The warning's reset link works (the person who forgot they had an account gets in).
    token = parse_qs(urlsplit(warning.link("/reset-password")).query)["token"][0]
    reset = await site.client.post(
        "/api/v1/auth/password-reset/confirm",
        json={"token": token, "password": "a brand new passphrase"},
    )
    assert reset.status_code == 200
    await login(site.client, owner.email, "a brand new passphrase")
    assert [m for m in await site.inbox(fresh) if "Confirm" in str(m.message["Subject"])]


# --- what an unverified owner may not do -------------------------------------------------------


async def test_an_unverified_owner_sets_up_but_cannot_invite_or_export(
    site: Site, owner_db: Database
) -> None:
    owner = await site.signup("Unverified", verify=False)
    h = owner.headers
    # May: sign in, configure, add knowledge and leads.
    assert (
        await site.client.patch(owner.url(""), json={"persona": "Brief."}, headers=h)
    ).status_code == 200
    faq = await site.client.post(
        owner.url("/faqs"), json={"question": "Open on Sunday?", "answer": "No."}, headers=h
    )
    assert faq.status_code == 201
    assert (
        await site.client.post(owner.url("/leads"), json={"email": "l@example.com"}, headers=h)
    ).status_code == 201
    # May not: invite, export, or make what outlasts the account's sessions (an API key, a
    # webhook): someone who signed up first with another person's address would keep them
    # after that person took the account back with a reset link.
    conversations = owner.url("/conversations/export?from=2026-01-01&to=2026-01-31")
    refused = [
        await site.client.post(owner.url("/api-keys"), json={"name": "k"}, headers=h),
        await site.client.patch(
            owner.url(""), json={"webhook_url": "https://hooks.example.com/x"}, headers=h
        ),
        await site.client.get(conversations, headers=h),
        # Nor read or choose the webhook's signing secret: kept after the real owner took the
        # account back and set a URL, it would sign forged deliveries to their endpoint.
        await site.client.get(owner.url("/webhook"), headers=h),
        await site.client.post(owner.url("/webhook/rotate-secret"), headers=h),
    ]
    for answer in refused:
        assert answer.status_code == 403, answer.text
        assert answer.json()["error"]["code"] == "email_unverified"
    # A webhook set before this rule (or by a verified teammate) does not stop a rename that
    # sends it back unchanged, as the dashboard's settings form does.
    async with owner_db.transaction() as session:
        await session.execute(
            text(
                "UPDATE workspaces SET webhook_url = 'https://hooks.example.com/old' WHERE id = :w"
            ),
            {"w": owner.workspace_id},
        )
    renamed = await site.client.patch(
        owner.url(""),
        json={"name": "Renamed", "webhook_url": "https://hooks.example.com/old"},
        headers=h,
    )
    assert renamed.status_code == 200, renamed.text
    invited = await site.client.post(
        owner.url("/members"), json={"email": "teammate@example.com"}, headers=h
    )
    assert invited.status_code == 403
    assert invited.json()["error"]["code"] == "email_unverified"
    exported = await site.client.get(owner.url("/leads/export"), headers=h)
    assert exported.status_code == 403
    assert exported.json()["error"]["code"] == "email_unverified"
    archive = await site.client.post(owner.url("/exports"), headers=h)
    assert archive.status_code == 403
    assert archive.json()["error"]["code"] == "email_unverified"
    assert await site.inbox("teammate@example.com") == []
    # Once verified, both work.
    token = await site.token(owner.email, "Confirm", "/verify-email")
    assert (
        await site.client.post(  # signed in as the account: its bearer token proves it
            "/api/v1/auth/verify-email", json={"token": token}, headers=h
        )
    ).status_code == 200
    assert (
        await site.client.post(
            owner.url("/members"), json={"email": "teammate@example.com"}, headers=h
        )
    ).status_code == 202
    assert (await site.client.get(owner.url("/leads/export"), headers=h)).status_code == 200
    assert (await site.client.get(conversations, headers=h)).status_code == 200
    assert (
        await site.client.post(owner.url("/api-keys"), json={"name": "k"}, headers=h)
    ).status_code == 201
    webhook = await site.client.patch(
        owner.url(""), json={"webhook_url": "https://hooks.example.com/x"}, headers=h
    )
    assert webhook.status_code == 200, webhook.text
    secret = (await site.client.get(owner.url("/webhook"), headers=h)).json()["secret"]
    assert secret
    rotated = await site.client.post(owner.url("/webhook/rotate-secret"), headers=h)
    assert rotated.status_code == 200
    assert rotated.json()["secret"] not in (None, secret)


# --- password reset and change -----------------------------------------------------------------


async def test_reset_request_answers_the_same_and_mails_only_real_accounts(site: Site) -> None:
    owner = await site.signup("Reset")
    nobody = f"nobody-{uuid.uuid4().hex[:10]}@example.com"
    known = await site.client.post("/api/v1/auth/password-reset", json={"email": owner.email})
    unknown = await site.client.post("/api/v1/auth/password-reset", json={"email": nobody})
    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json() == {"status": "check_your_email"}
    assert await site.inbox(nobody) == []
    mail = await site.last_mail(owner.email, "Reset your TrulyBot password")
    assert "expires in one hour" in mail.text


async def test_a_reset_ends_every_session_and_the_link_works_once(
    site: Site, owner_db: Database
) -> None:
    owner = await site.signup("Reset sessions")
    second = await login(site.client, owner.email, owner.password)
    await site.client.post("/api/v1/auth/password-reset", json={"email": owner.email})
    token = await site.token(owner.email, "Reset your", "/reset-password")
    weak = await site.client.post(
        "/api/v1/auth/password-reset/confirm", json={"token": token, "password": owner.email}
    )
    assert weak.status_code == 422  # and the link still works:
    done = await site.client.post(
        "/api/v1/auth/password-reset/confirm",
        json={"token": token, "password": "a new long passphrase"},
    )
    assert done.status_code == 200
    for access in (owner.token, second["access_token"]):
        dead = await _me(site, access)
        assert dead.status_code == 401
        assert dead.json()["error"]["code"] == "session_revoked"
    refresh = await site.client.post(
        "/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]}
    )
    assert refresh.status_code == 401
    old = await site.client.post(
        "/api/v1/auth/login", json={"email": owner.email, "password": owner.password}
    )
    assert old.status_code == 401
    await login(site.client, owner.email, "a new long passphrase")
    again = await site.client.post(
        "/api/v1/auth/password-reset/confirm",
        json={"token": token, "password": "yet another passphrase"},
    )
    assert again.status_code == 400
    assert again.json()["error"]["code"] == "link_used"
    assert "was just changed" in (await site.last_mail(owner.email, "was changed")).text
    # An expired link is refused; a reset link is not a verification link.
    await site.client.post("/api/v1/auth/password-reset", json={"email": owner.email})
    later = await site.token(owner.email, "Reset your", "/reset-password")
    other_purpose = await site.client.post("/api/v1/auth/verify-email", json={"token": later})
    assert other_purpose.json()["error"]["code"] == "link_invalid"
    await _age(owner_db, "account_tokens", later)
    expired = await site.client.post(
        "/api/v1/auth/password-reset/confirm",
        json={"token": later, "password": "yet another passphrase"},
    )
    assert expired.status_code == 400
    assert expired.json()["error"]["code"] == "link_expired"


async def test_reset_requests_are_rate_limited_per_address_and_per_ip(
    runtime_factory: RuntimeFactory, smtp: SmtpServer
) -> None:
    async with runtime_factory(
        smtp_url=smtp.url,
        rate_limits="on",
        rate_limit_password_reset_email="2/hour",
        rate_limit_password_reset_ip="4/hour",
    ) as runtime:
        address = f"limited-{uuid.uuid4().hex[:10]}@example.com"  # no account: counted alike
        statuses = []
        for i in range(3):
            async with client_for(runtime, ip=f"10.77.{i}.{uuid.uuid4().int % 250 + 1}") as c:
                r = await c.post("/api/v1/auth/password-reset", json={"email": address})
                statuses.append(r.status_code)
        assert statuses == [202, 202, 429]
        ip = f"10.78.{uuid.uuid4().int % 250}.9"
        async with client_for(runtime, ip=ip) as c:
            statuses = [
                (
                    await c.post(
                        "/api/v1/auth/password-reset",
                        json={"email": f"p{i}-{uuid.uuid4().hex[:8]}@example.com"},
                    )
                ).status_code
                for i in range(5)
            ]
        assert statuses == [202, 202, 202, 202, 429]


async def test_a_password_change_ends_every_session_and_answers_with_a_new_one(
    site: Site,
) -> None:
    """The caller's session ended too: a copy of its refresh token (the usual reason to change
    a password) kept working, as the dashboard's copied cookie no longer does. The answer
    carries the new session's tokens."""
    owner = await site.signup("Change")
    mine = await login(site.client, owner.email, owner.password)  # the caller's session
    other = await login(site.client, owner.email, owner.password)
    headers = {"Authorization": f"Bearer {mine['access_token']}"}
    wrong = await site.client.post(
        "/api/v1/auth/password",
        json={"current_password": "not it at all", "new_password": "a changed passphrase"},
        headers=headers,
    )
    assert wrong.status_code == 403
    assert wrong.json()["error"]["code"] == "wrong_password"
    # The same password again is no change: refused, and nobody is signed out or mailed.
    same = await site.client.post(
        "/api/v1/auth/password",
        json={"current_password": owner.password, "new_password": owner.password},
        headers=headers,
    )
    assert same.status_code == 422
    assert same.json()["error"]["details"] == [
        {"field": "new_password", "message": "must differ from the current password"}
    ]
    assert (await _me(site, other["access_token"])).status_code == 200
    changed = await site.client.post(
        "/api/v1/auth/password",
        json={"current_password": owner.password, "new_password": "a changed passphrase"},
        headers=headers,
    )
    assert changed.status_code == 200, changed.text
    assert changed.headers["Cache-Control"] == "no-store"
    body = changed.json()
    assert body["status"] == "ok"
    tokens = body["tokens"]
    assert tokens["session_id"] not in (mine["session_id"], other["session_id"])
    for ended in (mine, other):
        assert (await _me(site, ended["access_token"])).json()["error"]["code"] == (
            "session_revoked"
        )
        refreshed = await site.client.post(
            "/api/v1/auth/refresh", json={"refresh_token": ended["refresh_token"]}
        )
        assert refreshed.status_code == 401, refreshed.text
    assert (await _me(site, tokens["access_token"])).status_code == 200
    renewed = await site.client.post(
        "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert renewed.status_code == 200, renewed.text
    await login(site.client, owner.email, "a changed passphrase")


# --- invitations -------------------------------------------------------------------------------


async def _invite(site: Site, owner: Owner, email: str, role: str = "member") -> httpx.Response:
    return await site.client.post(
        owner.url("/members"), json={"email": email, "role": role}, headers=owner.headers
    )


async def _accept(
    site: Site, token: str, headers: dict[str, str] | None = None, **body: Any
) -> httpx.Response:
    return await site.client.post(
        "/api/v1/invitations/accept", json={"token": token, **body}, headers=headers or {}
    )


async def test_inviting_answers_the_same_whether_or_not_an_account_exists(site: Site) -> None:
    owner = await site.signup("Inviter")
    existing = await site.signup("Has an account")
    newcomer = f"new-{uuid.uuid4().hex[:10]}@example.com"
    a = await _invite(site, owner, existing.email)
    b = await _invite(site, owner, newcomer)
    assert a.status_code == b.status_code == 202
    assert set(a.json()) == set(b.json())
    assert a.json()["role"] == b.json()["role"] == "member"
    for address in (existing.email, newcomer):
        mail = await site.last_mail(address, "invited you to")
        assert "Inviter" in mail.text
        # Named by the sender's own account (no name given: its address), read under the
        # row-level security of ``users`` (0036), never "A TrulyBot user".
        assert str(mail.message["Subject"]) == f"{owner.email} invited you to Inviter on TrulyBot"
        assert f"{owner.email} invited you to join" in mail.text, mail.text
        assert mail.link("/accept-invitation").startswith("https://bot.example.com/")


async def test_invitations_at_once_stop_at_the_members_quota(
    site: Site, owner_db: Database
) -> None:
    """The free plan's two members: the owner and one seat. Six invitations at once take
    the seat once; the other five are refused (before, each counted before the others had
    committed and all six were sent)."""
    owner = await site.signup("Crowded")
    async with owner_db.transaction() as session:
        await session.execute(
            text("UPDATE workspaces SET plan = 'free' WHERE id = :w"), {"w": owner.workspace_id}
        )
    answers = await asyncio.gather(
        *(_invite(site, owner, f"seat-{uuid.uuid4().hex[:10]}@example.com") for _ in range(6))
    )
    assert sorted(r.status_code for r in answers) == [202] + [429] * 5
    pending = (await site.client.get(owner.url("/invitations"), headers=owner.headers)).json()
    assert len(pending) == 1


async def test_accepting_creates_the_account_once(site: Site, owner_db: Database) -> None:
    owner = await site.signup("Team")
    newcomer = f"new-{uuid.uuid4().hex[:10]}@example.com"
    await _invite(site, owner, newcomer, "admin")
    token = await site.token(newcomer, "invited you", "/accept-invitation")
    no_password = await _accept(site, token)
    assert no_password.status_code == 422
    assert no_password.json()["error"]["code"] == "password_required"
    joined = await _accept(site, token, password="newcomer passphrase", name="Nia")
    assert joined.status_code == 200, joined.text
    body = joined.json()
    assert body["created_account"] is True
    assert body["role"] == "admin"
    assert body["workspace_id"] == owner.workspace_id
    me = (await _me(site, body["tokens"]["access_token"])).json()
    assert me["user"]["email_verified_at"] is not None  # the link proved the address
    assert [(w["id"], w["role"]) for w in me["workspaces"]] == [(owner.workspace_id, "admin")]
    await login(site.client, newcomer, "newcomer passphrase")
    reused = await _accept(site, token, password="newcomer passphrase")
    assert reused.status_code == 400
    assert reused.json()["error"]["code"] == "link_used"
    pending = (await site.client.get(owner.url("/invitations"), headers=owner.headers)).json()
    assert pending == []


async def test_an_existing_account_accepts_signed_in_as_that_address(site: Site) -> None:
    owner = await site.signup("Team")
    person = await site.signup("Person")
    stranger = await site.signup("Stranger")
    await _invite(site, owner, person.email)
    token = await site.token(person.email, "invited you", "/accept-invitation")
    anonymous = await _accept(site, token, password="some long passphrase")
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "login_required"
    wrong = await _accept(site, token, stranger.headers)
    assert wrong.status_code == 403
    assert wrong.json()["error"]["code"] == "invitation_email_mismatch"
    ok = await _accept(site, token, person.headers)
    assert ok.status_code == 200
    assert ok.json()["created_account"] is False
    assert ok.json()["tokens"] is None
    members = (await site.client.get(owner.url("/members"), headers=owner.headers)).json()
    assert {m["email"]: m["role"] for m in members} == {
        owner.email: "owner",
        person.email: "member",
    }
    # The account and its password are unchanged.
    await login(site.client, person.email, person.password)


async def test_revoked_and_expired_invitations_are_refused(site: Site, owner_db: Database) -> None:
    owner = await site.signup("Team")
    first = f"first-{uuid.uuid4().hex[:8]}@example.com"
    second = f"second-{uuid.uuid4().hex[:8]}@example.com"
    invitation = (await _invite(site, owner, first)).json()
    await _invite(site, owner, second)
    revoked_token = await site.token(first, "invited you", "/accept-invitation")
    expired_token = await site.token(second, "invited you", "/accept-invitation")
    listed = (await site.client.get(owner.url("/invitations"), headers=owner.headers)).json()
    assert {i["email"] for i in listed} == {first, second}
    assert (
        await site.client.delete(
            owner.url(f"/invitations/{invitation['id']}"), headers=owner.headers
        )
    ).status_code == 204
    refused = await _accept(site, revoked_token, password="a long passphrase")
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "invitation_revoked"
    await _age(owner_db, "invitations", expired_token)
    late = await _accept(site, expired_token, password="a long passphrase")
    assert late.status_code == 400
    assert late.json()["error"]["code"] == "link_expired"
    assert (await site.client.get(owner.url("/invitations"), headers=owner.headers)).json() == []
    # A second invitation to the same address replaces the first: the old link stops working.
    # Each mail is read before the next invitation: two mails sent at once may arrive in either
    # order (a full run once picked the newer link as the older one).
    await _invite(site, owner, second)
    older = await site.token(second, "invited you", "/accept-invitation")
    await _invite(site, owner, second)
    newest = await site.token(second, "invited you", "/accept-invitation")
    assert newest != older
    assert (await _accept(site, older, password="a long passphrase")).json()["error"][
        "code"
    ] == "invitation_revoked"
    assert (await _accept(site, newest, password="a long passphrase")).status_code == 200


async def test_a_withdrawn_invitation_whose_mail_waits_is_never_sent(
    runtime_factory: RuntimeFactory, smtp: SmtpServer, owner_db: Database
) -> None:
    """The relay was failing, so the invitations' mails waited in the outbox; the owner
    withdrew one and invited another address again. Once the relay was back, both old mails
    still went out, with links that answer "withdrawn" (and the workspace's name to whoever a
    mistyped address reached)."""
    async with _site(runtime_factory, smtp, mail_retry_seconds=0.01) as site:
        client, runtime = site.client, site.runtime
        owner = await site.signup("Team")
        withdrawn = f"typo-{uuid.uuid4().hex[:8]}@example.com"
        again = f"again-{uuid.uuid4().hex[:8]}@example.com"
        smtp.handler.refuse_next = 10_000  # the relay is down (451)
        invitation = (await _invite(site, owner, withdrawn)).json()
        await _invite(site, owner, again)
        await site.inbox(again)  # its flush tried and failed
        await _invite(site, owner, again)  # replaces the first, whose mail still waits
        # The flush that invitation started is over: a mail a flush has already handed to the
        # relay when the owner withdraws goes out (the relay's answer decides); this is about
        # the mails still waiting, and in a full run that flush ended after the relay was back.
        await site.inbox(again)
        gone = await client.delete(
            owner.url(f"/invitations/{invitation['id']}"), headers=owner.headers
        )
        assert gone.status_code == 204, gone.text
        smtp.handler.refuse_next = 0  # the relay is back; what waits is due
        async with owner_db.transaction() as s:
            await s.execute(
                text(
                    "UPDATE mail_outbox SET next_attempt_at = now()"
                    " WHERE sent_at IS NULL AND recipient = ANY(:to)"
                ),
                {"to": [withdrawn, again]},
            )
        await runtime.mailer.flush()
        assert await site.inbox(withdrawn) == []
        [sent] = await site.inbox(again)  # the newest invitation's only
        token = parse_qs(urlsplit(sent.link("/accept-invitation")).query)["token"][0]
        accepted = await _accept(site, token, password="a long passphrase")
        assert accepted.status_code == 200, accepted.text


async def _co_owner_inviting(site: Site, owner: Owner) -> tuple[Owner, str, str]:
    """A second owner who has invited an owner and a member of their own choosing: them and
    the two invitations' tokens."""
    partner = await site.signup("Partner")
    await _invite(site, owner, partner.email, "owner")
    token = await site.token(partner.email, "invited you", "/accept-invitation")
    assert (await _accept(site, token, partner.headers)).status_code == 200
    theirs = [f"{kind}-{uuid.uuid4().hex[:8]}@example.com" for kind in ("owner", "member")]
    for email, role in zip(theirs, ("owner", "member"), strict=True):
        invited = await site.client.post(  # into the owner's workspace, as its second owner
            owner.url("/members"), json={"email": email, "role": role}, headers=partner.headers
        )
        assert invited.status_code == 202, invited.text
    tokens = [await site.token(email, "invited you", "/accept-invitation") for email in theirs]
    return partner, tokens[0], tokens[1]


@pytest.mark.parametrize("how", ["removed", "demoted", "deleted their account"])
async def test_an_owner_who_goes_takes_their_invitations_with_them(site: Site, how: str) -> None:
    """A co-owner invites an owner of their choosing, then is removed (or made a member, or
    deletes their account): the invitation is withdrawn, as their API keys are. Before, it
    still worked and the newcomer, an owner, could remove the owner who had removed them."""
    owner = await site.signup("Kept")
    partner, owner_token, member_token = await _co_owner_inviting(site, owner)
    theirs = owner.url(f"/members/{partner.user_id}")
    if how == "removed":
        assert (await site.client.delete(theirs, headers=owner.headers)).status_code == 204
    elif how == "demoted":
        changed = await site.client.patch(theirs, json={"role": "member"}, headers=owner.headers)
        assert changed.status_code == 200
    else:
        gone = await site.client.request(
            "DELETE",
            "/api/v1/me",
            json={"password": partner.password},
            headers=partner.headers,
        )
        assert gone.status_code in (200, 202, 204), gone.text
    for token in (owner_token, member_token):
        refused = await _accept(site, token, password="a long passphrase")
        assert refused.status_code == 400
        assert refused.json()["error"]["code"] == "invitation_revoked"
    assert (await site.client.get(owner.url("/invitations"), headers=owner.headers)).json() == []
    members = (await site.client.get(owner.url("/members"), headers=owner.headers)).json()
    assert {m["email"] for m in members} <= {owner.email, partner.email}


async def test_an_invitation_whose_sender_may_no_longer_invite_is_refused(
    site: Site, owner_db: Database
) -> None:
    """The backstop for invitations left pending by a removal before they were withdrawn with
    it: the sender must still be an owner when the invitation is accepted."""
    owner = await site.signup("Kept")
    partner, owner_token, member_token = await _co_owner_inviting(site, owner)
    async with owner_db.transaction() as s:
        result = await s.execute(
            text("DELETE FROM memberships WHERE workspace_id = :w AND user_id = :u"),
            {"w": owner.workspace_id, "u": partner.user_id},
        )
        assert result.rowcount == 1  # type: ignore[attr-defined]
    refused = await _accept(site, owner_token, password="a long passphrase")
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "invitation_revoked"
    # A sender whose account is gone (invited_by set to NULL with it): refused as well.
    async with owner_db.transaction() as s:
        await s.execute(
            text("UPDATE invitations SET invited_by = NULL WHERE workspace_id = :w"),
            {"w": owner.workspace_id},
        )
    orphan = await _accept(site, member_token, password="a long passphrase")
    assert orphan.status_code == 400
    assert orphan.json()["error"]["code"] == "invitation_revoked"


# --- the last owner ----------------------------------------------------------------------------


async def test_the_last_owner_cannot_be_demoted_or_removed(site: Site) -> None:
    owner = await site.signup("Owned")
    me = owner.url(f"/members/{owner.user_id}")
    demoted = await site.client.patch(me, json={"role": "admin"}, headers=owner.headers)
    assert demoted.status_code == 409
    assert demoted.json()["error"]["code"] == "last_owner"
    removed = await site.client.delete(me, headers=owner.headers)
    assert removed.status_code == 409
    assert removed.json()["error"]["code"] == "last_owner"
    # With a second owner, the first may step down; then the second is the last one.
    partner = await site.signup("Partner")
    await _invite(site, owner, partner.email, "owner")
    token = await site.token(partner.email, "invited you", "/accept-invitation")
    assert (await _accept(site, token, partner.headers)).status_code == 200
    assert (
        await site.client.patch(me, json={"role": "admin"}, headers=owner.headers)
    ).status_code == 200
    theirs = owner.url(f"/members/{partner.user_id}")
    last = await site.client.delete(theirs, headers=partner.headers)
    assert last.status_code == 409
    assert last.json()["error"]["code"] == "last_owner"
    members = (await site.client.get(owner.url("/members"), headers=partner.headers)).json()
    assert {m["email"]: m["role"] for m in members} == {
        owner.email: "admin",
        partner.email: "owner",
    }


async def test_invitation_links_expire_after_the_configured_days(site: Site) -> None:
    owner = await site.signup("Expiry")
    invitation = (await _invite(site, owner, f"x-{uuid.uuid4().hex[:8]}@example.com")).json()
    from datetime import datetime

    created = datetime.fromisoformat(invitation["created_at"])
    expires = datetime.fromisoformat(invitation["expires_at"])
    assert expires - created == timedelta(days=7)

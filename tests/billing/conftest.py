"""Billing fixtures: the real app with billing enabled against a local fake Razorpay API."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any, NamedTuple

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import text

from api.runtime import Runtime
from billing import rate_limit_mark
from core.config import Settings
from core.db import Database
from tests.conftest import Owner, RuntimeFactory, client_for, make_runtime, make_settings
from tests.fakes.razorpay_server import FakeRazorpay, sign_webhook, webhook_payload
from tests.fakes.smtp import Received, SmtpServer
from workspaces import notifications

WEBHOOK_SECRET = "whsec_current_0001"
OLD_WEBHOOK_SECRET = "whsec_previous_0001"


@pytest.fixture(scope="module")
def fake_server() -> Iterator[FakeRazorpay]:
    with FakeRazorpay() as server:
        yield server


@pytest.fixture
async def fake(fake_server: FakeRazorpay, redis_client: Redis) -> AsyncIterator[FakeRazorpay]:
    """The fake Razorpay, as no earlier test left it: the account's rate limit mark is
    cleared too (any call answered 429 sets it, billing/provider_marking.py; left, it held
    the next tests' cancels at the same key)."""
    mark = rate_limit_mark.KEY_PREFIX + fake_server.key_id
    await redis_client.delete(mark)
    fake_server.down = False
    fake_server.latency = 0.0
    fake_server.arrived.clear()
    yield fake_server
    await redis_client.delete(mark)
    fake_server.down = False
    fake_server.latency = 0.0
    fake_server.throttle_from(None)
    fake_server.retry_after = None
    if fake_server.gate is not None:
        fake_server.gate.set()
        fake_server.gate = None


def settings_against(fake: FakeRazorpay, **overrides: Any) -> Settings:
    """Billing on against ``fake`` (the webhook secret ``WEBHOOK_SECRET``), with ``overrides``."""
    return make_settings(
        **{
            "razorpay_key_id": fake.key_id,
            "razorpay_key_secret": fake.key_secret,
            "razorpay_webhook_secret": [WEBHOOK_SECRET],
            "razorpay_base_url": fake.base_url,
            # Room for a loaded machine: at 1 s, an order the fake answers at once timed out
            # (503 payment_provider_unavailable) about one run in fifteen with other suites
            # running. The timeout itself is tested with a request the fake holds
            # (test_billing_api).
            "razorpay_timeout_seconds": 5.0,
            **overrides,
        }
    )


@pytest.fixture
def billing_settings(fake: FakeRazorpay) -> Settings:
    return settings_against(fake, razorpay_webhook_secret=[WEBHOOK_SECRET, OLD_WEBHOOK_SECRET])


@pytest.fixture
async def billing_runtime(
    billing_settings: Settings, db: Database, redis_client: Redis
) -> AsyncIterator[Runtime]:
    """A runtime whose payment provider talks to the fake Razorpay (RAZORPAY_BASE_URL)."""
    async with make_runtime(billing_settings, db, redis_client) as runtime:
        yield runtime


@pytest.fixture
async def bclient(billing_runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(billing_runtime) as c:
        yield c


@pytest.fixture
async def without_redis(
    runtime_factory: RuntimeFactory, fake: FakeRazorpay
) -> AsyncIterator[tuple[Runtime, httpx.AsyncClient]]:
    """The app with billing on and no Redis (one process): the mark is this process's."""
    async with (
        runtime_factory(
            redis=None,
            razorpay_key_id=fake.key_id,
            razorpay_key_secret=fake.key_secret,
            razorpay_webhook_secret=[WEBHOOK_SECRET],
            razorpay_base_url=fake.base_url,
            razorpay_timeout_seconds=5.0,
        ) as runtime,
        client_for(runtime) as client,
    ):
        yield runtime, client


class BillingWorld(NamedTuple):
    """What a test of a linked Razorpay Subscription works with, in one fixture: the app with
    billing on (its client and runtime), a workspace's owner, the fake Razorpay and the
    database as its owner (for the rows the API does not show). A test unpacks it into the
    names the single fixtures have (``bclient, billing_runtime, owner, fake, owner_db``)."""

    client: httpx.AsyncClient
    runtime: Runtime
    owner: Owner
    fake: FakeRazorpay
    db: Database


@pytest.fixture
def world(
    bclient: httpx.AsyncClient,
    billing_runtime: Runtime,
    owner: Owner,
    fake: FakeRazorpay,
    owner_db: Database,
) -> BillingWorld:
    return BillingWorld(bclient, billing_runtime, owner, fake, owner_db)


WEBHOOK_URL = "/api/v1/billing/webhooks/razorpay"

_EVENT_NUMBERS = itertools.count(1)


def new_event_id() -> str:
    """An ``X-Razorpay-Event-Id`` that no other delivery of this test session carries.

    A counter, not chance: two deliveries meant as different events can never be taken for a
    duplicate (the test database is created afresh for every session).
    """
    return f"evt_test{next(_EVENT_NUMBERS):07d}"


def signed(payload: dict[str, Any], secret: str = WEBHOOK_SECRET) -> tuple[bytes, str]:
    body = json.dumps(payload).encode()
    return body, sign_webhook(body, secret)


def wrong_signature(good: str) -> str:
    """A well-formed signature that is never ``good``: its last hex digit becomes another value.

    XOR 1 on the digit's value always changes it (a case change would not: uppercase hex is the
    same MAC and is accepted).
    """
    last = int(good[-1], 16)
    bad = good[:-1] + format(last ^ 1, "x")
    assert bytes.fromhex(bad) != bytes.fromhex(good)
    return bad


async def post_webhook(
    client: httpx.AsyncClient,
    payload: dict[str, Any],
    *,
    event_id: str | None = None,
    secret: str = WEBHOOK_SECRET,
) -> httpx.Response:
    body, signature = signed(payload, secret)
    return await client.post(
        WEBHOOK_URL,
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-Razorpay-Signature": signature,
            "X-Razorpay-Event-Id": event_id or new_event_id(),
        },
    )


async def webhook_of(client: httpx.AsyncClient, name: str, payment: dict[str, Any], at: int) -> Any:
    """Razorpay's ``name`` event of ``payment`` at its time ``at``, signed and accepted (200);
    what the webhook answered."""
    response = await post_webhook(client, webhook_payload(name, payment=payment, created_at=at))
    assert response.status_code == 200, response.text
    return response.json()


async def create_order(
    client: httpx.AsyncClient, owner: Owner, plan: str = "starter", period: str = "monthly"
) -> dict[str, Any]:
    response = await client.post(
        owner.url("/billing/orders"), json={"plan": plan, "period": period}, headers=owner.headers
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def pay_by_webhook(
    client: httpx.AsyncClient, owner: Owner, fake: FakeRazorpay, plan: str, period: str, at: int
) -> dict[str, Any]:
    """An order for ``plan``/``period`` paid in full, its ``payment.captured`` (Razorpay's event
    time ``at``) applied; the payment."""
    order = await create_order(client, owner, plan, period)
    payment = fake.capture_payment(order["razorpay_order_id"])
    payload = webhook_payload("payment.captured", payment=payment, created_at=at)
    response = await post_webhook(client, payload)
    assert response.json()["status"] == "applied", response.text
    return payment


async def owner_json(client: httpx.AsyncClient, owner: Owner, path: str) -> dict[str, Any]:
    """The owner's ``GET`` of the workspace's ``path``, answered 200 with a JSON object."""
    response = await client.get(owner.url(path), headers=owner.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def subscription(client: httpx.AsyncClient, owner: Owner) -> dict[str, Any]:
    return await owner_json(client, owner, "/billing/subscription")


async def sub_row(owner_db: Database, workspace_id: str) -> dict[str, Any]:
    async with owner_db.transaction() as s:
        row = (
            (
                await s.execute(
                    text("SELECT * FROM subscriptions WHERE workspace_id = :w"), {"w": workspace_id}
                )
            )
            .mappings()
            .one_or_none()
        )
    return dict(row) if row else {}


async def order_row(owner_db: Database, razorpay_order_id: str) -> dict[str, Any]:
    async with owner_db.transaction() as s:
        row = (
            (
                await s.execute(
                    text("SELECT * FROM billing_orders WHERE razorpay_order_id = :o"),
                    {"o": razorpay_order_id},
                )
            )
            .mappings()
            .one()
        )
    return dict(row)


async def event_rows(owner_db: Database, event_id: str) -> list[dict[str, Any]]:
    async with owner_db.transaction() as s:
        rows = (
            (
                await s.execute(
                    text("SELECT * FROM billing_events WHERE event_id = :e"), {"e": event_id}
                )
            )
            .mappings()
            .all()
        )
    return [dict(r) for r in rows]


async def end_paid_period(owner_db: Database, workspace_id: str) -> None:
    """Move the workspace's paid period into the past, as if it had run out a day ago."""
    async with owner_db.transaction() as s:
        for sql in (
            "UPDATE subscriptions SET current_period_end = now() - interval '1 day'"
            " WHERE workspace_id = :w",
            "UPDATE workspaces SET plan_expires_at = now() - interval '1 day' WHERE id = :w",
        ):
            await s.execute(text(sql), {"w": workspace_id})


async def orders_refused(
    client: httpx.AsyncClient, owner: Owner, plans: tuple[str, ...], code: str
) -> None:
    """Ordering each of ``plans`` is 409 ``code``."""
    for plan in plans:
        response = await client.post(
            owner.url("/billing/orders"), json={"plan": plan}, headers=owner.headers
        )
        assert response.status_code == 409, response.text
        assert response.json()["error"]["code"] == code


@pytest.fixture
async def mailing(
    billing_settings: Settings, db: Database, redis_client: Redis, smtp: SmtpServer
) -> AsyncIterator[tuple[Runtime, httpx.AsyncClient]]:
    settings = billing_settings.model_copy(update={"smtp_url": smtp.url, "smtp_starttls": "off"})
    async with make_runtime(settings, db, redis_client) as runtime, client_for(runtime) as client:
        yield runtime, client


class MailingWorld(NamedTuple):
    """What a test of the owners' payment mails works with, in one fixture: the app with billing
    on and mail going to the real in-process SMTP server (its runtime and client), the fake
    Razorpay, that SMTP server and the database as its owner. A test unpacks it into the names
    the single fixtures have (``runtime, client, fake, smtp, owner_db``)."""

    runtime: Runtime
    client: httpx.AsyncClient
    fake: FakeRazorpay
    smtp: SmtpServer
    db: Database


@pytest.fixture
def mailing_world(
    mailing: tuple[Runtime, httpx.AsyncClient],
    fake: FakeRazorpay,
    smtp: SmtpServer,
    owner_db: Database,
) -> MailingWorld:
    return MailingWorld(*mailing, fake, smtp, owner_db)


async def payment_mails(
    runtime: Runtime, smtp: SmtpServer, address: str, subject: str = "Payment"
) -> list[Received]:
    """The mails to ``address`` whose subject holds ``subject``, once everything was sent."""
    for _ in range(3):
        await notifications.settle_kicks()
        await runtime.jobs.drain()
        await runtime.mailer.settle()
        await runtime.jobs.drain()
    return [r for r in smtp.to(address) if subject in str(r.message["Subject"])]

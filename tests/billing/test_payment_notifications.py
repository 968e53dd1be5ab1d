"""Payment notifications: a captured or failed payment mails the workspace's owners once, however
often Razorpay delivers the webhook (real SMTP server, fake Razorpay at the HTTP boundary)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from redis.asyncio import Redis

from api.runtime import Runtime
from core.config import Settings
from core.db import Database
from tests.billing.conftest import create_order, new_event_id, post_webhook
from tests.conftest import client_for, join, make_runtime, signup
from tests.fakes.razorpay_server import FakeRazorpay, webhook_payload
from tests.fakes.smtp import Received, SmtpServer
from workspaces import notifications


@pytest.fixture
async def mailing(
    billing_settings: Settings, db: Database, redis_client: Redis, smtp: SmtpServer
) -> AsyncIterator[tuple[Runtime, httpx.AsyncClient]]:
    settings = billing_settings.model_copy(update={"smtp_url": smtp.url, "smtp_starttls": "off"})
    async with make_runtime(settings, db, redis_client) as runtime, client_for(runtime) as client:
        yield runtime, client


async def _payment_mails(runtime: Runtime, smtp: SmtpServer, address: str) -> list[Received]:
    for _ in range(3):
        await notifications.settle_kicks()
        await runtime.jobs.drain()
        await runtime.mailer.settle()
        await runtime.jobs.drain()
    return [r for r in smtp.to(address) if "Payment" in str(r.message["Subject"])]


async def test_captured_and_failed_payments_mail_the_owners_once(
    mailing: tuple[Runtime, httpx.AsyncClient], fake: FakeRazorpay, smtp: SmtpServer
) -> None:
    runtime, client = mailing
    owner = await signup(client, "Acme")
    member = await signup(client, "Member")
    await join(client, owner, member, "admin")

    order = await create_order(client, owner)
    failed = fake.fail_payment(order["razorpay_order_id"])
    response = await post_webhook(client, webhook_payload("payment.failed", payment=failed))
    assert response.status_code == 200, response.text

    payment = fake.capture_payment(order["razorpay_order_id"])
    captured = webhook_payload("payment.captured", payment=payment)
    event_id = new_event_id()
    for _ in range(3):  # Razorpay retries the same event
        response = await post_webhook(client, captured, event_id=event_id)
        assert response.status_code == 200, response.text
    # The same payment through another event (order.paid) is the same notification.
    order_paid = webhook_payload(
        "order.paid", payment=payment, order=fake.orders[order["razorpay_order_id"]]
    )
    assert (await post_webhook(client, order_paid)).status_code == 200

    mails = await _payment_mails(runtime, smtp, owner.email)
    subjects = sorted(str(m.message["Subject"]) for m in mails)
    amount = f"{order['amount'] / 100:,.2f} {order['currency']}"
    assert subjects == [
        f"[Acme] Payment failed: {amount}",
        f"[Acme] Payment received: {amount}",
    ]
    failed_mail = next(m for m in mails if "failed" in str(m.message["Subject"]))
    assert "Reason: Payment failed" in failed_mail.text
    assert failed["id"] in failed_mail.text
    # Admins may not see payments: nothing for them, whatever their settings.
    assert await _payment_mails(runtime, smtp, member.email) == []

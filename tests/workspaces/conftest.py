"""Fixtures of the workspace-wide walks (the permission table, the route walk): billing on
against the local fake Razorpay, so billing routes answer as in production; a runtime that
mails through a real SMTP server (aiosmtpd); the audit log's entries of one action."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from api.runtime import Runtime
from core.config import Settings
from tests.conftest import Owner, RuntimeFactory, make_settings
from tests.fakes.razorpay_server import FakeRazorpay
from tests.fakes.smtp import SmtpServer


@pytest.fixture(scope="module")
def razorpay() -> Iterator[FakeRazorpay]:
    with FakeRazorpay() as server:
        yield server


def billing_on(razorpay: FakeRazorpay, webhook_secret: str) -> Settings:
    """Billing against ``razorpay``; a plan with room for every member (a non-expiring pro:
    ordering a plan is refused as included, past the permission check); web sources may
    point at a closed loopback port (their fetches fail at once, offline)."""
    return make_settings(
        default_plan="pro",
        razorpay_key_id=razorpay.key_id,
        razorpay_key_secret=razorpay.key_secret,
        razorpay_webhook_secret=[webhook_secret],
        razorpay_base_url=razorpay.base_url,
        razorpay_timeout_seconds=2.0,
        allow_private_urls=True,
    )


@pytest.fixture
async def mailing(runtime_factory: RuntimeFactory, smtp: SmtpServer) -> AsyncIterator[Runtime]:
    """A runtime whose mails go to ``smtp``, its links under https://bot.example.com."""
    async with runtime_factory(
        smtp_url=smtp.url, smtp_starttls="off", public_base_url="https://bot.example.com"
    ) as runtime:
        yield runtime


async def audit_entries(
    client: httpx.AsyncClient, owner: Owner, action: str
) -> list[dict[str, Any]]:
    """The workspace's audit entries of ``action``, newest first, as its owner reads them."""
    page = await client.get(owner.url("/audit"), params={"action": action}, headers=owner.headers)
    assert page.status_code == 200, page.text
    items: list[dict[str, Any]] = page.json()["items"]
    return items

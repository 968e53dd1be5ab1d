"""Fixtures of the workspace-wide walks (the permission table, the route walk): billing on
against the local fake Razorpay, so billing routes answer as in production."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core.config import Settings
from tests.conftest import make_settings
from tests.fakes.razorpay_server import FakeRazorpay


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

"""docs/billing.md's "Setting it up" names the events to enable on Razorpay's webhook: exactly
the events the webhook acts on (an event left off is never sent; one the server ignores would
only be recorded), and the address the server prints at start."""

from __future__ import annotations

import re
from pathlib import Path

from billing.events import DISPUTE_WON
from billing.state import ORDER_EVENTS
from billing.state_model import PAYMENT_SUCCESS_EVENTS, SUBSCRIPTION_EVENTS
from billing.subscription_events import LINK_EVENTS

ROOT = Path(__file__).resolve().parents[2]


def _setup() -> str:
    billing = (ROOT / "docs" / "billing.md").read_text()
    return billing.split("\n## Setting it up\n", 1)[1].split("\n## ", 1)[0]


def test_the_documented_webhook_events_are_the_ones_the_server_acts_on() -> None:
    documented = set(re.findall(r"`([a-z]+(?:\.[a-z]+)+)`", _setup()))
    acted_on = set(ORDER_EVENTS) | PAYMENT_SUCCESS_EVENTS | set(SUBSCRIPTION_EVENTS) | LINK_EVENTS
    acted_on.add(DISPUTE_WON)  # a later phase won reverses a lost chargeback
    assert sorted(documented) == sorted(acted_on)


def test_the_documented_webhook_address_is_the_route() -> None:
    from api.routers.billing import router

    paths = {getattr(route, "path", "") for route in router.routes}
    [hook] = re.findall(r"followed by\s+`(/api/v1/[^`]+)`", _setup())
    assert hook.removeprefix("/api/v1") in paths

"""`trulybot billing reconcile`: payments captured at Razorpay that no webhook reported."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from api.cli import build_parser
from billing.provider import RazorpayProvider
from billing.reconcile import reconcile
from core.config import Settings
from core.db import Database
from tests.billing.conftest import (
    create_order,
    event_rows,
    order_row,
    post_webhook,
    sub_row,
    subscription,
)
from tests.conftest import Owner
from tests.fakes.razorpay_server import FakeRazorpay, webhook_payload


@dataclass
class Rig:
    client: httpx.AsyncClient
    owner: Owner
    fake: FakeRazorpay
    db: Database
    owner_db: Database
    provider: RazorpayProvider

    async def order_status(self, order: dict[str, Any]) -> str:
        return str((await order_row(self.owner_db, order["razorpay_order_id"]))["status"])


@pytest.fixture
def rig(
    bclient: httpx.AsyncClient,
    owner: Owner,
    fake: FakeRazorpay,
    db: Database,
    owner_db: Database,
    billing_settings: Settings,
) -> Rig:
    return Rig(bclient, owner, fake, db, owner_db, RazorpayProvider.from_settings(billing_settings))


async def test_reconcile_applies_a_missed_capture_once(rig: Rig) -> None:
    order = await create_order(rig.client, rig.owner, "pro")
    payment = rig.fake.capture_payment(order["razorpay_order_id"])  # no webhook ever arrives
    provider = rig.provider

    # Too recent for the threshold: left alone.
    await reconcile(rig.db, provider, older_than=timedelta(minutes=30))
    assert (await subscription(rig.client, rig.owner))["effective_plan"] == "free"

    report = await reconcile(rig.db, provider, older_than=timedelta(0))
    assert any(payment["id"] in line for line in report.details), report
    assert (await order_row(rig.owner_db, order["razorpay_order_id"]))["status"] == "paid"
    sub = await subscription(rig.client, rig.owner)
    assert sub["effective_plan"] == "pro"
    # Recorded like a webhook, with the payment as Razorpay's API returned it.
    [row] = await event_rows(rig.owner_db, f"reconcile:{payment['id']}:captured")
    assert (row["source"], row["event_type"], row["outcome"]) == (
        "reconcile",
        "payment.captured",
        "applied",
    )
    assert str(row["workspace_id"]) == rig.owner.workspace_id
    assert row["payload"]["id"] == payment["id"]
    assert row["payload"]["order_id"] == order["razorpay_order_id"]

    # The late webhook and a second run change nothing.
    response = await post_webhook(rig.client, webhook_payload("payment.captured", payment=payment))
    assert response.json()["status"] == "ignored"
    await reconcile(rig.db, provider, older_than=timedelta(0))
    assert (await sub_row(rig.owner_db, rig.owner.workspace_id))["applied_payment_ids"] == [
        payment["id"]
    ]
    assert (await subscription(rig.client, rig.owner))["current_period_end"] == sub[
        "current_period_end"
    ]


async def test_reconcile_applies_a_capture_after_a_failed_attempt(rig: Rig) -> None:
    """The first card was declined (its webhook arrived), the second paid (its webhook was
    lost): the order is ``failed`` and the money was taken, so reconcile must look at it."""
    order = await create_order(rig.client, rig.owner, "pro")
    failed = rig.fake.fail_payment(order["razorpay_order_id"])
    response = await post_webhook(rig.client, webhook_payload("payment.failed", payment=failed))
    assert response.status_code == 200
    assert await rig.order_status(order) == "failed"
    paid = rig.fake.capture_payment(order["razorpay_order_id"])  # no webhook ever arrives

    report = await reconcile(rig.db, rig.provider, older_than=timedelta(0))
    assert any(paid["id"] in line for line in report.details), report
    assert await rig.order_status(order) == "paid"
    assert (await subscription(rig.client, rig.owner))["effective_plan"] == "pro"

    # An order abandoned before the look-back window is not fetched again.
    other = await create_order(rig.client, rig.owner, "pro")
    rig.fake.capture_payment(other["razorpay_order_id"])
    later = datetime.now(UTC) + timedelta(days=8)
    report = await reconcile(rig.db, rig.provider, older_than=timedelta(0), now=later)
    assert report.orders_checked == 0
    assert await rig.order_status(other) == "created"


async def test_reconcile_survives_razorpay_down(rig: Rig) -> None:
    order = await create_order(rig.client, rig.owner)
    rig.fake.capture_payment(order["razorpay_order_id"])
    rig.fake.down = True
    report = await reconcile(rig.db, rig.provider, older_than=timedelta(0))
    assert report.provider_errors >= 1
    assert (await order_row(rig.owner_db, order["razorpay_order_id"]))["status"] == "created"
    rig.fake.down = False
    await reconcile(rig.db, rig.provider, older_than=timedelta(0))
    assert (await order_row(rig.owner_db, order["razorpay_order_id"]))["status"] == "paid"


async def test_reconcile_says_razorpay_refused_an_order_distinctly_from_unreachable(
    rig: Rig,
) -> None:
    """Razorpay answers the order's payments with its 400 refusal: the run said "provider
    unavailable", as for Razorpay down, so the operator waited for an outage that was none.
    Now it says Razorpay refused, with Razorpay's error code and description, and counts it
    apart; Razorpay down still reads unavailable."""
    order = await create_order(rig.client, rig.owner)
    rzp = order["razorpay_order_id"]
    rig.fake.refused_paths[f"/v1/orders/{rzp}/payments"] = "The id provided does not exist"
    report = await reconcile(rig.db, rig.provider, older_than=timedelta(0))
    mine = [line for line in report.details if line.startswith(f"{rzp}:")]
    assert mine == [
        f"{rzp}: refused by Razorpay (BAD_REQUEST_ERROR: The id provided does not exist)"
    ], report
    assert report.provider_refused >= 1
    assert report.provider_errors >= report.provider_refused
    rig.fake.refused_paths.clear()
    rig.fake.down = True
    report = await reconcile(rig.db, rig.provider, older_than=timedelta(0))
    rig.fake.down = False
    assert f"{rzp}: provider unavailable" in report.details
    assert report.provider_refused == 0


async def test_reconcile_rejects_a_payment_without_a_time(rig: Rig) -> None:
    order = await create_order(rig.client, rig.owner)
    payment = rig.fake.capture_payment(order["razorpay_order_id"])
    rig.fake.payments[payment["id"]]["created_at"] = "yesterday"
    report = await reconcile(rig.db, rig.provider, older_than=timedelta(0))
    assert f"{order['razorpay_order_id']}: {payment['id']} rejected invalid_payload" in (
        report.details
    )
    [row] = await event_rows(rig.owner_db, f"reconcile:{payment['id']}:captured")
    assert (row["outcome"], row["reason"]) == ("rejected", "invalid_payload")
    assert (await order_row(rig.owner_db, order["razorpay_order_id"]))["status"] == "created"
    assert (await subscription(rig.client, rig.owner))["effective_plan"] == "free"


def test_cli_registers_reconcile() -> None:
    args = build_parser().parse_args(["billing", "reconcile", "--older-than-minutes", "5"])
    assert args.older_than_minutes == 5.0
    assert args.func.__name__ == "_reconcile"


@pytest.mark.parametrize(
    "argv",
    [
        ["--limit", "-1"],
        ["--limit", "0"],
        ["--older-than-minutes", "1e12"],
        ["--older-than-minutes", "nan"],
        ["--within-days", "0"],
        ["--within-days", "soon"],
    ],
)
def test_reconcile_refuses_arguments_out_of_range_with_a_usage_error(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["billing", "reconcile", *argv])
    assert exited.value.code == 2
    assert "argument" in capsys.readouterr().err


def test_reconcile_refuses_a_window_no_order_fits() -> None:
    args = build_parser().parse_args(
        ["billing", "reconcile", "--older-than-minutes", "10080", "--within-days", "7"]
    )
    with pytest.raises(SystemExit, match="must be under --within-days"):
        args.func(args)


async def test_reconcile_rejects_a_payment_whose_id_is_too_long_to_store(rig: Rig) -> None:
    """What the provider's API returns is held to the same bound as a webhook: a payment id
    longer than the column is recorded as rejected, not a database error that stops the run."""
    order = await create_order(rig.client, rig.owner)
    payment = rig.fake.capture_payment(order["razorpay_order_id"])
    long_id = "pay_" + "z" * 296
    rig.fake.payments[long_id] = {**rig.fake.payments.pop(payment["id"]), "id": long_id}
    report = await reconcile(rig.db, rig.provider, older_than=timedelta(0))
    assert report.rejected == 1, report
    [row] = await event_rows(rig.owner_db, f"reconcile:{long_id}:captured"[:200])
    assert (row["outcome"], row["reason"]) == ("rejected", "invalid_payload")
    assert await rig.order_status(order) == "created"
    assert (await subscription(rig.client, rig.owner))["effective_plan"] == "free"


async def test_reconcile_rejects_a_payment_dated_9999_and_checks_the_other_orders(rig: Rig) -> None:
    """A fetched payment dated December 9999 stopped the whole run with a ValueError, and no
    order after it was checked (billing review 2, F2): it is recorded as rejected instead."""
    far = await create_order(rig.client, rig.owner, "pro")
    late = rig.fake.capture_payment(far["razorpay_order_id"])
    rig.fake.payments[late["id"]]["created_at"] = 253402300799
    missed = await create_order(rig.client, rig.owner, "starter")
    rig.fake.capture_payment(missed["razorpay_order_id"])  # no webhook ever arrives
    report = await reconcile(rig.db, rig.provider, older_than=timedelta(0))
    [row] = await event_rows(rig.owner_db, f"reconcile:{late['id']}:captured")
    assert (row["outcome"], row["reason"]) == ("rejected", "invalid_payload")
    assert report.rejected >= 1, report
    assert await rig.order_status(far) == "created"
    assert await rig.order_status(missed) == "paid"
    assert (await subscription(rig.client, rig.owner))["effective_plan"] == "starter"


async def test_reconcile_reaches_a_paid_order_behind_more_abandoned_ones_than_the_limit(
    rig: Rig,
) -> None:
    """``--limit`` took the oldest pending orders only: with more abandoned checkouts than the
    limit in the window, every run fetched the same ones and a newer paid order whose webhook
    was lost waited for days (billing review 2, F3). The run now pages through the window."""
    for _ in range(3):
        await create_order(rig.client, rig.owner, "pro")  # Checkout closed: never paid
    missed = await create_order(rig.client, rig.owner, "starter")
    rig.fake.capture_payment(missed["razorpay_order_id"])  # no webhook ever arrives
    report = await reconcile(rig.db, rig.provider, older_than=timedelta(0), limit=3)
    assert report.orders_checked >= 4, report
    assert await rig.order_status(missed) == "paid"
    assert (await subscription(rig.client, rig.owner))["effective_plan"] == "starter"

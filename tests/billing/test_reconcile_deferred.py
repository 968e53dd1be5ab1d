"""Review of reconcile's settling of deferred recurring charges (``charge_cycle_unknown`` rows
whose ``subscription.charged`` never came), read as an operator running it.

- The listing took the oldest ``limit`` such rows, settled or not, and skipped the settled ones
  afterwards: once ``limit`` settled charges sat in the window (they stay there for ``within``,
  seven days), a newer unsettled charge was never reached.
- A subscription's invoices were fetched once per deferred charge, and again after Razorpay's
  429 for that subscription (a 429 now stops the run: test_reconcile_rate_limit.py).
- Only the first page of ``GET /v1/invoices`` (``count`` 100, no ``skip``) was read: a charge
  whose invoice was on a later page was never settled.
- Probes that hold: two runs at once settle a charge once; 0046's lookup reads another
  workspace's deferred row only, and writes nothing.

Real webhooks (signed, through the app), the real ``razorpay`` client against the fake.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import text

from api.runtime import Runtime
from billing.event_repository import DEFERRED_LOOKUP
from billing.reconcile import RATE_LIMITED_STOP, ReconcileReport, reconcile
from core.db import Database
from tests.billing.conftest import MailingWorld, payment_mails
from tests.billing.razorpay_subscriptions import both_webhooks, charged, payment_of
from tests.billing.test_cancel_edges import renewed_while_the_cancel_waited
from tests.billing.test_held_charge_notice import to_refund
from tests.conftest import Owner, signup
from tests.fakes.razorpay_server import FakeRazorpay


async def _reconciled_since(
    runtime: Runtime, since: datetime, *, limit: int = 500
) -> ReconcileReport:
    """Reconcile over the window from ``since`` (this test's rows only: the database is shared
    with other tests), nothing held back for the webhook."""
    assert runtime.payments is not None
    now = datetime.now(UTC)
    return await reconcile(
        runtime.db,
        runtime.payments,
        older_than=now - now,
        within=now - since,
        limit=limit,
        now=now,
    )


async def _deferred(
    client: httpx.AsyncClient,
    runtime: Runtime,
    fake: FakeRazorpay,
    owner_db: Database,
    name: str,
    *,
    settle: bool,
) -> tuple[Owner, dict[str, Any], str, int]:
    """A renewal captured while the owner's cancel waited (``charge_cycle_unknown``); its
    ``subscription.charged`` delivered (``settle``) or lost. (owner, subscription, payment id,
    cycle start)."""
    owner = await signup(client, name)
    _, sub, _, end = await renewed_while_the_cancel_waited(client, runtime, owner, fake, owner_db)
    fake.down = False
    both = both_webhooks(sub, start=end)
    captured = both["payment.captured"]
    assert await charged(client, owner_db, captured) == ("ignored", "charge_cycle_unknown")
    if settle:
        assert await charged(client, owner_db, both["subscription.charged"]) == (
            "rejected",
            "charged_after_cancel",
        )
    return owner, sub, payment_of(captured), end


async def test_settled_deferred_charges_do_not_use_up_the_runs_limit(
    mailing_world: MailingWorld,
) -> None:
    runtime, client, fake, _, owner_db = mailing_world
    since = datetime.now(UTC)
    await _deferred(client, runtime, fake, owner_db, "Settled Early Co", settle=True)
    owner, sub, payment_id, end = await _deferred(
        client, runtime, fake, owner_db, "Lost Charge Co", settle=False
    )
    fake.add_invoice(sub["id"], payment_id, billing_start=end, billing_end=end + 30 * 86_400)
    report = await _reconciled_since(runtime, since, limit=1)
    assert f"{payment_id}: rejected charged_after_cancel" in report.details, report
    assert await to_refund(owner_db, owner.workspace_id) == [payment_id]


async def test_a_subscriptions_invoices_are_fetched_once_a_run_and_not_again_after_a_429(
    mailing_world: MailingWorld,
) -> None:
    """Two deferred charges of one subscription (its renewal and the next one, both lost):
    the run asked Razorpay for the same invoices once per charge, and asked again after a
    429 for the subscription. Now once a run; a refusal counts an error per charge, a 429
    stops the run (the second charge counted as left), and the next run settles both."""
    runtime, client, fake, _, owner_db = mailing_world
    since = datetime.now(UTC)
    owner, sub, first, end = await _deferred(
        client, runtime, fake, owner_db, "Two Lost Co", settle=False
    )
    later = both_webhooks(sub, start=end + 30 * 86_400)["payment.captured"]
    assert await charged(client, owner_db, later) == ("ignored", "charge_cycle_unknown")
    second = payment_of(later)
    for pid, start in ((first, end), (second, end + 30 * 86_400)):
        fake.add_invoice(sub["id"], pid, billing_start=start, billing_end=start + 30 * 86_400)

    def asked() -> int:
        return len(
            [
                r
                for r in fake.requests
                if r.path == "/v1/invoices" and r.query.get("subscription_id") == sub["id"]
            ]
        )

    before = asked()
    fake.refused_paths["/v1/invoices"] = "The api key provided is not allowed to list invoices"
    refused = await _reconciled_since(runtime, since)
    fake.refused_paths.clear()
    assert asked() - before == 1
    assert (refused.provider_errors, refused.provider_refused) == (2, 2), refused
    before = asked()
    fake.throttled_paths.add("/v1/invoices")
    limited = await _reconciled_since(runtime, since)
    fake.throttled_paths.clear()
    assert asked() - before == 1
    assert (limited.provider_errors, limited.deferred_left) == (1, 1), limited
    assert limited.details[-1] == RATE_LIMITED_STOP, limited
    assert await to_refund(owner_db, owner.workspace_id) == []
    before = asked()
    report = await _reconciled_since(runtime, since)
    assert asked() - before == 1
    assert f"{first}: rejected charged_after_cancel" in report.details, report
    assert f"{second}: rejected charged_after_cancel" in report.details, report
    assert sorted(await to_refund(owner_db, owner.workspace_id)) == sorted([first, second])


async def test_a_subscription_with_more_invoices_than_one_page_is_read_to_the_charge(
    mailing_world: MailingWorld,
) -> None:
    """Razorpay answers ``GET /v1/invoices`` a page at a time (``count``: 10 by default, at
    most 100; ``skip``), in an order its documentation does not promise. The run read the
    first 100 and, when the invoice naming the charge was not among them, said "no invoice
    names it" on every run until the charge left the window, never held or mailed. Here 100
    invoices (other payments of the subscription) come before it."""
    runtime, client, fake, _, owner_db = mailing_world
    since = datetime.now(UTC)
    owner, sub, payment_id, end = await _deferred(
        client, runtime, fake, owner_db, "Long History Co", settle=False
    )
    fake.add_invoice(sub["id"], payment_id, billing_start=end, billing_end=end + 30 * 86_400)
    for n in range(100):
        fake.add_invoice(
            sub["id"],
            f"pay_otherCycle{n:04d}",
            billing_start=end - (n + 1) * 7 * 86_400,
            billing_end=end - n * 7 * 86_400,
            created_at=end + n + 1,
        )
    report = await _reconciled_since(runtime, since)
    assert f"{payment_id}: rejected charged_after_cancel" in report.details, report
    assert await to_refund(owner_db, owner.workspace_id) == [payment_id]


async def test_two_runs_at_once_settle_a_deferred_charge_once(
    mailing_world: MailingWorld,
) -> None:
    """Two operators (or a cron and an operator) run reconcile together: the charge is held
    once, one mail: the other run finds its event id taken (or the charge settled)."""
    runtime, client, fake, smtp, owner_db = mailing_world
    since = datetime.now(UTC)
    owner, sub, payment_id, end = await _deferred(
        client, runtime, fake, owner_db, "Twice Run Co", settle=False
    )
    fake.add_invoice(sub["id"], payment_id, billing_start=end, billing_end=end + 30 * 86_400)
    first, second = await asyncio.gather(
        _reconciled_since(runtime, since), _reconciled_since(runtime, since)
    )
    held = [
        r for r in (first, second) if f"{payment_id}: rejected charged_after_cancel" in r.details
    ]
    assert len(held) == 1, (first, second)
    assert await to_refund(owner_db, owner.workspace_id) == [payment_id]
    mails = await payment_mails(runtime, smtp, owner.email)
    assert [str(m.message["Subject"]) for m in mails] == [
        "[Twice Run Co] Payment held for a refund: 499.00 INR"
    ]


async def test_the_deferred_charges_lookup_never_moves_deletes_or_widens_to_other_rows(
    owner: Owner, other: Owner, db: Database
) -> None:
    """0046's policy, probed past its own test: under ``billing:deferred-charges`` (with or
    without a workspace of the transaction) another workspace's deferred row is read but not
    moved into the transaction's workspace, rewritten or deleted; that workspace's other rows
    and a deferred row with no workspace stay unseen."""
    payment = "pay_deferredProbe1"
    rows = [
        ("evt_probe_deferred", other.workspace_id, "charge_cycle_unknown"),
        ("evt_probe_charged", other.workspace_id, "recurring_charge"),
        ("evt_probe_nows", None, "charge_cycle_unknown"),
    ]
    for event_id, workspace_id, reason in rows:
        async with db.transaction(workspace_id=workspace_id, lookup=event_id) as session:
            await session.execute(
                text(
                    "INSERT INTO billing_events (id, event_id, event_type, workspace_id, outcome,"
                    " reason, razorpay_payment_id, payload) VALUES (:id, :eid,"
                    " 'payment.captured', :ws, 'ignored', :reason, :pid, '{}'::jsonb)"
                ),
                {
                    "id": uuid.uuid4(),
                    "eid": event_id,
                    "ws": workspace_id,
                    "reason": reason,
                    "pid": payment,
                },
            )
    listing = text("SELECT event_id FROM billing_events WHERE razorpay_payment_id = :pid")
    writes = (
        "UPDATE billing_events SET workspace_id = :ws WHERE razorpay_payment_id = :pid",
        "UPDATE billing_events SET reason = 'charge_kept' WHERE razorpay_payment_id = :pid",
        "DELETE FROM billing_events WHERE razorpay_payment_id = :pid",
    )
    for workspace_id in (owner.workspace_id, None):
        async with db.transaction(workspace_id=workspace_id, lookup=DEFERRED_LOOKUP) as session:
            seen = (await session.execute(listing, {"pid": payment})).scalars().all()
            assert seen == ["evt_probe_deferred"]
            for statement in writes:
                done = await session.execute(
                    text(statement), {"ws": owner.workspace_id, "pid": payment}
                )
                assert done.rowcount == 0, statement  # type: ignore[attr-defined]
    async with db.transaction(workspace_id=other.workspace_id) as session:
        kept = await session.execute(
            text(
                "SELECT event_id, reason FROM billing_events WHERE razorpay_payment_id = :pid"
                " ORDER BY event_id"
            ),
            {"pid": payment},
        )
        assert [tuple(r) for r in kept.all()] == [
            ("evt_probe_charged", "recurring_charge"),
            ("evt_probe_deferred", "charge_cycle_unknown"),
        ]


async def test_a_deferred_charge_no_invoice_names_makes_the_run_exit_non_zero(
    mailing_world: MailingWorld,
) -> None:
    """A deferred charge whose subscription's invoices name no such payment: the run printed a
    line and exited 0, and once the charge left ``--within-days`` it was looked at no more, so
    an operator relying on the exit code never learned of it. Now it is counted
    (``deferred unsettled``) and the exit code is 3 (docs/billing.md)."""
    runtime, client, fake, _, owner_db = mailing_world
    since = datetime.now(UTC)
    _, sub, payment_id, _ = await _deferred(
        client, runtime, fake, owner_db, "Unnamed Charge Co", settle=False
    )
    report = await _reconciled_since(runtime, since)
    assert [line for line in report.details if line.startswith(payment_id)] == [
        f"{payment_id}: no invoice of subscription {sub['id']} names it"
    ]
    assert report.deferred_unsettled == 1, report
    assert report.provider_errors == 0
    from api.commands.billing import exit_code

    assert exit_code(report) == 3
    assert exit_code(ReconcileReport()) == 0


async def test_razorpay_refusing_a_subscriptions_invoices_is_said_as_a_refusal(
    mailing_world: MailingWorld,
) -> None:
    """Razorpay answers ``GET /v1/invoices`` with its 400 refusal: the run said "provider
    unavailable". Now it says refused, with Razorpay's code and description, counted apart;
    the exit code is 1 (the charge could not be checked)."""
    runtime, client, fake, _, owner_db = mailing_world
    since = datetime.now(UTC)
    _, sub, payment_id, _ = await _deferred(
        client, runtime, fake, owner_db, "Refused Invoices Co", settle=False
    )
    fake.refused_paths["/v1/invoices"] = "subscription_id is not a valid id"
    try:
        report = await _reconciled_since(runtime, since)
    finally:
        fake.refused_paths.clear()
    assert [line for line in report.details if line.startswith(payment_id)] == [
        f"{payment_id}: refused by Razorpay (BAD_REQUEST_ERROR: subscription_id is not a valid"
        f" id) (subscription {sub['id']})"
    ], report
    assert (report.provider_errors, report.provider_refused) == (1, 1)
    from api.commands.billing import exit_code

    assert exit_code(report) == 1

"""The Razorpay webhook: signatures over raw bytes, dedupe, any-order events, money checks."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from billing.models import BillingOrder
from billing.state import (
    BillingEvent,
    ExpectedOrder,
    PaidPeriod,
    SubscriptionState,
    apply_event,
)
from billing.webhooks import apply_webhook
from core.db import Database
from tests.billing.conftest import (
    OLD_WEBHOOK_SECRET,
    WEBHOOK_SECRET,
    WEBHOOK_URL,
    create_order,
    event_rows,
    new_event_id,
    order_row,
    post_webhook,
    signed,
    sub_row,
    subscription,
    wrong_signature,
)
from tests.conftest import Owner
from tests.fakes.razorpay_server import (
    FakeRazorpay,
    make_dispute,
    make_payment,
    make_refund,
    make_subscription,
    razorpay_id,
    sign_webhook,
    webhook_payload,
)
from workspaces.plans import get_plan


async def paid_setup(
    bclient: httpx.AsyncClient, owner: Owner, fake: FakeRazorpay, plan: str = "starter"
) -> tuple[dict[str, Any], dict[str, Any]]:
    order = await create_order(bclient, owner, plan)
    payment = fake.capture_payment(order["razorpay_order_id"])
    return order, payment


async def test_valid_signature_and_rotation(
    bclient: httpx.AsyncClient, owner: Owner, fake: FakeRazorpay
) -> None:
    _order, payment = await paid_setup(bclient, owner, fake)
    payload = webhook_payload("payment.captured", payment=payment)
    response = await post_webhook(bclient, payload, secret=OLD_WEBHOOK_SECRET)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "applied"
    assert (await subscription(bclient, owner))["plan"] == "starter"


async def test_tampered_and_reserialised_bodies_are_400(
    bclient: httpx.AsyncClient, owner: Owner, fake: FakeRazorpay, owner_db: Database
) -> None:
    order, payment = await paid_setup(bclient, owner, fake)
    payload = webhook_payload("payment.captured", payment=payment)
    body, signature = signed(payload)
    tampered = [
        body[:-2] + bytes([body[-2] ^ 0x01]) + body[-1:],  # one byte changed
        json.dumps(payload, indent=2).encode(),  # same JSON, re-serialised
        json.dumps(payload, separators=(",", ":")).encode(),
        json.dumps(payload, sort_keys=True).encode(),
        body + b"\n",
    ]
    for i, candidate in enumerate(tampered):
        assert candidate != body
        assert json.loads(candidate) is not None or i == 0
        response = await bclient.post(
            WEBHOOK_URL,
            content=candidate,
            headers={"X-Razorpay-Signature": signature, "X-Razorpay-Event-Id": f"evt_t{i}"},
        )
        assert response.status_code == 400, (i, response.text)
        assert response.json()["error"]["code"] == "invalid_signature"
    assert (await subscription(bclient, owner))["plan"] == "free"
    assert (await order_row(owner_db, order["razorpay_order_id"]))["status"] == "created"


BAD_SIGNATURES: list[Any] = [
    None,
    "",
    "   ",
    "zz" * 32,
    "abc",
    "a" * 63,
    "a" * 65,
    "a" * 128,
    "é" * 64,
    "sha256=" + "a" * 64,
    "\x00" * 64,
]


async def test_every_malformed_signature_header_is_400(bclient: httpx.AsyncClient) -> None:
    payload = webhook_payload("payment.captured", payment=make_payment(order_id=None, amount=100))
    body, good = signed(payload)
    candidates = [*BAD_SIGNATURES, sign_webhook(body, "wrong-secret"), wrong_signature(good)]
    for signature in candidates:
        # Each candidate differs from the valid signature even ignoring case and spaces.
        assert signature is None or signature.strip().lower() != good
        headers: list[tuple[bytes, bytes]] = [(b"x-razorpay-event-id", b"evt_bad")]
        if signature is not None:
            headers.append((b"x-razorpay-signature", signature.encode("utf-8")))
        response = await bclient.post(WEBHOOK_URL, content=body, headers=headers)
        assert response.status_code == 400, (signature, response.text)
        assert response.json()["error"]["code"] == "invalid_signature"
    # Two signature headers, a latin-1 byte, an enormous one: still 400.
    for raw in ([good, good], [b"\xff" * 64], ["a" * 10_000]):
        headers = [
            (b"x-razorpay-signature", v if isinstance(v, bytes) else v.encode()) for v in raw
        ]
        response = await bclient.post(WEBHOOK_URL, content=body, headers=headers)
        assert response.status_code == 400, response.text


@pytest.mark.parametrize("last", "0123456789abcdefABCDEF")
def test_wrong_signature_differs_whatever_the_last_digit(last: str) -> None:
    good = "5" * 63 + last
    bad = wrong_signature(good)
    assert (len(bad), bad[:-1]) == (64, good[:-1])
    assert bytes.fromhex(bad) != bytes.fromhex(good)


async def test_garbage_never_500(bclient: httpx.AsyncClient, owner_db: Database) -> None:
    bodies = [
        b"",
        b"not json",
        b"\xff\xfe\x00garbage",
        b"[]",
        b"null",
        b'{"event": 5}',
        b'{"event": "payment.captured"}',
        b'{"event": "payment.captured", "created_at": 99999999999999999999}',
        b'{"event": "payment.captured", "created_at": 1, "payload": "x"}',
        b'{"event": "payment.captured", "created_at": 1, "payload": {"payment": {"entity": '
        b'{"id": "pay_1", "order_id": "order_missing", "amount": 1e400}}}}',
        b'{"event": "x\\u0000y", "created_at": 1}',
        b'{"event": "payment.captured", "created_at": 1, "x": "\\ud800"}',
        b'{"event": "payment.captured", "created_at": 1, "\\udfff": 1}',
        b'{"a": ' * 5000 + b"1" + b"}" * 5000,
    ]
    for i, body in enumerate(bodies):
        for signature in (sign_webhook(body, WEBHOOK_SECRET), "garbage", None):
            headers = {"X-Razorpay-Event-Id": new_event_id()}
            if signature is not None:
                headers["X-Razorpay-Signature"] = signature
            response = await bclient.post(WEBHOOK_URL, content=body, headers=headers)
            assert response.status_code in (200, 400), (i, signature, response.text)
            if signature == "garbage" or signature is None:
                assert response.status_code == 400
            else:
                assert response.status_code == 200, (i, response.text)
                assert response.json()["status"] in ("rejected", "ignored")
    # Odd event ids fall back to a hash of the body rather than failing.
    body = b'{"event": "ping", "created_at": 1}'
    response = await bclient.post(
        WEBHOOK_URL,
        content=body,
        headers={
            "X-Razorpay-Signature": sign_webhook(body, WEBHOOK_SECRET),
            "X-Razorpay-Event-Id": "x" * 500,
        },
    )
    assert response.status_code == 200
    assert response.json()["event_id"].startswith("sha256:")


async def test_unset_webhook_secret_refuses_everything(client: httpx.AsyncClient) -> None:
    payload = webhook_payload("payment.captured", payment=make_payment(order_id=None, amount=100))
    body = json.dumps(payload).encode()
    for secret in ("", WEBHOOK_SECRET):
        response = await client.post(
            WEBHOOK_URL,
            content=body,
            headers={"X-Razorpay-Signature": sign_webhook(body, secret)},
        )
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "invalid_signature"


async def test_unknown_events_are_stored_and_acknowledged(
    bclient: httpx.AsyncClient, owner_db: Database
) -> None:
    event_id = new_event_id()
    response = await post_webhook(
        bclient, {"event": "invoice.paid", "created_at": 1, "payload": {}}, event_id=event_id
    )
    assert response.status_code == 200
    assert response.json()["status"] == "ignored"
    [row] = await event_rows(owner_db, event_id)
    assert row["outcome"] == "ignored"
    assert row["reason"] == "unsupported_event"
    assert row["event_type"] == "invoice.paid"
    assert row["workspace_id"] is None


async def test_five_concurrent_duplicates_apply_once(
    bclient: httpx.AsyncClient, owner: Owner, fake: FakeRazorpay, owner_db: Database
) -> None:
    _order, payment = await paid_setup(bclient, owner, fake)
    payload = webhook_payload("payment.captured", payment=payment)
    event_id = new_event_id()
    responses = await asyncio.gather(
        *(post_webhook(bclient, payload, event_id=event_id) for _ in range(5))
    )
    assert [r.status_code for r in responses] == [200] * 5
    statuses = sorted(r.json()["status"] for r in responses)
    assert statuses == ["applied", "duplicate", "duplicate", "duplicate", "duplicate"]
    rows = await event_rows(owner_db, event_id)
    assert len(rows) == 1
    assert rows[0]["outcome"] == "applied"
    assert str(rows[0]["workspace_id"]) == owner.workspace_id
    sub = await sub_row(owner_db, owner.workspace_id)
    assert sub["applied_payment_ids"] == [payment["id"]]
    assert sub["plan"] == "starter"


@pytest.mark.parametrize("first", ["order.paid", "payment.captured"])
@pytest.mark.parametrize("concurrent", [False, True])
async def test_order_paid_and_payment_captured_grant_once(
    bclient: httpx.AsyncClient,
    owner: Owner,
    fake: FakeRazorpay,
    owner_db: Database,
    first: str,
    concurrent: bool,
) -> None:
    order, payment = await paid_setup(bclient, owner, fake)
    rzp_order = dict(fake.orders[order["razorpay_order_id"]])
    payloads = {
        "order.paid": webhook_payload("order.paid", order=rzp_order, payment=payment),
        "payment.captured": webhook_payload("payment.captured", payment=payment),
    }
    second = "payment.captured" if first == "order.paid" else "order.paid"
    if concurrent:
        responses = list(
            await asyncio.gather(*(post_webhook(bclient, payloads[n]) for n in (first, second)))
        )
    else:
        responses = [await post_webhook(bclient, payloads[n]) for n in (first, second)]
    assert all(r.status_code == 200 for r in responses)
    assert sorted(r.json()["status"] for r in responses) == ["applied", "ignored"]
    sub = await sub_row(owner_db, owner.workspace_id)
    assert sub["applied_payment_ids"] == [payment["id"]]
    created = datetime.fromtimestamp(payment["created_at"], UTC)
    assert abs(sub["current_period_end"] - (created + timedelta(days=31))) < timedelta(days=4)
    assert (await order_row(owner_db, order["razorpay_order_id"]))["status"] == "paid"


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [("amount", 100, "amount_mismatch"), ("currency", "USD", "currency_mismatch")],
)
async def test_money_mismatch_is_rejected_and_recorded(
    bclient: httpx.AsyncClient,
    owner: Owner,
    owner_db: Database,
    field: str,
    value: object,
    reason: str,
) -> None:
    order = await create_order(bclient, owner)
    payment = make_payment(order_id=order["razorpay_order_id"], amount=order["amount"])
    payment[field] = value
    event_id = new_event_id()
    response = await post_webhook(
        bclient, webhook_payload("payment.captured", payment=payment), event_id=event_id
    )
    assert response.status_code == 200
    assert response.json() == {"status": "rejected", "event_id": event_id, "reason": reason}
    [row] = await event_rows(owner_db, event_id)
    assert row["outcome"] == "rejected"
    assert row["reason"] == reason
    assert str(row["workspace_id"]) == owner.workspace_id
    assert (await order_row(owner_db, order["razorpay_order_id"]))["status"] == "created"
    assert (await subscription(bclient, owner))["effective_plan"] == "free"
    history = await bclient.get(owner.url("/billing/payments"), headers=owner.headers)
    assert [p["status"] for p in history.json()["items"]] == ["rejected"]


@pytest.mark.parametrize("names_the_payment", [True, False])
async def test_failed_then_paid_then_refunded(
    bclient: httpx.AsyncClient,
    owner: Owner,
    fake: FakeRazorpay,
    owner_db: Database,
    names_the_payment: bool,
) -> None:
    order = await create_order(bclient, owner)
    rzp = order["razorpay_order_id"]
    failed = fake.fail_payment(rzp)
    assert (await post_webhook(bclient, webhook_payload("payment.failed", payment=failed))).json()[
        "status"
    ] == "applied"
    assert (await order_row(owner_db, rzp))["status"] == "failed"
    payment = fake.capture_payment(rzp)
    await post_webhook(bclient, webhook_payload("payment.captured", payment=payment))
    assert (await order_row(owner_db, rzp))["status"] == "paid"
    # A late failure never takes the order back.
    await post_webhook(bclient, webhook_payload("payment.failed", payment=failed))
    assert (await order_row(owner_db, rzp))["status"] == "paid"
    assert (await subscription(bclient, owner))["effective_plan"] == "starter"

    refund = make_refund(payment_id=payment["id"], amount=payment["amount"])
    # A refund event that carries only the refund (its payment id) is found through the
    # payment we recorded, as docs/billing.md says (it was "unknown_order").
    carried = payment if names_the_payment else None
    response = await post_webhook(
        bclient, webhook_payload("refund.processed", refund=refund, payment=carried)
    )
    assert response.json()["status"] == "applied", response.text
    assert (await order_row(owner_db, rzp))["status"] == "refunded"
    assert (await subscription(bclient, owner))["effective_plan"] == "free"
    usage = await bclient.get(owner.url("/usage"), headers=owner.headers)
    assert usage.json()["plan"] == "free"


async def paid_at_time(
    bclient: httpx.AsyncClient, owner: Owner, fake: FakeRazorpay, when: datetime
) -> dict[str, Any]:
    """A Starter order paid at ``when`` (Razorpay's event time), reported by its webhook."""
    order = await create_order(bclient, owner)
    payment = fake.capture_payment(order["razorpay_order_id"])
    payment["created_at"] = int(when.timestamp())
    response = await post_webhook(
        bclient,
        webhook_payload("payment.captured", payment=payment, created_at=int(when.timestamp())),
    )
    assert response.json()["status"] == "applied", response.text
    return payment


@pytest.mark.parametrize("stored_before_periods", [False, True])
async def test_refunding_a_used_up_payment_keeps_the_later_paid_period(
    bclient: httpx.AsyncClient,
    owner: Owner,
    fake: FakeRazorpay,
    owner_db: Database,
    stored_before_periods: bool,
) -> None:
    """The review's F1 through the webhook: a month paid 40 days ago, a fresh month paid 5 days
    ago after it had lapsed, then the old month refunded in full. The workspace was on Free at
    once (the refund took a month off the current end). ``stored_before_periods``: the
    subscription row was stored before paid periods were recorded (migration 0015), so they are
    derived from the payment history."""
    now = datetime.now(UTC).replace(microsecond=0)
    first = await paid_at_time(bclient, owner, fake, now - timedelta(days=40))
    await paid_at_time(bclient, owner, fake, now - timedelta(days=5))
    end = (await subscription(bclient, owner))["current_period_end"]
    assert datetime.fromisoformat(end) > now + timedelta(days=20)
    if stored_before_periods:
        async with owner_db.transaction() as s:
            await s.execute(
                text("UPDATE subscriptions SET paid_periods = '[]' WHERE workspace_id = :w"),
                {"w": owner.workspace_id},
            )
    refund_at = int((now - timedelta(days=1)).timestamp())
    refund = make_refund(payment_id=first["id"], amount=first["amount"], created_at=refund_at)
    response = await post_webhook(
        bclient,
        webhook_payload("refund.processed", refund=refund, payment=first, created_at=refund_at),
    )
    assert response.json()["status"] == "applied", response.text
    assert response.json()["reason"] == "refund_recorded"
    sub = await subscription(bclient, owner)
    assert (sub["effective_plan"], sub["status"], sub["current_period_end"]) == (
        "starter",
        "active",
        end,
    )
    usage = await bclient.get(owner.url("/usage"), headers=owner.headers)
    assert usage.json()["plan"] == "starter"
    assert (await order_row(owner_db, first["order_id"]))["status"] == "refunded"
    row = await sub_row(owner_db, owner.workspace_id)
    assert row["refunded_payment_ids"] == [first["id"]]
    assert {p["payment_id"] for p in row["paid_periods"]} == set(row["applied_payment_ids"])


async def test_refunds_in_parts_and_a_lost_chargeback_take_the_plan_back(
    bclient: httpx.AsyncClient, owner: Owner, other: Owner, fake: FakeRazorpay, owner_db: Database
) -> None:
    """The review's F6: each part of a refund made in two parts was `partial_refund` and the plan
    stayed although the whole payment had gone back; `payment.dispute.lost` was stored as
    `unsupported_event` and the plan ran on."""
    order, payment = await paid_setup(bclient, owner, fake)
    await post_webhook(bclient, webhook_payload("payment.captured", payment=payment))
    for part, refunded, status in ((50_000, 50_000, "partial"), (49_900, 99_900, "full")):
        refund = make_refund(payment_id=payment["id"], amount=part)
        entity = {**payment, "amount_refunded": refunded, "refund_status": status}
        response = await post_webhook(
            bclient, webhook_payload("refund.processed", refund=refund, payment=entity)
        )
        assert response.status_code == 200, response.text
        assert response.json()["reason"] == (
            "partial_refund" if status == "partial" else "period_revoked"
        )
        plan = "starter" if status == "partial" else "free"
        assert (await subscription(bclient, owner))["effective_plan"] == plan
    assert (await order_row(owner_db, order["razorpay_order_id"]))["status"] == "refunded"
    history = await bclient.get(owner.url("/billing/payments"), headers=owner.headers)
    assert [p["status"] for p in history.json()["items"]] == ["refunded"]

    order, payment = await paid_setup(bclient, other, fake)
    await post_webhook(bclient, webhook_payload("payment.captured", payment=payment))
    dispute = make_dispute(payment_id=payment["id"], amount=payment["amount"])
    response = await post_webhook(
        bclient, webhook_payload("payment.dispute.lost", dispute=dispute, payment=payment)
    )
    assert response.json()["status"] == "applied", response.text
    assert response.json()["reason"] == "period_revoked"
    assert (await subscription(bclient, other))["effective_plan"] == "free"
    assert (await order_row(owner_db, order["razorpay_order_id"]))["status"] == "refunded"
    history = await bclient.get(other.url("/billing/payments"), headers=other.headers)
    assert [p["status"] for p in history.json()["items"]] == ["chargeback"]


async def test_billing_rows_are_tenant_isolated(
    bclient: httpx.AsyncClient, owner: Owner, other: Owner, fake: FakeRazorpay, db: Database
) -> None:
    _order, payment = await paid_setup(bclient, owner, fake)
    event_id = new_event_id()
    await post_webhook(
        bclient, webhook_payload("payment.captured", payment=payment), event_id=event_id
    )
    async with db.transaction(workspace_id=other.workspace_id) as s:
        for table in ("billing_orders", "billing_payments", "subscriptions", "billing_events"):
            count = await s.scalar(
                text(f"SELECT count(*) FROM {table} WHERE workspace_id = :w"),  # noqa: S608
                {"w": owner.workspace_id},
            )
            assert count == 0, table
    async with db.transaction() as s:  # no tenant, no lookup: nothing at all
        for table in ("billing_orders", "billing_payments", "subscriptions", "billing_events"):
            assert await s.scalar(text(f"SELECT count(*) FROM {table}")) == 0  # noqa: S608
    async with db.transaction(workspace_id=owner.workspace_id) as s:
        assert await s.scalar(text("SELECT count(*) FROM billing_events")) >= 1


# --- property: shuffled event sequences through the database ----------------------------------

T0 = int(datetime(2026, 1, 5, tzinfo=UTC).timestamp())


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_shuffled_events_keep_the_invariants(
    db: Database, owner: Owner, data: st.DataObject
) -> None:
    workspace_id = uuid.UUID(owner.workspace_id)
    # A fresh subscription and orders per example.
    async with db.transaction(workspace_id=workspace_id) as s:
        await s.execute(text("DELETE FROM billing_orders"))
        await s.execute(text("DELETE FROM subscriptions"))
        orders = []
        for i, plan in enumerate(
            data.draw(
                st.lists(st.sampled_from(["starter", "pro"]), min_size=1, max_size=3), label="plans"
            )
        ):
            order = BillingOrder(
                id=uuid.uuid4(),
                workspace_id=workspace_id,
                plan=plan,
                period="monthly",
                amount=get_plan(plan).price("monthly") or 0,
                currency="INR",
                razorpay_order_id=razorpay_id("order"),
                status="created",
            )
            s.add(order)
            orders.append((order, razorpay_id("pay"), T0 + i * 86_400))
    events: list[tuple[str, dict[str, Any]]] = []
    for order, pay_id, at in orders:
        payment = make_payment(
            order_id=order.razorpay_order_id, amount=order.amount, payment_id=pay_id, created_at=at
        )
        failed = make_payment(
            order_id=order.razorpay_order_id,
            amount=order.amount,
            status="failed",
            created_at=at - 60,
        )
        kinds = data.draw(
            st.lists(
                st.sampled_from(["captured", "order_paid", "failed", "dup", "refund"]),
                min_size=1,
                max_size=4,
            ),
            label="kinds",
        )
        for kind in kinds:
            if kind in ("captured", "dup"):
                events.append(
                    (
                        "captured",
                        webhook_payload("payment.captured", payment=payment, created_at=at),
                    )
                )
            elif kind == "order_paid":
                events.append(
                    (
                        "captured",
                        webhook_payload(
                            "order.paid",
                            payment=payment,
                            created_at=at,
                            order={"id": order.razorpay_order_id, "entity": "order"},
                        ),
                    )
                )
            elif kind == "failed":
                events.append(
                    (
                        "failed",
                        webhook_payload("payment.failed", payment=failed, created_at=at - 60),
                    )
                )
            else:
                refund = make_refund(payment_id=pay_id, amount=order.amount, created_at=at + 3600)
                events.append(
                    (
                        "refund",
                        webhook_payload(
                            "refund.processed", refund=refund, payment=payment, created_at=at + 3600
                        ),
                    )
                )
    shuffled = data.draw(st.permutations(events), label="order")

    by_rzp = {o.razorpay_order_id: o for o, _, _ in orders}
    model = SubscriptionState()
    ever_paid: set[str] = set()
    for _kind, payload in shuffled:
        async with db.transaction() as s:
            await apply_webhook(s, payload, event_key=new_event_id(), source="webhook")
        # The same event through the pure reducer, for the expected final state.
        payment_entity = payload["payload"]["payment"]["entity"]
        o = by_rzp[payment_entity["order_id"]]
        expected = ExpectedOrder(o.razorpay_order_id, o.plan, "monthly", o.amount)
        ev = payload["event"]
        money = payload["payload"].get("refund", {"entity": payment_entity})["entity"]
        model, _ = apply_event(
            model,
            BillingEvent(
                name=ev,
                occurred_at=datetime.fromtimestamp(payload["created_at"], UTC),
                payment_id=payment_entity["id"]
                if ev != "refund.processed"
                else money["payment_id"],
                amount=money["amount"],
                currency=money["currency"],
                expected=expected,
            ),
        )
        async with db.transaction(workspace_id=workspace_id) as s:
            rows = dict(
                (
                    await s.execute(text("SELECT razorpay_order_id, status FROM billing_orders"))
                ).all()
            )
        for rzp_id, status in rows.items():
            if rzp_id in ever_paid:  # a paid order never returns to unpaid
                assert status in ("paid", "refunded"), (rzp_id, status)
            if status in ("paid", "refunded"):
                ever_paid.add(rzp_id)

    async with db.transaction(workspace_id=workspace_id) as s:
        sub = (
            await s.execute(
                text(
                    "SELECT plan, current_period_end, applied_payment_ids, paid_periods"
                    " FROM subscriptions"
                )
            )
        ).one_or_none()
        ws = (
            await s.execute(
                text("SELECT plan, plan_expires_at FROM workspaces WHERE id = :w"),
                {"w": workspace_id},
            )
        ).one()
    assert sub is not None
    # The plan matches the last valid transition (the reducer applied in the same order).
    assert sub.plan == model.plan_code
    assert sub.current_period_end == model.current_period_end
    assert set(sub.applied_payment_ids) == set(model.applied_payment_ids)
    # What each payment paid for is stored as the reducer left it.
    assert {PaidPeriod.from_json(p) for p in sub.paid_periods} == model.paid_periods
    # Each captured payment counted at most once; quotas follow the subscription.
    assert len(sub.applied_payment_ids) == len(set(sub.applied_payment_ids))
    if model.plan_code != "free":
        assert ws.plan == model.plan_code
        assert ws.plan_expires_at == model.current_period_end


async def test_razorpay_down_leaves_webhooks_unaffected(
    bclient: httpx.AsyncClient, owner: Owner, fake: FakeRazorpay
) -> None:
    order, payment = await paid_setup(bclient, owner, fake)
    fake.down = True  # the provider's API is unreachable from here on
    orders = await bclient.post(
        owner.url("/billing/orders"), json={"plan": "pro"}, headers=owner.headers
    )
    assert orders.status_code == 503
    response = await post_webhook(bclient, webhook_payload("payment.captured", payment=payment))
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "applied"
    assert (await subscription(bclient, owner))["plan"] == "starter"
    assert order["plan"] == "starter"


@pytest.mark.parametrize("length", [65, 300])
async def test_a_signed_event_with_an_id_too_long_to_store_is_rejected_not_retried(
    bclient: httpx.AsyncClient, owner: Owner, owner_db: Database, length: int
) -> None:
    """A signed event for one of our orders whose payment id, or whose subscription's id, is
    longer than the columns that hold Razorpay's ids was a 500, which Razorpay retries for a
    day: it is now recorded as rejected (invalid_payload) and answered 200, and changes
    nothing. A long payment method is kept, cut to its column."""
    order = await create_order(bclient, owner)
    payment = make_payment(order_id=order["razorpay_order_id"], amount=order["amount"])
    payment["id"] = "pay_" + "x" * (length - 4)
    event_id = new_event_id()
    payload = webhook_payload("payment.captured", payment=payment)
    for expected in ("rejected", "duplicate"):  # a retried delivery changes nothing either
        response = await post_webhook(bclient, payload, event_id=event_id)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == expected
    [row] = await event_rows(owner_db, event_id)
    assert (row["outcome"], row["reason"]) == ("rejected", "invalid_payload")
    assert "payment_id longer than 64 characters" in row["detail"]
    assert (await order_row(owner_db, order["razorpay_order_id"]))["status"] == "created"
    assert (await subscription(bclient, owner))["effective_plan"] == "free"

    sub = make_subscription(plan_id=razorpay_id("plan"), notes={"workspace_id": owner.workspace_id})
    sub["id"] = "sub_" + "y" * (length - 4)
    event_id = new_event_id()
    activated = webhook_payload("subscription.activated", subscription=sub)
    response = await post_webhook(bclient, activated, event_id=event_id)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "rejected"
    assert (await sub_row(owner_db, owner.workspace_id)).get("razorpay_subscription_id") is None

    method = make_payment(order_id=order["razorpay_order_id"], amount=order["amount"])
    method["method"] = "m" * length
    response = await post_webhook(bclient, webhook_payload("payment.captured", payment=method))
    assert (response.status_code, response.json()["status"]) == (200, "applied"), response.text
    history = await bclient.get(owner.url("/billing/payments"), headers=owner.headers)
    [paid] = history.json()["items"]
    assert (paid["razorpay_payment_id"], paid["method"]) == (method["id"], "m" * 32)
    assert (await subscription(bclient, owner))["effective_plan"] == "starter"

"""0035 on a database set up as production is (the migration role no superuser, no BYPASSRLS):
every payment recorded before gets ``paid_at``, Razorpay's time of the event that took its money
where one was stored, else the payment's own time, else when we recorded it."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from core import migrate
from core.embedded import EmbeddedPostgres
from tests.conftest import APP_ROLE
from tests.operator_scratch import OWNER_ROLE, _superuser
from tests.rag.test_question_keys_migration import _workspace, as_production

DATABASE = "trulybot_migration_0035"
RECORDED = datetime(2026, 6, 2, 12, 0, tzinfo=UTC)  # when each payment was recorded
EVENT = datetime(2026, 6, 1, 9, 30, tzinfo=UTC)  # a webhook's time (delivered a day late)
VERIFIED = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)  # the order's paid_at (verify, no event)
MADE = datetime(2026, 6, 1, 7, 15, tzinfo=UTC)  # the payment entity's created_at


@pytest.fixture
async def before_0035(pg: EmbeddedPostgres) -> EmbeddedPostgres:
    return await as_production(pg, DATABASE, "0034")


async def _insert(conn, workspace: uuid.UUID) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """One order and its payments, each with another trace of when it was paid."""
    order, tag = uuid.uuid4(), uuid.uuid4().hex[:8]
    ids = {k: f"pay_{k}{tag}" for k in ("event", "order", "raw", "none", "garbled")}
    await conn.execute(
        text(
            "INSERT INTO billing_orders (id, workspace_id, plan, period, amount, currency,"
            " razorpay_order_id, status, razorpay_payment_id, paid_at, created_at, updated_at)"
            " VALUES (:id, :ws, 'starter', 'monthly', 100, 'INR', :rp, 'paid', :pid, :paid,"
            " :at, :at)"
        ),
        {"id": order, "ws": workspace, "rp": f"order_{tag}", "pid": ids["order"]}
        | {"paid": VERIFIED, "at": RECORDED},
    )
    raws = {"raw": {"created_at": int(MADE.timestamp())}, "event": {"created_at": 1}}
    for kind, payment_id in ids.items():
        await conn.execute(
            text(
                "INSERT INTO billing_payments (id, workspace_id, order_id, razorpay_payment_id,"
                " amount, currency, status, source, raw, created_at, updated_at) VALUES (:id,"
                " :ws, :o, :pid, 100, 'INR', 'captured', 'webhook', CAST(:raw AS jsonb), :at,"
                " :at)"
            ),
            {"id": uuid.uuid4(), "ws": workspace, "o": order, "pid": payment_id}
            | {"raw": json.dumps(raws.get(kind, {})), "at": RECORDED},
        )
    events = [
        ("event", "payment.authorized", int((EVENT - timedelta(hours=1)).timestamp())),
        ("event", "payment.captured", int(EVENT.timestamp())),
        ("event", "order.paid", int((EVENT + timedelta(seconds=2)).timestamp())),
        ("garbled", "payment.captured", "soon"),
        ("garbled", "order.paid", 99_999_999_999),  # past 2100: no time of Razorpay's
    ]
    for kind, name, created_at in events:
        await conn.execute(
            text(
                "INSERT INTO billing_events (id, event_id, event_type, workspace_id, outcome,"
                " razorpay_payment_id, payload) VALUES (:id, :eid, :name, :ws, 'applied', :pid,"
                " CAST(:payload AS jsonb))"
            ),
            {"id": uuid.uuid4(), "eid": uuid.uuid4().hex, "name": name, "ws": workspace}
            | {"pid": ids[kind], "payload": json.dumps({"event": name, "created_at": created_at})},
        )
    return ids


async def _paid_at(cluster: EmbeddedPostgres) -> dict[str, datetime]:
    async with _superuser(cluster) as conn:
        rows = await conn.execute(text("SELECT razorpay_payment_id, paid_at FROM billing_payments"))
        return {row[0]: row[1] for row in rows}


async def test_recorded_payments_are_dated_when_they_were_paid(
    before_0035: EmbeddedPostgres,
) -> None:
    cluster = before_0035
    workspace = await _workspace(cluster)
    async with _superuser(cluster) as conn:
        ids = await _insert(conn, workspace)
    await migrate.upgrade(cluster.app_url(OWNER_ROLE), app_role=APP_ROLE)
    assert await _paid_at(cluster) == {
        ids["event"]: EVENT,  # the capture's event, not the authorization's, nor the raw's
        ids["order"]: VERIFIED,
        ids["raw"]: MADE,
        ids["none"]: RECORDED,
        ids["garbled"]: RECORDED,
    }
    # New rows of a release that does not know the column yet are dated when recorded.
    async with _superuser(cluster) as conn:
        await conn.execute(
            text(
                "INSERT INTO billing_payments (id, workspace_id, order_id, razorpay_payment_id,"
                " status, source) SELECT :id, workspace_id, order_id, 'pay_new', 'captured',"
                " 'webhook' FROM billing_payments LIMIT 1"
            ),
            {"id": uuid.uuid4()},
        )
    assert (await _paid_at(cluster))["pay_new"] is not None

    await migrate.downgrade(cluster.app_url(OWNER_ROLE), "0034")
    await migrate.upgrade(cluster.app_url(OWNER_ROLE), app_role=APP_ROLE)
    assert (await _paid_at(cluster))[ids["event"]] == EVENT

"""0043 on a database set up as production is (the migration role no superuser, no BYPASSRLS):
a ``refund.processed`` the previous release recorded with no workspace for a recurring charge a
workspace held (``charged_after_cancel``) is given that workspace and ``held_charge_refunded``,
so the owner's plan page reads "refunded"; any other refund of no order of ours stays as it was."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import text

from core import migrate
from core.embedded import EmbeddedPostgres
from tests.conftest import APP_ROLE
from tests.operator_scratch import OWNER_ROLE, _superuser
from tests.rag.test_question_keys_migration import _workspace, as_production

DATABASE = "trulybot_migration_0043"


@pytest.fixture
async def before_0043(pg: EmbeddedPostgres) -> EmbeddedPostgres:
    return await as_production(pg, DATABASE, "0042")


async def test_a_refund_of_a_held_charge_recorded_before_is_the_workspaces(
    before_0043: EmbeddedPostgres,
) -> None:
    cluster = before_0043
    workspace = await _workspace(cluster)
    rows = [  # (event id, type, workspace, outcome, reason, payment)
        (
            "evt_held",
            "subscription.charged",
            workspace,
            "rejected",
            "charged_after_cancel",
            "pay_h",
        ),
        ("evt_refund", "refund.processed", None, "ignored", "unknown_order", "pay_h"),
        ("evt_other", "refund.processed", None, "ignored", "unknown_order", "pay_other"),
    ]
    async with _superuser(cluster) as conn:
        for event_id, kind, ws, outcome, reason, payment in rows:
            await conn.execute(
                text(
                    "INSERT INTO billing_events (id, event_id, event_type, workspace_id, outcome,"
                    " reason, razorpay_payment_id, payload) VALUES (:id, :eid, :kind, :ws,"
                    " :outcome, :reason, :pid, CAST(:payload AS jsonb))"
                ),
                {"id": uuid.uuid4(), "eid": event_id, "kind": kind, "ws": ws}
                | {"outcome": outcome, "reason": reason, "pid": payment}
                | {"payload": json.dumps({"event": kind})},
            )
    await migrate.upgrade(cluster.app_url(OWNER_ROLE), app_role=APP_ROLE)
    async with _superuser(cluster) as conn:
        found = await conn.execute(
            text("SELECT event_id, workspace_id, reason FROM billing_events ORDER BY event_id")
        )
        assert [tuple(row) for row in found] == [
            ("evt_held", workspace, "charged_after_cancel"),
            ("evt_other", None, "unknown_order"),
            ("evt_refund", workspace, "held_charge_refunded"),
        ]
        forced = await conn.execute(
            text("SELECT relforcerowsecurity FROM pg_class WHERE relname = 'billing_events'")
        )
        assert forced.scalar_one() is True

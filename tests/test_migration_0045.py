"""0045: leads without email are one per national number (``tb_phone_key``). On a database set
up as production (the migration role owns the tables, no superuser, no BYPASSRLS): the leads
the old rule kept apart are merged into the oldest, the index is built outside a transaction,
and the downgrade refuses what 0042's index cannot hold."""

from __future__ import annotations

import io
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from core import migrate
from core.embedded import EmbeddedPostgres
from core.migrate import alembic_config
from tests.conftest import APP_ROLE
from tests.operator_scratch import OWNER_ROLE, _superuser
from tests.rag.test_question_keys_migration import _workspace, as_production
from tests.test_migration_0042 import _in_transactions

DATABASE = "trulybot_phone_key"


@pytest.fixture
async def at_head(pg: EmbeddedPostgres) -> EmbeddedPostgres:
    return await as_production(pg, DATABASE, "heads")


KEYS = [
    ("+91 98765 43210", "9876543210"),
    ("98765 43210", "9876543210"),
    ("098765-43210", "9876543210"),
    ("0091 98765 43210", "9876543210"),
    ("+91 (0) 98765 43210", "9876543210"),
    ("(+91) 98765.43210", "9876543210"),
    ("919876543210", "919876543210"),  # no "+" nor "00": no country code is read
    ("+1 (555) 123-4567", "5551234567"),
    ("1 555 123 4567", "15551234567"),  # North America's "1" is no trunk prefix
    ("+44 (0)20 7946 0000", "2079460000"),
    ("020 7946 0000", "2079460000"),
    ("+39 06 1234 5678", "0612345678"),  # Italy keeps its "0"
    ("06 1234 5678", "612345678"),  # without "+39" it is read as a trunk "0"
    ("+378 0549 123456", "0549123456"),
    ("+225 07 12 34 56 78", "0712345678"),
    ("+353 85 123 4567", "851234567"),
    ("00353 85 123 4567", "851234567"),
    ("+86 138 1234 5678", "13812345678"),
    ("13812345678", "13812345678"),
    ("+7 916 123-45-67", "9161234567"),
    # 88x (Bangladesh 880, Taiwan 886): were read as no country code at all ("0886...").
    ("+886 912 345 678", "912345678"),
    ("0912 345 678", "912345678"),
    ("+880 1712-345678", "1712345678"),
    ("01712-345678", "1712345678"),
    ("+358 40 123 4567", "401234567"),
]


async def test_the_key_is_the_national_number(at_head: EmbeddedPostgres) -> None:
    async with _superuser(at_head) as conn:
        for phone, key in KEYS:
            found = (await conn.execute(text("SELECT tb_phone_key(:p)"), {"p": phone})).scalar_one()
            assert found == key, phone


def test_the_country_codes_are_a_prefix_code_without_a_gap() -> None:
    """Every number after "+" begins with exactly one country code of the table: none missing
    (88x, Bangladesh and Taiwan, was) and none beginning another (PostgreSQL takes the longest
    match of an alternation: "86" and "86x" both would cut a Chinese number's "1")."""
    codes = migrate.revision_module("0045").COUNTRY_CODE
    branches = [re.compile(branch) for branch in codes.split("|")]
    for start in range(100, 1000):
        digits = str(start)
        matching = [b.pattern for b in branches if b.match(digits)]
        assert len(matching) == 1, (digits, matching)


def test_the_index_is_built_outside_a_transaction(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://trulybot@localhost/trulybot")
    config = alembic_config()
    config.output_buffer = io.StringIO()
    command.upgrade(config, "0044:0045", sql=True)
    sql = config.output_buffer.getvalue()
    assert re.search(r"CREATE UNIQUE INDEX CONCURRENTLY\s+uq_leads_workspace_phone_key", sql)
    held = [s for s in _in_transactions(sql) if "INDEX" in s]
    assert held == [], sql


async def _add_leads(
    conn: AsyncConnection, workspace: uuid.UUID, rows: list[dict[str, Any]]
) -> list[uuid.UUID]:
    """Leads without email of ``workspace``, a second apart in this order: their ids."""
    start, ids = datetime.now(UTC), []
    for i, row in enumerate(rows):
        values = {"status": "new", "name": None, "message": None, "notes": None, **row}
        values |= {"id": uuid.uuid4(), "ws": workspace, "at": start + timedelta(seconds=i)}
        await conn.execute(
            text(
                "INSERT INTO leads (id, workspace_id, source, status, created_at, updated_at,"
                " phone, name, message, notes) VALUES (:id, :ws, 'chat', :status, :at, :at,"
                " :phone, :name, :message, :notes)"
            ),
            values,
        )
        ids.append(values["id"])
    return ids


async def test_leads_the_old_rule_kept_apart_are_merged_into_the_oldest(
    at_head: EmbeddedPostgres,
) -> None:
    await migrate.downgrade(at_head.app_url(OWNER_ROLE), "0044")
    workspace = await _workspace(at_head)
    rows = [
        ("+91 98765 43210", None, "Call after 6"),
        ("98765 43210", "Ravi", "second"),
        ("0091 98765 43210", None, None),
        ("+91 98765 43211", "Other", None),
    ]
    async with _superuser(at_head) as conn:
        ids = await _add_leads(
            conn, workspace, [{"phone": p, "name": n, "message": m} for p, n, m in rows]
        )
        for lead, (phone, _, _) in zip(ids, rows, strict=True):
            await conn.execute(
                text(
                    "INSERT INTO lead_submissions (id, workspace_id, lead_id, phone, source)"
                    " VALUES (:id, :ws, :lead, :p, 'widget')"
                ),
                {"id": uuid.uuid4(), "ws": workspace, "lead": lead, "p": phone},
            )
    await migrate.upgrade(at_head.app_url(OWNER_ROLE), app_role=APP_ROLE)
    async with _superuser(at_head) as conn:
        leads = (
            await conn.execute(
                text(
                    "SELECT id, phone, name, message FROM leads WHERE workspace_id = :ws"
                    " ORDER BY created_at"
                ),
                {"ws": workspace},
            )
        ).all()
        submissions = (
            await conn.execute(
                text(
                    "SELECT lead_id, count(*) FROM lead_submissions WHERE workspace_id = :ws"
                    " GROUP BY lead_id"
                ),
                {"ws": workspace},
            )
        ).all()
    assert [tuple(lead) for lead in leads] == [
        (ids[0], "+91 98765 43210", "Ravi", "Call after 6"),
        (ids[3], "+91 98765 43211", "Other", None),
    ]
    assert dict(submissions) == {ids[0]: 3, ids[3]: 1}


async def test_the_downgrade_refuses_two_leads_with_the_same_digits(
    at_head: EmbeddedPostgres,
) -> None:
    """ "+91 98765 43210" and "91 98765 43210" are two numbers now (no "+": no country code
    read), one by 0042's digits: its index could not be built."""
    workspace = await _workspace(at_head)
    async with _superuser(at_head) as conn:
        for phone in ("+91 98765 43210", "91 98765 43210"):
            await conn.execute(
                text(
                    "INSERT INTO leads (id, workspace_id, phone, source, status, created_at,"
                    " updated_at) VALUES (:id, :ws, :p, 'chat', 'new', now(), now())"
                ),
                {"id": uuid.uuid4(), "ws": workspace, "p": phone},
            )
    with pytest.raises(Exception, match="have the same digits"):
        await migrate.downgrade(at_head.app_url(OWNER_ROLE), "0044")
    async with _superuser(at_head) as conn:
        await conn.execute(text("DELETE FROM leads WHERE workspace_id = :ws"), {"ws": workspace})


async def test_the_merge_keeps_the_owners_notes_and_status_and_moves_the_mails(
    at_head: EmbeddedPostgres,
) -> None:
    """The merged lead's notes (the owner's own words) and a status the owner moved it to are
    carried to the lead kept, and the owners' mails about it name the lead kept: an erasure of
    that visitor finds them by it (before, the notes and status went with the merged lead, and
    a "New lead" mail quoting the number named a lead that no longer existed)."""
    await migrate.downgrade(at_head.app_url(OWNER_ROLE), "0044")
    workspace = await _workspace(at_head)
    rows = [
        ("+91 98765 43210", "new", "Called once, no answer"),
        ("098765 43210", "contacted", "Wants the Family plan"),
    ]
    mail = uuid.uuid4()
    async with _superuser(at_head) as conn:
        ids = await _add_leads(
            conn, workspace, [{"phone": p, "status": s, "notes": n} for p, s, n in rows]
        )
        await conn.execute(
            text(
                "INSERT INTO mail_outbox (id, recipient, subject, text_body, template,"
                " about_workspace, about_leads) VALUES (:id, 'owner@example.com',"
                " 'New lead: 098765 43210', 'Phone: 098765 43210', 'notification', :ws,"
                " ARRAY[CAST(:lead AS uuid)])"
            ),
            {"id": mail, "ws": workspace, "lead": ids[1]},
        )
    await migrate.upgrade(at_head.app_url(OWNER_ROLE), app_role=APP_ROLE)
    async with _superuser(at_head) as conn:
        [lead] = (
            await conn.execute(
                text("SELECT id, status, notes FROM leads WHERE workspace_id = :ws"),
                {"ws": workspace},
            )
        ).all()
        about = (
            await conn.execute(
                text("SELECT about_leads FROM mail_outbox WHERE id = :id"), {"id": mail}
            )
        ).scalar_one()
        await conn.execute(text("DELETE FROM mail_outbox WHERE id = :id"), {"id": mail})
        await conn.execute(text("DELETE FROM leads WHERE workspace_id = :ws"), {"ws": workspace})
    assert lead.id == ids[0]
    assert lead.status == "contacted"
    assert "Called once, no answer" in lead.notes
    assert "Wants the Family plan" in lead.notes
    assert [str(a) for a in about] == [str(ids[0])]


async def test_the_merge_keeps_two_countries_numbers_with_the_same_digits_apart(
    at_head: EmbeddedPostgres,
) -> None:
    """A London mobile and a Delhi mobile with the same ten digits stay two leads; the number
    written without a country code goes into the oldest of them."""
    ids, kept = await _merged(at_head, ["+44 7911 123456", "+91 79111 23456", "07911 123456"])
    assert kept == ids[:2]


async def _merged(at_head: EmbeddedPostgres, phones: list[str]) -> tuple[list[Any], list[Any]]:
    """Leads without email with ``phones`` (oldest first) added before 0045, then upgraded:
    their ids, and the ids the merge kept (oldest first); the workspace's leads then go."""
    await migrate.downgrade(at_head.app_url(OWNER_ROLE), "0044")
    workspace = await _workspace(at_head)
    async with _superuser(at_head) as conn:
        ids = await _add_leads(conn, workspace, [{"phone": p} for p in phones])
    await migrate.upgrade(at_head.app_url(OWNER_ROLE), app_role=APP_ROLE)
    async with _superuser(at_head) as conn:
        kept = (
            await conn.execute(
                text("SELECT id FROM leads WHERE workspace_id = :ws ORDER BY created_at"),
                {"ws": workspace},
            )
        ).scalars()
        kept_ids = list(kept)
        await conn.execute(text("DELETE FROM leads WHERE workspace_id = :ws"), {"ws": workspace})
    return list(ids), kept_ids


async def test_italys_leading_zero_is_part_of_the_number(at_head: EmbeddedPostgres) -> None:
    """Italy (and San Marino, the Vatican, Côte d'Ivoire, the Republic of the Congo) keep the
    leading "0" after the country code: "+39 0331 234567" (a Busto Arsizio landline) and "+39
    331 234567" (a mobile) are two numbers, where dropping the "0" as a trunk prefix gave both
    one key, one lead. Without a country code a number is the one whose national number it is
    digit for digit ("0331 234567" is the landline, never the mobile)."""
    same = [
        ("+39 0331 234567", "0331 234567", True),
        ("+39 02 1234 5678", "02 1234 5678", True),
        ("+39 02 1234 5678", "0039 02-1234-5678", True),
        ("+39 331 234567", "331 234567", True),
        ("+39 0331 234567", "+39 331 234567", False),
        ("+39 331 234567", "0331 234567", False),
        ("+39 0331 234567", "331 234567", False),
        ("+378 0549 123456", "0549 123456", True),
        ("+225 07 12 34 56 78", "07 12 34 56 78", True),
        ("+225 07 12 34 56 78", "+225 7 12 34 56 78", False),
        # Elsewhere the "0" is still a trunk prefix.
        ("+44 7911 123456", "07911 123456", True),
        ("+39 06 1234 5678", "+44 06 1234 5678", False),
    ]
    async with _superuser(at_head) as conn:
        for one, other, alike in same:
            for a, b in ((one, other), (other, one)):
                found = (
                    await conn.execute(text("SELECT tb_same_phone(:a, :b)"), {"a": a, "b": b})
                ).scalar_one()
                assert found is alike, (a, b)


async def test_the_merge_keeps_an_italian_landline_and_mobile_apart(
    at_head: EmbeddedPostgres,
) -> None:
    phones = ["+39 0331 234567", "+39 331 234567", "0331 234567", "331 234567"]
    ids, kept = await _merged(at_head, phones)
    assert kept == ids[:2]

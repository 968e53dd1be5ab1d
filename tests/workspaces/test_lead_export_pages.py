"""The lead CSV export over several keyset pages: each lead's submission figures are its own,
and a page aggregates its own leads' submissions only (it used to aggregate every submission of
the workspace for each page of 500 leads: an export cost leads x submissions)."""

from __future__ import annotations

import csv
import io
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.dialects import postgresql

from core.db import Database
from tests.conftest import Owner
from workspaces import lead_repository, leads

LEADS = 2 * leads.EXPORT_PAGE + 37  # three pages, the last one short
START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@dataclass
class Expected:
    """What the export must say of one lead, worked out here from what was inserted."""

    id: uuid.UUID
    email: str
    created_at: datetime
    submissions: int = 0
    latest_at: datetime | None = None
    latest_message: str | None = None


async def _leads_with_submissions(owner_db: Database, workspace_id: str) -> list[Expected]:
    """LEADS leads, one second apart, with 0 to 3 submissions each (the latest one's message
    is what the export shows); returned oldest first, as the export orders them."""
    tag = uuid.uuid4().hex[:8]
    expected: list[Expected] = []
    lead_rows: list[dict[str, Any]] = []
    submission_rows: list[dict[str, Any]] = []
    for i in range(LEADS):
        lead = Expected(
            id=uuid.uuid4(),
            email=f"paged-{tag}-{i:04d}@example.com",
            created_at=START + timedelta(seconds=i),
        )
        lead_rows.append(
            {"id": lead.id, "ws": workspace_id, "email": lead.email, "at": lead.created_at}
        )
        for j in range(i % 4):
            at = lead.created_at + timedelta(minutes=j + 1)
            message = f"lead {i} submission {j}"
            submission_rows.append(
                {
                    "id": uuid.uuid4(),
                    "ws": workspace_id,
                    "lead": lead.id,
                    "email": lead.email,
                    "message": message,
                    "at": at,
                }
            )
            lead.submissions += 1
            lead.latest_at, lead.latest_message = at, message
        expected.append(lead)
    async with owner_db.transaction() as session:
        await session.execute(
            text(
                "INSERT INTO leads (id, workspace_id, email, source, status, created_at,"
                " updated_at) VALUES (:id, :ws, :email, 'api', 'new', :at, :at)"
            ),
            lead_rows,
        )
        await session.execute(
            text(
                "INSERT INTO lead_submissions (id, workspace_id, lead_id, email, message, source,"
                " created_at) VALUES (:id, :ws, :lead, :email, :message, 'widget', :at)"
            ),
            submission_rows,
        )
        await session.execute(text("ANALYZE leads"))
        await session.execute(text("ANALYZE lead_submissions"))
    return expected


def _when(value: datetime | None) -> str:
    return value.isoformat() if value is not None else ""


async def test_the_export_over_several_pages_gives_each_lead_its_own_submission_figures(
    client: httpx.AsyncClient, owner: Owner, owner_db: Database
) -> None:
    expected = await _leads_with_submissions(owner_db, owner.workspace_id)
    response = await client.get(owner.url("/leads/export"), headers=owner.headers)
    assert response.status_code == 200, response.text
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["email"] for r in rows] == [e.email for e in expected]  # each once, in order
    for row, lead in zip(rows, expected, strict=True):
        assert row["id"] == str(lead.id)
        assert int(row["submissions"]) == lead.submissions, lead.email
        assert row["latest_submission_at"] == _when(lead.latest_at), lead.email
        assert row["latest_submission_message"] == (lead.latest_message or ""), lead.email


def _scanned(plan: dict[str, Any], relation: str) -> float:
    """At least how many rows the plan's scans of ``relation`` read, returned or filtered out,
    over all their loops. EXPLAIN shows a node's rows per loop rounded to a whole number, so a
    node run more than once counts half a row less per loop: never more than it read."""
    total = 0.0
    if plan.get("Relation Name") == relation:
        loops = plan.get("Actual Loops", 1)
        per_loop = plan.get("Actual Rows", 0) + plan.get("Rows Removed by Filter", 0)
        per_loop += plan.get("Rows Removed by Index Recheck", 0)
        total += max(per_loop - (0.5 if loops > 1 else 0), 0) * loops
    for child in plan.get("Plans", []):
        total += _scanned(child, relation)
    return total


async def test_a_page_of_the_export_reads_only_its_own_leads_submissions(
    owner: Owner, owner_db: Database, db: Database
) -> None:
    """The second page's plan, run: the submissions it reads are its leads' (the old plan read
    and grouped every submission of the workspace for every page)."""
    expected = await _leads_with_submissions(owner_db, owner.workspace_id)
    page = expected[leads.EXPORT_PAGE : 2 * leads.EXPORT_PAGE]
    first_page_end = expected[leads.EXPORT_PAGE - 1]
    statement = lead_repository.leads_page_statement(
        uuid.UUID(owner.workspace_id),
        after=(first_page_end.created_at, first_page_end.id),
        limit=leads.EXPORT_PAGE,
        status=None,
        q=None,
        created_after=None,
        created_before=None,
    )
    sql = str(
        statement.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})
    )
    async with db.transaction(workspace_id=uuid.UUID(owner.workspace_id)) as session:
        explained = await session.execute(text("EXPLAIN (ANALYZE, FORMAT JSON) " + sql))
        plan = explained.scalar_one()
        rows = (await session.execute(text(sql))).all()
    plan = json.loads(plan) if isinstance(plan, str) else plan
    assert [r.email for r in rows] == [lead.email for lead in page]  # the statement is the page
    own = sum(lead.submissions for lead in page)
    workspace_total = sum(lead.submissions for lead in expected)
    assert own < workspace_total
    assert _scanned(plan[0]["Plan"], "lead_submissions") <= own

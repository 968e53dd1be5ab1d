from __future__ import annotations

import asyncio
import csv
import io
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import Database
from tests.conftest import Owner
from workspaces import leads


async def test_lead_crud_and_dedup_by_email(client: httpx.AsyncClient, owner: Owner) -> None:
    first = await client.post(
        owner.url("/leads"),
        json={"email": "Jane@Example.com", "name": "Jane", "message": "Call me"},
        headers=owner.headers,
    )
    assert first.status_code == 201
    lead = first.json()
    assert lead["status"] == "new"
    # A second capture with another casing updates the first instead of duplicating it.
    again = await client.post(
        owner.url("/leads"),
        json={"email": "jane@example.com", "phone": "+91 98765 43210"},
        headers=owner.headers,
    )
    assert again.status_code == 200
    assert again.json()["id"] == lead["id"]
    assert again.json()["name"] == "Jane"  # kept
    assert again.json()["phone"] == "+91 98765 43210"  # filled in
    listing = (await client.get(owner.url("/leads"), headers=owner.headers)).json()
    assert listing["total"] == 1

    patched = await client.patch(
        owner.url(f"/leads/{lead['id']}"),
        json={"status": "qualified", "notes": "hot"},
        headers=owner.headers,
    )
    assert patched.status_code == 200
    assert patched.json()["status"] == "qualified"
    bad = await client.patch(
        owner.url(f"/leads/{lead['id']}"), json={"status": "maybe"}, headers=owner.headers
    )
    assert bad.status_code == 422
    assert (await client.get(owner.url(f"/leads/{lead['id']}"), headers=owner.headers)).json()[
        "status"
    ] == "qualified"

    assert (
        await client.delete(owner.url(f"/leads/{lead['id']}"), headers=owner.headers)
    ).status_code == 204
    assert (
        await client.get(owner.url(f"/leads/{lead['id']}"), headers=owner.headers)
    ).status_code == 404


async def test_concurrent_captures_of_one_email_make_one_lead(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    responses = await asyncio.gather(
        *[
            client.post(
                owner.url("/leads"),
                json={"email": "race@example.com", "name": f"n{i}"},
                headers=owner.headers,
            )
            for i in range(8)
        ]
    )
    assert all(r.status_code in (200, 201) for r in responses)
    assert sum(r.status_code == 201 for r in responses) == 1
    assert len({r.json()["id"] for r in responses}) == 1


async def test_list_filters_and_pagination(client: httpx.AsyncClient, owner: Owner) -> None:
    for i in range(7):
        await client.post(
            owner.url("/leads"),
            json={
                "email": f"p{i}@example.com",
                "name": f"Person {i}",
                "status": "won" if i % 2 else "new",
            },
            headers=owner.headers,
        )
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = (await client.get(owner.url("/leads"), params=params, headers=owner.headers)).json()
        assert page["total"] == 7
        assert len(page["items"]) <= 3
        seen += [item["email"] for item in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(f"p{i}@example.com" for i in range(7))
    assert seen[0] == "p6@example.com"  # newest first

    won = (
        await client.get(owner.url("/leads"), params={"status": "won"}, headers=owner.headers)
    ).json()
    assert {i["email"] for i in won["items"]} == {
        "p1@example.com",
        "p3@example.com",
        "p5@example.com",
    }
    q = (
        await client.get(owner.url("/leads"), params={"q": "person 4"}, headers=owner.headers)
    ).json()
    assert [i["email"] for i in q["items"]] == ["p4@example.com"]
    wild = (await client.get(owner.url("/leads"), params={"q": "%"}, headers=owner.headers)).json()
    assert wild["total"] == 0  # LIKE wildcards are matched literally


async def test_page_size_is_bounded(client: httpx.AsyncClient, owner: Owner) -> None:
    too_big = await client.get(owner.url("/leads"), params={"limit": 1000}, headers=owner.headers)
    assert too_big.status_code == 422
    assert too_big.json()["error"]["code"] == "validation_error"
    bad_cursor = await client.get(
        owner.url("/leads"), params={"cursor": "!!!"}, headers=owner.headers
    )
    assert bad_cursor.status_code == 422


async def test_a_range_that_ends_before_it_starts_is_refused(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """It listed and exported nothing with a 200, where analytics answers 422."""
    params = {"created_after": "2026-12-05T00:00:00Z", "created_before": "2026-12-01T00:00:00Z"}
    for path in ("/leads", "/leads/export"):
        response = await client.get(owner.url(path), params=params, headers=owner.headers)
        assert response.status_code == 422, (path, response.text)
        assert response.json()["error"]["code"] == "invalid_date_range"


async def test_export_csv_is_complete_and_formula_safe(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    await client.post(
        owner.url("/leads"),
        json={
            "email": "evil@example.com",
            "name": '=HYPERLINK("http://x")',
            "message": '+1 then -2, "quoted"',
        },
        headers=owner.headers,
    )
    for i in range(30):
        await client.post(
            owner.url("/leads"), json={"email": f"bulk{i}@example.com"}, headers=owner.headers
        )
    response = await client.get(owner.url("/leads/export"), headers=owner.headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 31
    evil = next(r for r in rows if r["email"] == "evil@example.com")
    assert evil["name"] == '\'=HYPERLINK("http://x")'
    assert evil["message"] == '\'+1 then -2, "quoted"'


async def test_invalid_lead_input_is_422_with_fields(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    response = await client.post(
        owner.url("/leads"), json={"email": "not-an-email"}, headers=owner.headers
    )
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "email"
    malformed = await client.post(
        owner.url("/leads"),
        content=b"{not json",
        headers=owner.headers | {"Content-Type": "application/json"},
    )
    assert malformed.status_code == 422


async def test_the_export_reads_in_pages_and_holds_no_transaction_while_rows_go_out(
    client: httpx.AsyncClient, owner: Owner, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A download read slowly held one cursor, and so a pooled connection, for as long as the
    client took: rows now come in keyset pages, each read in a transaction that has ended
    before its rows go out; every lead once, in order, across page ends."""
    monkeypatch.setattr(leads, "EXPORT_PAGE", 7)
    emails = [f"paged{i:02d}-{uuid.uuid4().hex[:6]}@example.com" for i in range(16)]
    for email in emails:
        made = await client.post(owner.url("/leads"), json={"email": email}, headers=owner.headers)
        assert made.status_code == 201, made.text
    open_transactions = 0

    @asynccontextmanager
    async def transaction() -> AsyncIterator[AsyncSession]:
        nonlocal open_transactions
        async with db.transaction(workspace_id=uuid.UUID(owner.workspace_id)) as session:
            open_transactions += 1
            try:
                yield session
            finally:
                open_transactions -= 1

    seen = []
    rows = leads.paged_rows(
        transaction,
        workspace_id=uuid.UUID(owner.workspace_id),
        status=None,
        q=None,
        created_after=None,
        created_before=None,
    )
    async for lead, _count, _at, _message in rows:
        assert open_transactions == 0  # the page's transaction ended before its rows left
        seen.append(lead.email)
    assert seen == emails
    response = await client.get(owner.url("/leads/export"), headers=owner.headers)
    assert [r["email"] for r in csv.DictReader(io.StringIO(response.text))] == emails


async def test_a_null_status_is_refused_and_nothing_is_half_saved(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """A generated client sends null for an unset optional: that was a 500 and the notes were
    lost with it; now a 422 naming the field, and leaving status out still saves the notes."""
    email = f"null-status-{uuid.uuid4().hex[:8]}@example.com"
    lead = (
        await client.post(
            owner.url("/leads"), json={"email": email, "status": "qualified"}, headers=owner.headers
        )
    ).json()
    refused = await client.patch(
        owner.url(f"/leads/{lead['id']}"),
        json={"status": None, "notes": "called back"},
        headers=owner.headers,
    )
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["code"] == "validation_error"
    assert error["details"][0]["field"] == "status"
    assert "may not be null" in error["details"][0]["message"]
    kept = (await client.get(owner.url(f"/leads/{lead['id']}"), headers=owner.headers)).json()
    assert (kept["status"], kept["notes"]) == ("qualified", None)

    saved = await client.patch(
        owner.url(f"/leads/{lead['id']}"), json={"notes": "called back"}, headers=owner.headers
    )
    assert saved.status_code == 200, saved.text
    assert (saved.json()["status"], saved.json()["notes"]) == ("qualified", "called back")


async def test_a_date_without_an_offset_is_utc_beside_one_with_an_offset(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """One bound from a date picker (no offset), the other from now() (with one): a 500 on the
    list and the export. A date without an offset now means UTC."""
    email = f"dated-{uuid.uuid4().hex[:8]}@example.com"
    made = await client.post(owner.url("/leads"), json={"email": email}, headers=owner.headers)
    created = datetime.fromisoformat(made.json()["created_at"]).astimezone(UTC)
    naive_before = (created - timedelta(minutes=1)).replace(tzinfo=None).isoformat()
    naive_after = (created + timedelta(minutes=1)).replace(tzinfo=None).isoformat()
    # The same instants in India's zone, with their offset.
    india = timezone(timedelta(hours=5, minutes=30))
    aware_before = (created - timedelta(minutes=1)).astimezone(india).isoformat()
    aware_after = (created + timedelta(minutes=1)).astimezone(india).isoformat()

    around = [
        {"created_after": naive_before, "created_before": aware_after},
        {"created_after": aware_before, "created_before": naive_after},
    ]
    later = {"created_after": naive_after, "created_before": "2999-01-01T00:00:00Z"}
    for params, listed in [(p, True) for p in around] + [(later, False)]:
        page = await client.get(owner.url("/leads"), params=params, headers=owner.headers)
        assert page.status_code == 200, (params, page.text)
        assert (email in [item["email"] for item in page.json()["items"]]) is listed, params
        export = await client.get(owner.url("/leads/export"), params=params, headers=owner.headers)
        assert export.status_code == 200, (params, export.text)
        assert (email in export.text) is listed, params
    backwards = await client.get(
        owner.url("/leads"),
        params={"created_after": aware_after, "created_before": naive_before},
        headers=owner.headers,
    )
    assert backwards.status_code == 422
    assert backwards.json()["error"]["code"] == "invalid_date_range"


async def _exports_audited(client: httpx.AsyncClient, owner: Owner) -> int:
    response = await client.get(owner.url("/audit"), headers=owner.headers)
    assert response.status_code == 200, response.text
    return sum(1 for item in response.json()["items"] if item["action"] == "leads.exported")


async def test_head_of_the_export_reads_nothing_and_audits_nothing(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """HEAD ran the export as a GET: the rows were read and thrown away, and the audit log
    said the leads had been exported though nothing left. Now the headers alone."""
    created = await client.post(
        owner.url("/leads"), json={"email": "head-export@example.com"}, headers=owner.headers
    )
    assert created.status_code == 201, created.text
    head = await client.head(owner.url("/leads/export"), headers=owner.headers)
    assert head.status_code == 200, head.text
    assert head.headers["content-type"].startswith("text/csv")
    assert "attachment" in head.headers["content-disposition"]
    assert head.content == b""
    assert await _exports_audited(client, owner) == 0
    got = await client.get(owner.url("/leads/export"), headers=owner.headers)
    assert "head-export@example.com" in got.text
    assert await _exports_audited(client, owner) == 1


async def test_a_search_with_a_nul_is_refused_by_the_list_and_the_export_alike(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """The list answered 422 invalid_text; the export answered 200, wrote its audit entry,
    and its body broke off."""
    for path in ("/leads", "/leads/export"):
        response = await client.get(owner.url(path), params={"q": "a\x00b"}, headers=owner.headers)
        assert response.status_code == 422, (path, response.text)
        assert response.json()["error"]["code"] == "invalid_text"
        assert response.json()["error"]["details"][0]["field"] == "q"
    assert await _exports_audited(client, owner) == 0

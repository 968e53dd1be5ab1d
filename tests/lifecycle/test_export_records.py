"""What a workspace export holds besides knowledge and visitors (the billing records paid through
the fake provider: tests/billing/test_billing_export.py): empty billing files for a workspace
that never paid, the audit log, when a lead's conversation was deleted. Built by the real export
job, read from the real zip."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import timedelta

import httpx

from api.runtime import Runtime
from core.jobs import JobQueue
from core.models import utcnow
from tests.conftest import Owner
from tests.lifecycle.data import fill, tick_due
from tests.lifecycle.test_exports import _export
from tests.own_database import module_databases

# On a database of its own (tests/own_database.py), like tests/lifecycle/test_retention.py: the
# retention tick purged every other test's workspace too (34 s in a loaded full run).
own_databases, db, owner_db = module_databases()


def _csv(archive: zipfile.ZipFile, name: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(archive.read(name).decode("utf-8"))))


async def _download(client: httpx.AsyncClient, owner: Owner, jobs: JobQueue) -> zipfile.ZipFile:
    export = await _export(client, owner, jobs)
    assert export["status"] == "ready", export
    response = await client.get(export["download_url"], headers=owner.headers)
    assert response.status_code == 200, response.text
    return zipfile.ZipFile(io.BytesIO(response.content))


async def test_a_workspace_that_never_paid_exports_empty_billing_files(
    client: httpx.AsyncClient, owner: Owner, jobs: JobQueue
) -> None:
    archive = await _download(client, owner, jobs)
    assert _csv(archive, "billing_orders.csv") == []
    header = archive.read("billing_payments.csv").decode().splitlines()[0].split(",")
    assert "amount_refunded" in header
    assert json.loads(archive.read("subscription.json")) is None


async def test_submissions_and_leads_say_when_their_conversation_was_deleted(
    client: httpx.AsyncClient, owner: Owner, jobs: JobQueue, runtime: Runtime
) -> None:
    """Retention deleted the conversation and noted when on the lead and its submissions; the
    export's CSVs only showed an empty conversation_id, as for a lead that never had one."""
    filled = await fill(client, owner, jobs)
    week = await client.put(
        owner.url("/retention"), json={"conversation_retention_days": 7}, headers=owner.headers
    )
    assert week.status_code == 200, week.text
    await tick_due(runtime, "conversation_retention", utcnow() + timedelta(days=8))
    await jobs.drain()

    archive = await _download(client, owner, jobs)
    [submission] = _csv(archive, "lead_submissions.csv")
    assert submission["conversation_id"] == ""
    assert submission["conversation_deleted_at"] != ""
    leads = {row["email"]: row for row in _csv(archive, "leads.csv")}
    assert leads[filled.visitor_email]["conversation_deleted_at"] != ""
    assert leads[filled.lead_email]["conversation_deleted_at"] == ""  # typed in: never had one


async def test_the_export_holds_the_workspace_audit_log(
    client: httpx.AsyncClient, owner: Owner, other: Owner, jobs: JobQueue
) -> None:
    """The zip had no audit log: what the workspace's people and keys did was not in it."""
    mine = await fill(client, owner, jobs)
    await fill(client, other, jobs)
    theirs = await _export(client, other, jobs)
    archive = await _download(client, owner, jobs)
    assert "audit_log.json" in archive.read("README.txt").decode()
    audit = json.loads(archive.read("audit_log.json"))
    listed = await client.get(owner.url("/audit"), params={"limit": 100}, headers=owner.headers)
    # As the API lists them (the entries made after the export was built aside), oldest first.
    api = {entry["id"]: entry for entry in listed.json()["items"]}
    assert [entry["id"] for entry in audit] == [e["id"] for e in reversed(api.values())][
        : len(audit)
    ]
    assert [e["created_at"] for e in audit] == sorted(e["created_at"] for e in audit)
    for entry in audit:
        assert set(entry) == set(api[entry["id"]])
    assert [e["target_id"] for e in audit if e["action"] == "faq.created"] == [mine.faq_id]
    assert theirs["id"] not in json.dumps(audit)  # another workspace's export request

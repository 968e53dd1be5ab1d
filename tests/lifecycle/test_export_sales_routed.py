"""The owner's full workspace export says which answers sent a sales lead to the team.

The analytics' conversation export has ``sales_routed`` per message (the shared ``ROUTED``
expression, rag/chat/repository/analytics.py); the workspace export (lifecycle/archive.py)
writes conversations in its own format and had no such field: from it an owner could not tell
which fallbacks the ``sales_routed`` figure counted. Now ``conversations.json`` carries it on
every message and ``messages.csv`` as its last column, from the same expression.

Through the widget's chat API and the export job, on the real database and Redis."""

from __future__ import annotations

import csv
import io
import json
import zipfile

import httpx

from core.jobs import JobQueue
from lifecycle import archive
from tests.conftest import Owner
from tests.lifecycle.test_exports import _export
from tests.rag.test_analytics import Visitor

QUOTE = "Can I get a quote for my team?"  # a sales lead: no documents, so sent to the team
SUBMARINES = "Do you rent out submarines for weddings?"  # nothing answers it: not routed


async def test_the_workspace_export_says_which_answers_were_routed_to_the_team(
    client: httpx.AsyncClient, owner: Owner, jobs: JobQueue
) -> None:
    quoted = await Visitor(client, owner).say(QUOTE)
    assert (quoted["intent"], quoted["source"], quoted["lead_capture"]) == (
        "lead",
        "fallback",
        True,
    )
    assert (await Visitor(client, owner).say(SUBMARINES))["source"] == "fallback"

    export = await _export(client, owner, jobs)
    assert export["status"] == "ready", export
    response = await client.get(export["download_url"], headers=owner.headers)
    assert response.status_code == 200, response.text
    zipped = zipfile.ZipFile(io.BytesIO(response.content))
    assert "sales_routed" in zipped.read("README.txt").decode()

    conversations = json.loads(zipped.read("conversations.json"))
    messages = [m for c in conversations for m in c["messages"]]
    assert sorted(m["sales_routed"] for m in messages) == [False, False, False, True], messages
    [routed] = [m for m in messages if m["sales_routed"]]
    assert (routed["role"], routed["source"]) == ("assistant", "fallback")
    [asked] = [c for c in conversations if c["messages"][0]["text"] == QUOTE]
    assert [m["sales_routed"] for m in asked["messages"]] == [False, True]

    text = zipped.read("messages.csv").decode("utf-8")
    header = text.splitlines()[0].split(",")
    # Added last: a reader that takes the columns by position reads the others as before.
    assert header == list(archive.MESSAGE_COLUMNS)
    assert header[-1] == "sales_routed"
    flat = {r["message_id"]: r["sales_routed"] for r in csv.DictReader(io.StringIO(text))}
    assert flat == {m["id"]: str(m["sales_routed"]) for m in messages}

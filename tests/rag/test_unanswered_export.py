"""The unanswered questions as CSV (API and dashboard): the list groups only the latest 2,000
and had no download, so an owner with thousands of questions could not take them to a
spreadsheet. Every question not dealt with comes out, one row per time asked, newest first,
with a cell a spreadsheet would read as a formula neutralised."""

from __future__ import annotations

import csv
import io
import uuid

import httpx

from api.runtime import Runtime
from tests.conftest import Owner
from tests.rag.test_chat import chat
from tests.rag.test_export_pages import statements


async def test_the_api_exports_every_unanswered_question_formulas_neutralised(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    tag = uuid.uuid4().hex[:6]
    plain = f"Do you repair vintage synth model {tag}?"
    formula = f'=HYPERLINK("http://x.example") can I pay for kayak {tag} in euros?'
    for question in (plain, formula, plain):
        body = (await chat(client, owner, question, session_id=f"s-{uuid.uuid4()}")).json()
        assert body["source"] == "fallback", body
    exported = await client.get(owner.url("/unanswered/export"), headers=owner.headers)
    assert exported.status_code == 200, exported.text
    assert exported.headers["content-type"].startswith("text/csv")
    assert "attachment" in exported.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(exported.text)))
    assert rows[0] == ["asked_at", "question", "conversation_id", "id"]
    questions = [row[1] for row in rows[1:]]
    assert questions == [plain, "'" + formula, plain]  # newest first, each time asked


async def test_the_export_reads_no_question_vectors(
    client: httpx.AsyncClient, owner: Owner, runtime: Runtime
) -> None:
    """Each exported question's embedding (384 floats, about 1.5 KB on the wire, several KB as
    Python objects) was read and thrown away: the export reads only the columns it writes."""
    question = f"Do you ship kayak paddles to island {uuid.uuid4().hex[:6]}?"
    assert (await chat(client, owner, question)).json()["source"] == "fallback"
    with statements(runtime.db, "unanswered_questions") as sent:
        exported = await client.get(owner.url("/unanswered/export"), headers=owner.headers)
    assert exported.status_code == 200, exported.text
    assert [row[1] for row in csv.reader(io.StringIO(exported.text))][1:] == [question]
    assert sent, "the export read no unanswered_questions"
    assert not [statement for statement, _ in sent if "embedding" in statement]

"""Unanswered questions recorded before the record kept the question alone (fix 5ddfdad) still
hold "are you a bot?" in front of the question. Such an old row was listed as its own group
when its key had been recomputed from the whole text (migration 0023) and it had no embedding,
and in the plain question's group it was one of the "also asked as" phrasings, ticked by
default: the FAQ made from the group asked "are you a bot? ..." too."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import text

from core.db import Database
from rag.chat.normalize import normalize_question
from tests.conftest import Owner
from tests.rag.test_chat import chat


async def _ask_twice(client: httpx.AsyncClient, owner: Owner, question: str) -> None:
    for _ in range(2):
        body = (await chat(client, owner, question, session_id=f"s-{uuid.uuid4()}")).json()
        assert body["source"] == "fallback", body


async def _make_old(owner_db: Database, owner: Owner, question: str, *, whole_key: bool) -> None:
    """One of the question's rows as an old record: the identity question in front; its key
    that of the question alone (recorded after 0023) or of the whole text, without an
    embedding (recorded before 0023, which recomputed the keys from the text)."""
    old = f"are you a bot? {question}"
    async with owner_db.transaction() as session:
        await session.execute(
            text(
                "UPDATE unanswered_questions SET question = :old,"
                " normalized = CASE WHEN :whole THEN :key ELSE normalized END,"
                " embedding = CASE WHEN :whole THEN NULL ELSE embedding END"
                " WHERE id = (SELECT id FROM unanswered_questions WHERE workspace_id = :w"
                " AND question = :q ORDER BY created_at LIMIT 1)"
            ),
            {
                "old": old,
                "whole": whole_key,
                "key": normalize_question(old),
                "w": uuid.UUID(owner.workspace_id),
                "q": question,
            },
        )


async def test_an_old_row_with_are_you_a_bot_is_grouped_with_the_plain_question(
    client: httpx.AsyncClient, owner: Owner, owner_db: Database
) -> None:
    tag = uuid.uuid4().hex[:6]
    for whole_key, question in (
        (False, f"Do you repair vintage synth model {tag}?"),
        (True, f"Can I pay for the kayak rental {tag} in euros?"),
    ):
        await _ask_twice(client, owner, question)
        await _make_old(owner_db, owner, question, whole_key=whole_key)
        listed = await client.get(owner.url("/unanswered"), headers=owner.headers)
        assert listed.status_code == 200, listed.text
        mine = [g for g in listed.json() if question in g["question"]]
        assert len(mine) == 1, (whole_key, mine)
        assert mine[0]["question"] == question
        assert mine[0]["count"] == 2
        assert mine[0]["examples"] == [question], (whole_key, mine)

"""A rag turn's statements go straight to asyncpg (``core.direct``), not through SQLAlchemy's
session: the same rows stored, the tenant set per transaction as before (row-level security
holds), nothing left on the pooled connection, and failures raised as SQLAlchemy raises them."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import numpy as np
import pytest
from redis.asyncio import Redis
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from core.db import Database
from core.direct import Prepared, fetch
from core.embedded import EmbeddedPostgres
from rag.chat.models import ChatMessage, Conversation, UnansweredQuestion
from rag.chat.repository import conversations as conversation_repo
from rag.chat.repository import faqs as faq_repo
from rag.chat.repository import turn_statements
from tests.conftest import APP_ROLE, Owner, client_for, make_runtime, make_settings, signup
from tests.rag.test_answers import REFUNDS, ingest
from tests.rag.test_chat import chat
from tests.rag.test_turn_statements import _add_faq, _unit, new_conversation
from workspaces import usage

_SETTINGS = Prepared(
    text(
        "SELECT current_setting('app.workspace_id', true), current_setting('hnsw.ef_search', true),"
        " current_setting('synchronous_commit'), pg_backend_pid()"
    )
)


async def _statements_of_a_turn(
    client: httpx.AsyncClient, owner: Owner, db: Database
) -> tuple[list[str], httpx.Response]:
    """What went through SQLAlchemy's cursor while the widget asked one question."""
    seen: list[str] = []

    def note(_c: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(" ".join(statement.split()))

    engine = db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", note)
    try:
        response = await chat(client, owner, "How long do refunds take to arrive?")
    finally:
        event.remove(engine, "before_cursor_execute", note)
    return seen, response


@pytest.fixture
async def one_connection(pg: EmbeddedPostgres) -> AsyncIterator[Database]:
    """A pool of one connection: the next transaction gets the connection the last one had,
    unless it was invalidated."""
    database = Database.from_url(pg.app_url(APP_ROLE), pool_size=1, max_overflow=0)
    yield database
    await database.dispose()


async def test_a_rag_turn_sends_its_statements_without_the_session(
    db: Database, redis_client: Redis
) -> None:
    """The message recorded, the FAQ variants and the passages read, the answer recorded: none
    of them through SQLAlchemy's cursor; the turn's rows are stored all the same."""
    settings = make_settings(retrieval_min_similarity=0.05)
    async with make_runtime(settings, db, redis_client) as runtime, client_for(runtime) as client:
        owner = await signup(client, "Direct")
        await ingest(client, owner, runtime, "Refunds", REFUNDS)
        seen, response = await _statements_of_a_turn(client, owner, db)
    body = response.json()
    assert response.status_code == 200, body
    assert body["source"] == "rag"
    hot = ("INSERT INTO messages", "FROM faq_questions", "FROM chunks")
    assert [s for s in seen if any(h in s for h in hot)] == []
    async with db.transaction(workspace_id=owner.workspace_id) as session:
        rows = (
            await session.execute(
                text(
                    "SELECT role, text, source, citations, message_count FROM messages m"
                    " JOIN conversations c ON c.id = m.conversation_id"
                    " WHERE m.conversation_id = :c ORDER BY m.created_at, m.role DESC"
                ),
                {"c": body["conversation_id"]},
            )
        ).all()
    assert [(r[0], r[1], r[2], r[4]) for r in rows] == [
        ("user", "How long do refunds take to arrive?", None, 2),
        ("assistant", body["answer"], "rag", 2),
    ]
    assert rows[1][3] == body["citations"]


async def test_a_direct_transaction_carries_its_tenant_and_leaves_none_behind(
    one_connection: Database, owner: Owner, other: Owner, db: Database
) -> None:
    mine, theirs = uuid.UUID(owner.workspace_id), uuid.UUID(other.workspace_id)
    await _add_faq(db, theirs, "their answer", _unit(11))
    async with one_connection.direct(
        workspace_id=mine, durable=False, local={"hnsw.ef_search": "77"}
    ) as direct:
        [row] = await fetch(direct, _SETTINGS, {})
        # Row-level security: another workspace's FAQ is invisible, whatever id is asked for.
        hidden = await faq_repo.faq_nearest(direct, workspace_id=theirs, embedding=_unit(11))
    assert tuple(row[:3]) == (str(mine), "77", "off")
    assert hidden == []
    async with one_connection.direct(workspace_id=theirs) as direct:
        [after] = await fetch(direct, _SETTINGS, {})
        found = await faq_repo.faq_nearest(direct, workspace_id=theirs, embedding=_unit(11))
    assert after[3] == row[3]  # the same pooled connection
    # Nothing of the last one's settings (pgvector's default, or none before it is loaded).
    assert (after[0], after[2]) == (str(theirs), "on")
    assert after[1] != "77"
    assert [f[1] for f in found] == ["their answer"]
    async with one_connection.engine.begin() as conn:
        left = (
            await conn.execute(
                text("SELECT current_setting('app.workspace_id', true), pg_backend_pid()")
            )
        ).one()
    assert (left[0] or "", left[1]) == ("", row[3])


def _answer(conversation: Conversation, message_id: uuid.UUID) -> ChatMessage:
    return ChatMessage(
        id=message_id,
        workspace_id=conversation.workspace_id,
        conversation_id=conversation.id,
        role="assistant",
        text="Refunds arrive within 5 to 7 business days [1]. «Ünïcode» 'quotes' \\ ",
        intent="question",
        source="rag",
        citations=[{"n": 1, "title": "Refunds", "url": None, "snippet": "5 to 7 'days'"}],
        prompt_tokens=420,
        completion_tokens=40,
        latency_ms=12,
        timings={"record": 1.5, "total": 12.25},
        answer_flags={"extractive": True},
    )


def _unanswered(conversation: Conversation, message_id: uuid.UUID) -> UnansweredQuestion:
    return UnansweredQuestion(
        id=uuid.uuid4(),
        workspace_id=conversation.workspace_id,
        question="How long do refunds take?",
        normalized="long refunds take",
        embedding=_unit(12).tolist(),
        conversation_id=conversation.id,
        message_id=message_id,
    )


_ROW = text(
    "SELECT m.role, m.text, m.intent, m.source, m.citations, m.prompt_tokens,"
    " m.completion_tokens, m.latency_ms, m.timings, m.answer_flags, c.message_count,"
    " u.question, u.normalized, u.embedding::text, u.resolved"
    " FROM messages m JOIN conversations c ON c.id = m.conversation_id"
    " JOIN unanswered_questions u ON u.message_id = m.id WHERE m.id = :m"
)


async def test_the_answer_is_stored_the_same_direct_or_through_the_session(
    db: Database, owner: Owner
) -> None:
    workspace_id = uuid.UUID(owner.workspace_id)
    stored = []
    for way in ("session", "direct"):
        conversation = new_conversation(workspace_id)
        async with db.transaction(workspace_id=workspace_id) as session:
            session.add(conversation)
        message_id = uuid.uuid4()
        answer, question = _answer(conversation, message_id), _unanswered(conversation, message_id)
        tokens = usage.token_increment(workspace_id, 460)
        if way == "session":
            async with db.transaction(workspace_id=workspace_id, durable=False) as session:
                await session.execute(
                    turn_statements._answer_statement(True, True).statement,
                    {
                        "touch_id": conversation.id,
                        **turn_statements._params("m_", answer),
                        **tokens.params,
                        **turn_statements._params("q_", question),
                    },
                )
        else:
            async with db.direct(workspace_id=workspace_id, durable=False) as direct:
                await conversation_repo.record_answer(direct, answer, tokens, question)
        async with db.transaction(workspace_id=workspace_id) as session:
            stored.append(tuple((await session.execute(_ROW, {"m": message_id})).one()))
    assert stored[0] == stored[1]
    assert stored[1][10] == 2  # counted on its conversation in the same statement
    assert np.array_equal(
        np.array([float(x) for x in stored[1][13][1:-1].split(",")], dtype=np.float32),
        _unit(12),
    )


async def test_a_failed_direct_transaction_rolls_back_and_raises_as_sqlalchemy_does(
    one_connection: Database, owner: Owner, db: Database
) -> None:
    workspace_id = uuid.UUID(owner.workspace_id)
    gone = new_conversation(workspace_id)  # never inserted: the answer's foreign key fails
    before: list[Any] = []

    async def answer_without_its_conversation() -> None:
        async with one_connection.direct(workspace_id=workspace_id) as direct:
            before.extend(await fetch(direct, _SETTINGS, {}))
            await conversation_repo.record_answer(direct, _answer(gone, uuid.uuid4()))

    with pytest.raises(IntegrityError) as raised:
        await answer_without_its_conversation()
    assert getattr(raised.value.orig.__cause__, "sqlstate", None) == "23503"
    assert not raised.value.connection_invalidated
    # A block that fails after a write: nothing of it stays; the connection is reused.
    conversation = new_conversation(workspace_id)
    async with db.transaction(workspace_id=workspace_id) as session:
        session.add(conversation)
    message_id = uuid.uuid4()

    async def fail_after_the_write() -> None:
        async with one_connection.direct(workspace_id=workspace_id) as direct:
            await conversation_repo.record_answer(direct, _answer(conversation, message_id))
            raise RuntimeError("after the write")

    with pytest.raises(RuntimeError):
        await fail_after_the_write()
    async with one_connection.direct(workspace_id=workspace_id) as direct:
        [after] = await fetch(direct, _SETTINGS, {})
        count = Prepared(text("SELECT count(*) FROM messages WHERE id = :m"))
        [(written,)] = await fetch(direct, count, {"m": message_id})
    assert written == 0
    assert after[3] == before[0][3]


async def test_a_connection_lost_mid_transaction_is_never_handed_out_again(
    one_connection: Database, owner: Owner, owner_db: Database
) -> None:
    workspace_id = uuid.UUID(owner.workspace_id)
    first: list[Any] = []

    async def lose_the_connection() -> None:
        async with one_connection.direct(workspace_id=workspace_id) as direct:
            first.extend(await fetch(direct, _SETTINGS, {}))
            async with owner_db.transaction() as session:
                await session.execute(text("SELECT pg_terminate_backend(:p)"), {"p": first[0][3]})
            await fetch(direct, _SETTINGS, {})

    with pytest.raises(DBAPIError) as raised:
        await lose_the_connection()
    row = first[0]
    assert raised.value.connection_invalidated
    async with one_connection.direct(workspace_id=workspace_id) as direct:
        [again] = await fetch(direct, _SETTINGS, {})
    assert again[3] != row[3]
    assert again[0] == str(workspace_id)


_SLEEP = Prepared(text("SELECT pg_sleep(30)"))


async def _end_backend(owner_db: Database, pid: int) -> None:
    """End the server's side of a connection the test closed mid-statement, whether or not the
    cancel request sent then (tests/test_db_cut_statements.py) has reached it yet."""
    async with owner_db.transaction() as session:
        await session.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})


async def _cut_off(
    one_connection: Database,
    owner_db: Database,
    scope: anyio.CancelScope,
    pid: int,
    theirs: uuid.UUID,
) -> None:
    """After a direct transaction cut off by ``scope`` on backend ``pid``: the pool has its
    connection back, and the next workspace's transaction runs with its own tenant."""
    await _end_backend(owner_db, pid)
    assert scope.cancelled_caught
    assert one_connection.engine.pool.checkedout() == 0
    async with one_connection.direct(workspace_id=theirs) as direct:
        [row] = await fetch(direct, _SETTINGS, {})
    assert row[0] == str(theirs)


async def test_a_turn_cut_off_by_a_cancel_scope_gives_its_connection_back(
    one_connection: Database, owner: Owner, other: Owner, owner_db: Database
) -> None:
    """A visitor who leaves mid-stream: Starlette cancels the response's task group, and an
    anyio cancel scope cancels every await inside it again, the rollback's too. The connection
    still goes back to the pool (or is closed), with no transaction and no tenant left on it;
    the next workspace's transaction gets a connection at once."""
    mine, theirs = uuid.UUID(owner.workspace_id), uuid.UUID(other.workspace_id)
    with anyio.CancelScope() as scope:
        async with one_connection.direct(workspace_id=mine) as direct:
            [cut] = await fetch(direct, _SETTINGS, {})
            # Cancelled once the statement is on its way (the next turn of the event loop).
            asyncio.get_running_loop().call_soon(scope.cancel)
            await fetch(direct, _SLEEP, {})
    await _cut_off(one_connection, owner_db, scope, cut[3], theirs)
    async with one_connection.engine.connect() as conn:
        left = await conn.scalar(text("SELECT current_setting('app.workspace_id', true)"))
    assert (left or "") == ""


async def test_a_commit_cut_off_leaves_nothing_for_the_next_workspace(
    one_connection: Database, owner: Owner, other: Owner, owner_db: Database
) -> None:
    """A turn cancelled while its COMMIT is on its way (a deferred trigger keeps the commit
    busy here): asyncpg cannot tell whether the transaction ended, and the connection still
    looked in one. It is closed, not handed to the next workspace's transaction, which gets a
    clean connection (it was refused, a 500, on a connection that looked mid-transaction)."""
    mine, theirs = uuid.UUID(owner.workspace_id), uuid.UUID(other.workspace_id)
    async with one_connection.transaction() as session:  # on the pool's one connection
        await session.execute(text("CREATE TEMP TABLE slow_commit (x int)"))
        await session.execute(
            text(
                "CREATE FUNCTION pg_temp.slow_commit() RETURNS trigger LANGUAGE plpgsql"
                " AS $$ BEGIN PERFORM pg_sleep(30); RETURN NULL; END $$"
            )
        )
        await session.execute(
            text(
                "CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON slow_commit"
                " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION"
                " pg_temp.slow_commit()"
            )
        )
    insert = Prepared(text("INSERT INTO slow_commit VALUES (1) RETURNING x"))
    with anyio.CancelScope() as scope:
        async with one_connection.direct(workspace_id=mine) as direct:
            [cut] = await fetch(direct, _SETTINGS, {})
            await fetch(direct, insert, {})
            # Cancelled once the COMMIT is on its way (the next turn of the event loop).
            asyncio.get_running_loop().call_soon(scope.cancel)
    await _cut_off(one_connection, owner_db, scope, cut[3], theirs)

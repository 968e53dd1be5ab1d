"""Migration 0023: the FAQ and unanswered keys stored by the old normalization are recomputed,
on a database set up as production is (the migration role owns the tables but is no superuser
and has no BYPASSRLS, so forced row-level security binds it too)."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from core import migrate
from core.embedded import EmbeddedPostgres, ensure_database
from rag.chat.models import Faq
from rag.chat.normalize import normalize_question
from rag.chat.repository.faqs import _exact_match
from tests.conftest import APP_ROLE
from tests.operator_scratch import CREATE_OWNER_ROLE, OWNER_ROLE, _superuser

DATABASE = "trulybot_question_keys"


async def _one(conn: AsyncConnection, sql: str, key: uuid.UUID | None = None) -> Any:
    """The one value of ``sql``, with ``key`` as ``:id`` and ``:ws``."""
    return (await conn.execute(text(sql), {"id": key, "ws": key})).scalar_one()


async def as_production(
    pg: EmbeddedPostgres, database: str, revision: str | None
) -> EmbeddedPostgres:
    """A new ``database`` owned by the migration role (no superuser, no BYPASSRLS), migrated
    to ``revision`` as that role (``None``: left without tables, as a restore wants it)."""
    await ensure_database(pg.socket_dir, database, recreate=True)
    cluster = EmbeddedPostgres(server=pg.server, socket_dir=pg.socket_dir, database=database)
    async with _superuser(cluster) as conn:
        await conn.execute(text(CREATE_OWNER_ROLE))
        await conn.execute(text(f'ALTER DATABASE "{database}" OWNER TO {OWNER_ROLE}'))
        await conn.execute(text("CREATE EXTENSION IF NOT EXISTS vector"))
    if revision is not None:
        await migrate.upgrade(cluster.app_url(OWNER_ROLE), app_role=APP_ROLE, revision=revision)
    return cluster


@pytest.fixture
async def before_0023(pg: EmbeddedPostgres) -> EmbeddedPostgres:
    return await as_production(pg, DATABASE, "0022")


async def _workspace(cluster: EmbeddedPostgres) -> uuid.UUID:
    """A new workspace's id on ``cluster``, a schema older than the code: written with the
    columns that schema has (the app's sign-up reads every column the models know, and a later
    migration adds some, e.g. 0039's ``webhook_set_by``)."""
    workspace, tag = uuid.uuid4(), uuid.uuid4().hex[:8]
    now = datetime.now(UTC)
    values: dict[str, Any] = {
        "id": workspace,
        "name": "Keys",
        "slug": f"keys-{tag}",
        "plan": "unlimited",
        "public_key": f"pk_keys_{tag}",
        "persona": "",
        "widget_config": "{}",
        "knowledge_version": 0,
        "fallback_plan": "free",
        "created_at": now,
        "updated_at": now,
    }
    async with _superuser(cluster) as conn:
        rows = await conn.execute(
            text(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_schema = 'public' AND table_name = 'workspaces'"
            )
        )
        present = {row[0] for row in rows}
        kept = {name: value for name, value in values.items() if name in present}
        columns = ", ".join(kept)
        params = ", ".join(
            f"CAST(:{name} AS jsonb)" if name == "widget_config" else f":{name}" for name in kept
        )
        insert = f"INSERT INTO workspaces ({columns}) VALUES ({params})"  # noqa: S608 (names are ours)
        await conn.execute(text(insert), kept)
    return workspace


async def test_old_keys_are_recomputed_and_the_knowledge_version_bumped(
    before_0023: EmbeddedPostgres,
) -> None:
    cluster = before_0023
    ws = await _workspace(cluster)
    faq_id, question_id, unanswered_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    # As the old normalization stored them: the sign and the accent gone.
    async with _superuser(cluster) as conn:
        await conn.execute(
            text(
                "INSERT INTO faqs (id, workspace_id, question, answer)"
                " VALUES (:id, :ws, 'Is shipping free on orders > $50?', 'Yes.')"
            ),
            {"id": faq_id, "ws": ws},
        )
        await conn.execute(
            text(
                "INSERT INTO faq_questions (id, workspace_id, faq_id, text, normalized)"
                " VALUES (:id, :ws, :faq, 'Is shipping free on orders > $50?',"
                " 'is shipping free on orders $50')"
            ),
            {"id": question_id, "ws": ws, "faq": faq_id},
        )
        await conn.execute(
            text(
                "INSERT INTO unanswered_questions (id, workspace_id, question, normalized)"
                " VALUES (:id, :ws, 'Is the café open?', 'is the café open')"
            ),
            {"id": unanswered_id, "ws": ws},
        )
        version = await _one(conn, "SELECT knowledge_version FROM workspaces WHERE id = :ws", ws)

    await migrate.upgrade(cluster.app_url(OWNER_ROLE), app_role=APP_ROLE)

    async with _superuser(cluster) as conn:
        faq_key = await _one(
            conn, "SELECT normalized FROM faq_questions WHERE id = :id", question_id
        )
        unanswered_key = await _one(
            conn, "SELECT normalized FROM unanswered_questions WHERE id = :id", unanswered_id
        )
        after = await _one(conn, "SELECT knowledge_version FROM workspaces WHERE id = :ws", ws)
        forced = await _one(
            conn,
            "SELECT bool_and(relforcerowsecurity) FROM pg_class WHERE relname IN"
            " ('faq_questions', 'unanswered_questions', 'workspaces')",
        )
    assert faq_key == "is shipping free on orders > $50"
    assert unanswered_key == "is the cafe open"
    assert after == version + 1
    assert forced is True


async def test_two_faqs_the_old_keys_kept_apart_answer_with_the_older_one(
    before_0023: EmbeddedPostgres, caplog: pytest.LogCaptureFixture
) -> None:
    """ "¿Cuánto cuesta el té?" and "... el te?" share a key once accents fold (session-diff
    review F4): the exact match answered with either, as the planner returned the rows. The
    older FAQ answers, and the migration logs the shared key for the operator."""
    cluster = before_0023
    ws = await _workspace(cluster)
    # The newer FAQ is stored first, so the table's own order would give its answer.
    rows = [
        ("¿Cuánto cuesta el te?", "cuánto cuesta el te", "The newer answer.", 0),
        (
            "¿Cuánto cuesta el té?",
            "cuánto cuesta el té",
            "El té cuesta 3 euros.",
            1,
        ),
    ]
    async with _superuser(cluster) as conn:
        for question, old_key, answer, days_old in rows:
            faq_id = uuid.uuid4()
            await conn.execute(
                text(
                    "INSERT INTO faqs (id, workspace_id, question, answer, created_at)"
                    " VALUES (:id, :ws, :q, :a, now() - make_interval(days => :days))"
                ),
                {"id": faq_id, "ws": ws, "q": question, "a": answer, "days": days_old},
            )
            await conn.execute(
                text(
                    "INSERT INTO faq_questions (id, workspace_id, faq_id, text, normalized)"
                    " VALUES (:id, :ws, :faq, :q, :key)"
                ),
                {"id": uuid.uuid4(), "ws": ws, "faq": faq_id, "q": question, "key": old_key},
            )

    with caplog.at_level(logging.WARNING, logger="trulybot.migrate"):
        await migrate.upgrade(cluster.app_url(OWNER_ROLE), app_role=APP_ROLE)

    key = normalize_question("¿Cuánto cuesta el te?")
    async with _superuser(cluster) as conn:
        for _ in range(3):
            answer = (await conn.execute(_exact_match(Faq.answer, ws, key))).scalar_one()
            assert answer == "El té cuesta 3 euros."
    shared = [r.getMessage() for r in caplog.records if r.name == "trulybot.migrate"]
    assert any(str(ws) in line and "2 FAQs" in line and key in line for line in shared), shared


# Questions whose keys exercise every rule of version 2: case, accents (Latin, Greek; other
# scripts' marks), apostrophes, infix and leading signs, math signs, symbols, emoji, currency.
SAMPLES = [
    "  How do I reset my PASSWORD?? ",
    "Orders >$50 at -40°C? 🍕",
    "¿Cuánto cuesta el té?",
    "What's the price of C++ / C# courses (v2.0)?",
    "Is 1,000 ≥ 999 and 10:30 ≤ 11:00?",
    "e-mail a@b.com re: R&D, 50% off, .5 kg, \u22123 ℃",
    "Ωμέγα ΆΈΉ straße İstanbul",
    "क्या आप हिंदी बोलते हैं?",
    "退款需要多长时间\uff1f",
    "مرحبا، هل يعمل على لينكس؟",
    "\uff26\uff35\uff2c\uff2c \uff57\uff49\uff44\uff54\uff48 \uff11\uff12\uff13",
    "TrulyBot™ pricing © 2026 | ❤️ ✔︎",
    "tabs\tand\nnew lines — and… dashes \u2013 here",
    "",
]


def test_the_migrations_frozen_normalization_is_the_codes_at_this_revision() -> None:
    """0023 carries its own copy of ``normalize_question`` (version 2), so no later change of the
    application breaks or changes it (session-diff review U3); at this revision the two agree."""
    path = Path(__file__).parents[2] / "migrations" / "versions" / "0023_question_keys.py"
    module = migrate.revision_module("0023")
    imported = {
        line.split()[1].split(".")[0]
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.startswith(("import ", "from "))
    }
    assert imported <= {"alembic", "collections", "logging", "re", "sqlalchemy", "unicodedata"}
    for question in SAMPLES:
        assert module.normalize_question(question) == normalize_question(question), question

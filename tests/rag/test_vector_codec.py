"""The vector codec each new connection gets (``core.vector_codec.register``, on connect): a
database without the ``vector`` type yet (before its first migration, the maintenance
database) still connects, and a ``vector`` type outside ``public`` (``CREATE EXTENSION vector
SCHEMA extensions`` with that schema on the search path, as some managed services have it)
gets the codec too: vectors go both ways in binary, bit for bit."""

from __future__ import annotations

from typing import Any

import asyncpg  # type: ignore[import-untyped]
import numpy as np
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from core import vector_codec
from core.db import Database, create_engine
from core.direct import Prepared, fetch
from core.embedded import EmbeddedPostgres, ensure_database
from rag.knowledge.repository.chunks import vector_sql, vector_value

DATABASE = "trulybot_vector_codec"


async def test_a_vector_type_outside_public_gets_the_codec(pg: EmbeddedPostgres) -> None:
    # Not recreated (DROP DATABASE waits for a checkpoint: seconds late in a run), made empty.
    await ensure_database(pg.socket_dir, DATABASE)
    cluster = EmbeddedPostgres(server=pg.server, socket_dir=pg.socket_dir, database=DATABASE)
    engine = create_engine(cluster.owner_url(), pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("DROP EXTENSION IF EXISTS vector"))
            await conn.execute(text("DROP SCHEMA IF EXISTS extensions"))
            await conn.execute(text(f'ALTER DATABASE "{DATABASE}" RESET search_path'))
    finally:
        await engine.dispose()
    engine = create_engine(cluster.owner_url(), pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:  # no vector type yet: it connects all the same
            assert (await conn.execute(text("SELECT to_regtype('vector')"))).scalar() is None
            await conn.rollback()
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("CREATE SCHEMA extensions"))
            await conn.execute(text("CREATE EXTENSION vector SCHEMA extensions"))
            await conn.execute(
                text(f'ALTER DATABASE "{DATABASE}" SET search_path = public, extensions')
            )
    finally:
        await engine.dispose()

    vector = np.array([0.1, -2.5, 3.0000002, 1e-30], dtype=np.float32)
    engine = create_engine(cluster.owner_url(), pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:  # a new connection: the type is extensions.vector
            where = (
                "SELECT typnamespace::regnamespace::text FROM pg_type WHERE oid = 'vector'::regtype"
            )
            assert (await conn.execute(text(where))).scalar_one() == "extensions"
            statement = text(f"SELECT {vector_sql('v')}, vector_send({vector_sql('v')})")
            read, sent = (await conn.execute(statement, {"v": vector_value(vector)})).one()
    finally:
        await engine.dispose()
    assert isinstance(read, np.ndarray)  # decoded by the codec, not pgvector's text form
    assert read.tobytes() == vector.tobytes()
    assert bytes(sent) == vector_value(vector)


RESTORED = "trulybot_vector_restored"
_BOUND = Prepared(text(f"SELECT {vector_sql('v')}"))


async def _vector_both_ways(db: Database, vector: np.ndarray, *, direct_first: bool) -> list[Any]:
    """``vector`` bound and read back through the session and straight on asyncpg."""

    async def session_way() -> Any:
        async with db.transaction() as session:
            return (await session.execute(_BOUND.statement, {"v": vector_value(vector)})).scalar()

    async def direct_way() -> Any:
        async with db.direct() as direct:
            return (await fetch(direct, _BOUND, {"v": vector_value(vector)}))[0][0]

    ways = (direct_way, session_way) if direct_first else (session_way, direct_way)
    return [await way() for way in ways]


async def test_pooled_connections_recover_when_the_vector_type_comes_or_changes(
    pg: EmbeddedPostgres,
) -> None:
    """Connections made before ``CREATE EXTENSION vector`` (the app started before its first
    migration), then across the extension dropped and created again (a restore: the type has a
    new oid): the first vector statement fails as a lost connection would (a 503, try again),
    and the pool's connections are replaced, with the codec: it failed until recycled (30
    minutes) or restarted, and read vectors as text."""
    # Not recreated (DROP DATABASE waits for a checkpoint: seconds late in a run), made empty.
    await ensure_database(pg.socket_dir, RESTORED)
    cluster = EmbeddedPostgres(server=pg.server, socket_dir=pg.socket_dir, database=RESTORED)
    db = Database.from_url(cluster.owner_url(), pool_size=2, max_overflow=0)
    vector = np.array([0.5, -1.25, 3.0000002], dtype=np.float32)

    async def ddl(*statements: str) -> None:
        async with db.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            for statement in statements:
                await conn.execute(text(statement))

    try:
        await ddl("DROP EXTENSION IF EXISTS vector")
        await db.engine.dispose()  # no connection made with the type
        async with db.transaction(), db.transaction():  # the pool's two connections made
            pass
        for change, direct_first in (
            (["CREATE EXTENSION vector"], False),
            (["DROP EXTENSION vector", "CREATE EXTENSION vector"], True),
        ):
            await ddl(*change)
            with pytest.raises(DBAPIError) as stale:
                await _vector_both_ways(db, vector, direct_first=direct_first)
            assert stale.value.connection_invalidated
            for read in await _vector_both_ways(db, vector, direct_first=direct_first):
                assert isinstance(read, np.ndarray)
                assert read.tobytes() == vector.tobytes()
    finally:
        await db.dispose()


_UNENCODED = "invalid input for query argument $1: b'\\x00' (expected str, got bytes)"


@pytest.mark.parametrize(
    ("statement", "stale"),
    [
        ("SELECT $1::VECTOR <=> embedding FROM chunks", True),
        ("SELECT CAST($1 AS vector) <=> embedding FROM chunks", True),
        ("SELECT * FROM unnest(CAST($1 AS uuid[]), CAST($2 AS vector[])) AS u(id, v)", True),
        ("SELECT CAST($1 AS extensions.vector)", True),
        ('SELECT $1::"vector"', True),
        ("SELECT $1 :: vector(384)", True),
        # tsvector is no vector: a bytes value bound there is another fault, not a stale codec
        ("SELECT id FROM chunks WHERE tsv @@ plainto_tsquery($1)", False),
        ("UPDATE chunks SET tsv = to_tsvector('english', $1)", False),
        ("SELECT $1::tsvector", False),
        ("SELECT CAST($1 AS tsvector)", False),
        ("SELECT vector_dims(embedding), $1::text FROM chunks", False),
        (None, False),
    ],
)
def test_only_a_statement_binding_a_vector_finds_its_codec_stale(
    statement: str | None, stale: bool
) -> None:
    error = asyncpg.DataError(_UNENCODED)
    assert vector_codec.is_stale(error, statement) is stale
    wrapped = DBAPIError(statement, None, error)  # as SQLAlchemy raises it: ``orig``
    assert vector_codec.is_stale(wrapped, statement) is stale

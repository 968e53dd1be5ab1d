"""The vector codec each new connection gets (``core.vector_codec.register``, on connect): a
database without the ``vector`` type yet (before its first migration, the maintenance
database) still connects, and a ``vector`` type outside ``public`` (``CREATE EXTENSION vector
SCHEMA extensions`` with that schema on the search path, as some managed services have it)
gets the codec too: vectors go both ways in binary, bit for bit."""

from __future__ import annotations

import numpy as np
from sqlalchemy import text

from core.db import create_engine
from core.embedded import EmbeddedPostgres, ensure_database
from rag.knowledge.repository.chunks import vector_sql, vector_value

DATABASE = "trulybot_vector_codec"


async def test_a_vector_type_outside_public_gets_the_codec(pg: EmbeddedPostgres) -> None:
    await ensure_database(pg.socket_dir, DATABASE, recreate=True)
    cluster = EmbeddedPostgres(server=pg.server, socket_dir=pg.socket_dir, database=DATABASE)
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

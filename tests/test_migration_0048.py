"""0048: the kept BM25 statistics. On a database set up as production (the tables' owner is no
superuser, so row-level security's FORCE applies to it), chunks and terms written before the
revision are counted by the upgrade; the downgrade drops the tables and triggers, and the next
upgrade counts again."""

from __future__ import annotations

import uuid

from sqlalchemy import text

from core import migrate
from core.embedded import EmbeddedPostgres
from tests.conftest import APP_ROLE
from tests.operator_scratch import OWNER_ROLE, _superuser
from tests.rag.test_question_keys_migration import _workspace, as_production

DATABASE = "trulybot_lexical_stats"


async def _write(cluster: EmbeddedPostgres, ws: uuid.UUID) -> None:
    """Three chunks as the release before 0048 wrote them: two with terms, one without."""
    doc = uuid.uuid4()
    async with _superuser(cluster) as conn:
        await conn.execute(
            text(
                "INSERT INTO documents (id, workspace_id, title, source_type, source, status)"
                " VALUES (:d, :ws, 't', 'text', 't', 'ready')"
            ),
            {"d": doc, "ws": ws},
        )
        for i, terms in enumerate(((("alpha", 2), ("beta", 1)), (("beta", 3),), ())):
            chunk = uuid.uuid4()
            length = sum(tf for _, tf in terms) if terms else None
            await conn.execute(
                text(
                    "INSERT INTO chunks (id, workspace_id, document_id, position, text, metadata,"
                    " token_count, content_hash, embedding, term_count) VALUES (:c, :ws, :d, :i,"
                    " 'x', '{}'::jsonb, 1, :h, array_fill(0.1::real, ARRAY[384])::vector, :n)"
                ),
                {"c": chunk, "ws": ws, "d": doc, "i": i, "h": f"h{i}", "n": length},
            )
            for term, tf in terms:
                await conn.execute(
                    text(
                        "INSERT INTO chunk_terms (workspace_id, chunk_id, term, tf, len)"
                        " VALUES (:ws, :c, :t, :tf, :n)"
                    ),
                    {"ws": ws, "c": chunk, "t": term, "tf": tf, "n": length},
                )


async def _kept(cluster: EmbeddedPostgres, ws: uuid.UUID) -> tuple[object, dict[str, int]]:
    async with _superuser(cluster) as conn:
        stats = (
            await conn.execute(
                text(
                    "SELECT chunks, total_terms, chunks_without_terms FROM lexical_stats"
                    " WHERE workspace_id = :ws"
                ),
                {"ws": ws},
            )
        ).one()
        df = await conn.execute(
            text("SELECT term, df FROM lexical_df WHERE workspace_id = :ws"), {"ws": ws}
        )
        return tuple(stats), {t: int(n) for t, n in df.all()}


async def test_the_upgrade_counts_the_chunks_and_terms_written_before_it(
    pg: EmbeddedPostgres,
) -> None:
    cluster = await as_production(pg, DATABASE, "0047")
    ws = await _workspace(cluster)
    await _write(cluster, ws)
    await migrate.upgrade(cluster.app_url(OWNER_ROLE), app_role=APP_ROLE)
    want = ((3, 6, 1), {"alpha": 1, "beta": 2})
    assert await _kept(cluster, ws) == want
    async with _superuser(cluster) as conn:  # row-level security is back on for the owner
        forced = await conn.execute(
            text(
                "SELECT relname FROM pg_class WHERE relname IN"
                " ('chunks', 'chunk_terms', 'lexical_stats', 'lexical_df')"
                " AND relforcerowsecurity AND relrowsecurity"
            )
        )
        assert sorted(r[0] for r in forced) == [
            "chunk_terms",
            "chunks",
            "lexical_df",
            "lexical_stats",
        ]
    await migrate.downgrade(cluster.app_url(OWNER_ROLE), "0047")
    async with _superuser(cluster) as conn:
        left = await conn.execute(
            text(
                "SELECT count(*) FROM pg_class WHERE relname IN ('lexical_stats', 'lexical_df')"
                " UNION ALL SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'lexical_%'"
            )
        )
        assert [r[0] for r in left] == [0, 0]
    await migrate.upgrade(cluster.app_url(OWNER_ROLE), app_role=APP_ROLE)
    assert await _kept(cluster, ws) == want

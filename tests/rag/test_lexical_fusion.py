"""Grouped vector search fused with the workspace's Okapi BM25 order (RETRIEVAL_LEXICAL_WEIGHT,
rag.knowledge.lexical; docs/retrieval.md, twelfth session).

A question's rare identifier, only in the right page's text, lifts that page with the weight on
and not with 0; a workspace whose chunks' terms are not all stored keeps the vector order until
``reindexing.fill_terms``; another workspace's terms never change this one's scores; the stored
terms follow every write and delete of chunks (they cannot drift).
"""

from __future__ import annotations

import dataclasses
import uuid
from collections import Counter

import numpy as np
from sqlalchemy import text

from core.db import Database
from rag.knowledge import lexical, reindexing, retrieval
from rag.knowledge.repository import chunks as chunk_repo
from rag.knowledge.repository import search as search_repo
from tests.conftest import RuntimeFactory, client_for, insert_document, signup
from tests.rag.test_answers import ingest
from tests.rag.test_page_ranking import _at_cosine, unit_query

ON = {"retrieval_lexical_weight": 0.3}
"""The weight these tests run with: terms are stored only while it is above 0."""
QUERY = "how do I set the frobnicate-level flag"
# The right page says the identifier; the page the vectors prefer says "level" once (so BM25
# ranks more than one page) and never the identifier.
PAGES = {
    "Overview": (0.80, "Overview of the tool: every option has a level of detail."),
    "Flags": (0.74, "Pass --frobnicate-level=3 to raise the frobnicate-level flag."),
    "Install": (0.50, "Install the package with the installer."),
    "Licence": (0.40, "The licence of the project."),
}


def order(scored: list[tuple[uuid.UUID, float]]) -> list[uuid.UUID]:
    return [page for page, _ in scored]


def test_fuse_weights_the_normalized_lists_and_keeps_the_vector_order_at_zero() -> None:
    a, b, c = (uuid.uuid4() for _ in range(3))
    vector = [(a, 1.0), (b, 0.94), (c, 0.6)]
    lex = [(b, 5.0), (a, 1.0)]
    assert order(lexical.fused(vector, lex, 0.0)) == [a, b, c]
    # a: 0.7 x 1 + 0.3 x 0 = 0.7; b: 0.7 x 0.85 + 0.3 x 1 = 0.895; c: 0 + 0.3 x 0 (lowest)
    assert order(lexical.fused(vector, lex, 0.3)) == [b, a, c]
    assert order(lexical.fused(vector, [], 0.3)) == [a, b, c]
    d = uuid.uuid4()  # a page only BM25 found comes in at the vector side's lowest value
    assert order(lexical.fused(vector, [(d, 9.0), (a, 1.0)], 0.6))[:2] == [d, a]  # 0.6 against 0.4


def test_tokenize_keeps_identifiers_whole_and_stems_their_parts() -> None:
    terms = lexical.tokenize("Pass --frobnicate-level=3 and os.path.join")
    for term in ("--frobnicate-level", "frobnic", "level", "os.path.join", "path", "join"):
        assert term in terms


async def _write_pages(
    owner_db: Database, db: Database, ws: uuid.UUID, q: np.ndarray
) -> dict[str, str]:
    rng = np.random.default_rng(11)
    ids = {}
    for title, (cosine, body) in PAGES.items():
        doc = await insert_document(owner_db, ws, title)
        row = chunk_repo.ChunkRow(
            position=0,
            text=body,
            metadata={"title": title},
            token_count=12,
            content_hash=f"{title}-0",
            embedding=_at_cosine(q, cosine, rng),
        )
        async with db.transaction(workspace_id=ws) as session:
            await chunk_repo.replace_chunks(session, ws, doc, [row], [], with_terms=True)
        ids[title] = str(doc)
    return ids


async def _drift(owner_db: Database, ws: uuid.UUID) -> tuple[int, int]:
    """(chunks whose term_count is not the sum of their stored terms' counts or not the length
    their terms carry, terms without a chunk of the workspace)."""
    async with owner_db.transaction() as session:
        wrong = (
            await session.execute(
                text(
                    "SELECT count(*) FROM chunks c WHERE c.workspace_id = :ws AND (c.term_count"
                    " IS DISTINCT FROM (SELECT sum(tf) FROM chunk_terms t WHERE t.chunk_id = c.id)"
                    " OR EXISTS (SELECT 1 FROM chunk_terms t WHERE t.chunk_id = c.id"
                    " AND t.len IS DISTINCT FROM c.term_count))"
                ),
                {"ws": ws},
            )
        ).scalar_one()
        orphans = (
            await session.execute(
                text(
                    "SELECT count(*) FROM chunk_terms t WHERE t.workspace_id = :ws AND NOT EXISTS"
                    " (SELECT 1 FROM chunks c WHERE c.id = t.chunk_id AND c.workspace_id = :ws)"
                ),
                {"ws": ws},
            )
        ).scalar_one()
    return int(wrong), int(orphans)


async def test_a_rare_identifier_lifts_its_page_with_the_weight_on_and_not_with_zero(
    runtime_factory: RuntimeFactory, db: Database, owner_db: Database
) -> None:
    for weight, first in ((0.0, "Overview"), (0.3, "Flags")):
        overrides = {"retrieval_lexical_weight": weight}
        async with runtime_factory(**overrides) as runtime, client_for(runtime) as client:
            owner = await signup(client)
            ws = uuid.UUID(owner.workspace_id)
            ids = await _write_pages(owner_db, db, ws, await unit_query(runtime, QUERY))
            assert await _drift(owner_db, ws) == (0, 0)
            r = await client.post(
                owner.url("/search"),
                json={"query": QUERY, "k": 3, "mode": "vector"},
                headers=owner.headers,
            )
            assert r.status_code == 200, r.text
            found = [h["document_id"] for h in r.json()["results"]]
            assert found[0] == ids[first], weight
            assert set(found) <= set(ids.values())


async def _order(db: Database, ws: uuid.UUID, q: np.ndarray, weight: float) -> list[uuid.UUID]:
    async with db.transaction(workspace_id=ws) as session:
        hits = await retrieval.search(
            session,
            workspace_id=ws,
            query=QUERY,
            query_embedding=q,
            k=4,
            mode="vector",
            weights=retrieval.Weights(bm25=weight),
        )
    return [h.document_id for h in hits]


async def test_a_workspace_without_all_its_terms_keeps_the_vector_order_until_reindex(
    runtime_factory: RuntimeFactory, db: Database, owner_db: Database
) -> None:
    async with runtime_factory() as runtime, client_for(runtime) as client:
        owner = await signup(client)
        ws = uuid.UUID(owner.workspace_id)
        q = await unit_query(runtime, QUERY)
        ids = await _write_pages(owner_db, db, ws, q)
        vector_order = await _order(db, ws, q, 0.0)
        fused = await _order(db, ws, q, 0.3)
        assert fused != vector_order
        assert str(fused[0]) == ids["Flags"]
        # As a chunk written by the release before 0047: no terms, no term_count.
        async with owner_db.transaction() as session:
            await session.execute(
                text(
                    "DELETE FROM chunk_terms WHERE chunk_id = (SELECT id FROM chunks"
                    " WHERE workspace_id = :ws ORDER BY id LIMIT 1)"
                ),
                {"ws": ws},
            )
            await session.execute(
                text(
                    "UPDATE chunks SET term_count = NULL WHERE id = (SELECT id FROM chunks"
                    " WHERE workspace_id = :ws ORDER BY id LIMIT 1)"
                ),
                {"ws": ws},
            )
        assert await _order(db, ws, q, 0.3) == vector_order
        assert await reindexing.fill_terms(runtime.ingestion, ws) == 1
        assert await reindexing.fill_terms(runtime.ingestion, ws) == 0
        assert await _drift(owner_db, ws) == (0, 0)
        assert await _order(db, ws, q, 0.3) == fused


async def test_another_workspaces_terms_never_change_this_ones_scores(
    runtime_factory: RuntimeFactory, db: Database, owner_db: Database
) -> None:
    async with runtime_factory() as runtime, client_for(runtime) as client:
        owner, other = await signup(client), await signup(client, "Other")
        ws, ws_other = uuid.UUID(owner.workspace_id), uuid.UUID(other.workspace_id)
        q = await unit_query(runtime, QUERY)
        await _write_pages(owner_db, db, ws, q)
        terms = lexical.query_terms(QUERY)

        async def scores() -> list[tuple[uuid.UUID, float]]:
            async with db.transaction(workspace_id=ws) as session:
                rows = await search_repo.lexical_search(
                    session, ws, terms, q, 40, k1=lexical.K1, b=lexical.B, postings=lexical.POSTINGS
                )
            assert rows is not None
            return [(row[0], row[4]) for row in rows]

        before = await scores()
        # The other workspace says the identifier in many chunks (its df would lower this
        # workspace's idf), and has a chunk without terms (would stop this one's fusion).
        doc = await insert_document(owner_db, ws_other, "Flags elsewhere")
        rows = [
            chunk_repo.ChunkRow(
                position=i,
                text=f"frobnicate-level {i} " * (i + 1),
                metadata={"title": "x"},
                token_count=4,
                content_hash=f"o-{i}",
                embedding=np.asarray(q, dtype=np.float32),
            )
            for i in range(30)
        ]
        async with db.transaction(workspace_id=ws_other) as session:
            await chunk_repo.replace_chunks(session, ws_other, doc, rows, [], with_terms=True)
            await session.execute(
                text("UPDATE chunks SET term_count = NULL WHERE document_id = :d AND position = 0"),
                {"d": doc},
            )
        assert await scores() == before
        async with db.transaction(workspace_id=ws) as session:
            seen = await session.execute(text("SELECT DISTINCT workspace_id FROM chunk_terms"))
            assert [row[0] for row in seen] == [ws]


async def test_terms_follow_every_write_and_delete_of_chunks(
    runtime_factory: RuntimeFactory, db: Database, owner_db: Database
) -> None:
    async with runtime_factory() as runtime, client_for(runtime) as client:
        owner = await signup(client)
        ws = uuid.UUID(owner.workspace_id)
        q = await unit_query(runtime, QUERY)
        ids = await _write_pages(owner_db, db, ws, q)
        doc = uuid.UUID(ids["Flags"])
        # A re-ingested page (a web page's refresh, a new upload): one chunk kept in place with
        # new metadata (its title is in the embedded text), one deleted, one new.
        async with db.transaction(workspace_id=ws) as session:
            (kept_id, _), *_ = await chunk_repo.chunk_hashes(session, ws, doc)
            rows = [
                chunk_repo.ChunkRow(
                    0,
                    PAGES["Flags"][1],
                    {"title": "Renamed", "embed_format": 3},
                    12,
                    "Flags-0",
                    keep_id=kept_id,
                ),
                chunk_repo.ChunkRow(
                    1,
                    "A new passage about zebras.",
                    {"title": "Renamed"},
                    6,
                    "Flags-1",
                    embedding=np.asarray(q, dtype=np.float32),
                ),
            ]
            await chunk_repo.replace_chunks(session, ws, doc, rows, [], with_terms=True)
        assert await _drift(owner_db, ws) == (0, 0)
        async with owner_db.transaction() as session:
            kept_terms = Counter(
                dict(
                    (
                        await session.execute(
                            text("SELECT term, tf FROM chunk_terms WHERE chunk_id = :c"),
                            {"c": kept_id},
                        )
                    ).all()
                )
            )
        assert "renam" in kept_terms  # the new title's header is in the embedded text
        # The document deleted through the API: its chunks' terms go with them.
        r = await client.delete(owner.url(f"/documents/{doc}"), headers=owner.headers)
        assert r.status_code == 204, r.text
        assert await _drift(owner_db, ws) == (0, 0)
        async with owner_db.transaction() as session:
            left = await session.execute(
                text("SELECT count(*) FROM chunk_terms WHERE workspace_id = :ws"), {"ws": ws}
            )
            assert left.scalar_one() > 0  # the other pages'
            # The workspace purged: nothing of it is left.
            await session.execute(text("DELETE FROM workspaces WHERE id = :ws"), {"ws": ws})
            left = await session.execute(
                text("SELECT count(*) FROM chunk_terms WHERE workspace_id = :ws"), {"ws": ws}
            )
            assert left.scalar_one() == 0


async def _upload(runtime_factory: RuntimeFactory, owner_db: Database, weight: float) -> int:
    """A page naming the identifier uploaded through the ingestion job with ``weight``; its
    chunks' count once the checks shared by both weights pass: ``term_count`` set on all or
    none, terms named ``--frobnicate-level`` stored or not. Reindex then fills the rest."""
    async with (
        runtime_factory(retrieval_lexical_weight=weight) as runtime,
        client_for(runtime) as client,
    ):
        owner = await signup(client)
        ws = uuid.UUID(owner.workspace_id)
        body = "# Flags\n\nPass --frobnicate-level=3 to raise it.\n\n# Other\n\nNothing here."
        await ingest(client, owner, runtime, "Flags", body)
        async with owner_db.transaction() as session:
            found = await session.execute(
                text(
                    "SELECT count(*), count(*) FILTER (WHERE term_count IS NULL),"
                    " (SELECT count(*) FROM chunk_terms WHERE workspace_id = :ws),"
                    " (SELECT count(*) FROM chunk_terms WHERE workspace_id = :ws"
                    " AND term = '--frobnicate-level')"
                    " FROM chunks WHERE workspace_id = :ws"
                ),
                {"ws": ws},
            )
            chunks, without, rows, named = found.one()
        assert chunks >= 1
        if weight > 0:
            assert (without, rows > 0, named >= 1) == (0, True, True)
        else:  # the feature off costs no storage
            assert (without, rows, named) == (chunks, 0, 0)
        # Turned on later: reindex fills the terms of what was written while it was off.
        assert await reindexing.fill_terms(runtime.ingestion, ws) == without
        assert await _drift(owner_db, ws) == (0, 0)
        return int(chunks)


async def test_an_upload_through_the_ingestion_job_stores_its_chunks_terms(
    runtime_factory: RuntimeFactory, owner_db: Database
) -> None:
    await _upload(runtime_factory, owner_db, 0.3)


async def test_an_upload_with_the_weight_at_zero_stores_no_terms(
    runtime_factory: RuntimeFactory, owner_db: Database
) -> None:
    """No chunk_terms rows, term_count NULL (the search's fallback keeps the vector order until
    ``trulybot reindex`` once the weight is turned on)."""
    await _upload(runtime_factory, owner_db, 0.0)


async def test_a_chunk_kept_while_the_weight_is_zero_forgets_its_terms(
    runtime_factory: RuntimeFactory, db: Database, owner_db: Database
) -> None:
    """Its new metadata (in the embedded text) may change its terms, which are not computed
    with the weight at 0: its old ones go, term_count NULL (the vector order until reindex)."""
    async with runtime_factory(**ON) as runtime, client_for(runtime) as client:
        owner = await signup(client)
        ws = uuid.UUID(owner.workspace_id)
        q = await unit_query(runtime, QUERY)
        doc = uuid.UUID((await _write_pages(owner_db, db, ws, q))["Flags"])
        async with db.transaction(workspace_id=ws) as session:
            (kept_id, _), *_ = await chunk_repo.chunk_hashes(session, ws, doc)
            row = chunk_repo.ChunkRow(
                0, PAGES["Flags"][1], {"title": "Renamed"}, 12, "Flags-0", keep_id=kept_id
            )
            # Its terms' change is reported (the ingestion job bumps the knowledge version),
            # a rewrite that changes none is not.
            assert await chunk_repo.replace_chunks(session, ws, doc, [row], []) is True
            assert await chunk_repo.replace_chunks(session, ws, doc, [row], []) is False
            with_terms = await chunk_repo.replace_chunks(
                session, ws, doc, [row], [], with_terms=True
            )
            assert with_terms is True
            assert await chunk_repo.replace_chunks(session, ws, doc, [row], []) is True
        assert await _drift(owner_db, ws) == (0, 0)
        async with owner_db.transaction() as session:
            left = await session.execute(
                text("SELECT count(*) FROM chunk_terms WHERE chunk_id = :c"), {"c": kept_id}
            )
            assert left.scalar_one() == 0
            count = await session.execute(
                text("SELECT term_count FROM chunks WHERE id = :c"), {"c": kept_id}
            )
            assert count.scalar_one() is None
        assert await _order(db, ws, q, 0.3) == await _order(db, ws, q, 0.0)
        assert await reindexing.fill_terms(runtime.ingestion, ws) == 1
        assert str((await _order(db, ws, q, 0.3))[0]) == str(doc)


async def _version(owner_db: Database, ws: uuid.UUID) -> int:
    async with owner_db.transaction() as session:
        found = await session.execute(
            text("SELECT knowledge_version FROM workspaces WHERE id = :ws"), {"ws": ws}
        )
        return int(found.scalar_one())


async def test_a_reingestion_that_only_stores_or_forgets_terms_bumps_the_knowledge_version(
    runtime_factory: RuntimeFactory, owner_db: Database
) -> None:
    """Every chunk kept in place, only their terms stored (weight turned on) or forgotten (at
    0): the BM25 order changed, so the answers cached under the old version must go; a
    re-ingestion that changes nothing keeps them."""
    async with runtime_factory(**ON) as runtime, client_for(runtime) as client:
        owner = await signup(client)
        ws = uuid.UUID(owner.workspace_id)
        body = "# Flags\n\nPass --frobnicate-level=3 to raise it.\n\n# Other\n\nNothing here."
        doc = uuid.UUID(await ingest(client, owner, runtime, "Flags", body))
        off = dataclasses.replace(
            runtime.ingestion,
            settings=runtime.settings.model_copy(update={"retrieval_lexical_weight": 0.0}),
        )
        versions = [await _version(owner_db, ws)]
        for deps in (off, off, runtime.ingestion, runtime.ingestion):
            assert await reindexing.reprocess_document(deps, ws, doc) == "ready"
            versions.append(await _version(owner_db, ws))
        assert await _drift(owner_db, ws) == (0, 0)
    first = versions[0]
    # forgotten: bumped; again at 0: unchanged; stored: bumped; again stored: unchanged
    assert versions == [first, first + 1, first + 1, first + 2, first + 2]

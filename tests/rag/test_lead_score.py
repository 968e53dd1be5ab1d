"""Grouped search weighs each page's lead, the cosine between the question and the page's first
chunk (RETRIEVAL_LEAD_WEIGHT; docs/retrieval.md, eighteenth session).

A page whose opening says what the question asks (a man page's name and synopsis, a module's
introduction) rises over a page that matches once deep inside; 0 gives back the fused order; the
lead is read from the page's first chunk by position, within the workspace only.
"""

from __future__ import annotations

import uuid

import numpy as np

from core.db import Database
from rag.knowledge import lexical, retrieval
from rag.knowledge.repository import search as search_repo
from tests.conftest import RuntimeFactory, client_for, signup
from tests.rag.test_page_ranking import _at_cosine, insert_page, unit_query

QUERY = "how do I move my last commits onto another branch"


def order(scored: list[tuple[uuid.UUID, float]]) -> list[uuid.UUID]:
    return [page for page, _ in scored]


def test_fuse_adds_the_weighed_lead_and_keeps_the_order_without_it() -> None:
    a, b, c = (uuid.uuid4() for _ in range(3))
    vector = [(a, 1.0), (b, 0.9), (c, 0.5)]
    # Normalized a 1, b 0.8, c 0; leads weighed: a 1 + 0.6 x 0.2, b 0.8 + 0.6 x 0.7, c 0.06.
    leads = {a: 0.2, b: 0.7, c: 0.1}
    assert order(lexical.fused(vector, [], 0.0)) == [a, b, c]
    assert order(lexical.fused(vector, [], 0.0, leads, 0.0)) == [a, b, c]
    assert order(lexical.fused(vector, [], 0.0, leads, 0.6)) == [b, a, c]
    # With BM25: a 0.6 x 1 + 0.4 x 0 + 0.12 = 0.72; b 0.6 x 0.8 + 0.4 x 1 + 0.42 = 1.3.
    assert order(lexical.fused(vector, [(b, 3.0), (a, 1.0)], 0.4, leads, 0.6)) == [b, a, c]
    # A page without a lead (no chunk read) counts the lowest lead.
    assert order(lexical.fused(vector, [], 0.0, {b: 0.7, c: 0.1}, 0.6)) == [b, a, c]
    assert order(lexical.fused(vector, [], 0.0, {a: 0.9, b: 0.1}, 0.6))[0] == a


async def _pages(owner_db: Database, db: Database, ws: uuid.UUID, q: np.ndarray) -> dict[str, str]:
    rng = np.random.default_rng(5)
    at = [0.20, 0.80]  # Release notes: opens elsewhere, one passage matches well
    return {
        "Release notes": await insert_page(
            owner_db, db, ws, "Release notes", [_at_cosine(q, c, rng) for c in at]
        ),
        # The page about it: its opening says it, its other passage does not.
        "Cherry-pick": await insert_page(
            owner_db, db, ws, "Cherry-pick", [_at_cosine(q, c, rng) for c in (0.79, 0.20)]
        ),
        "Install": await insert_page(
            owner_db, db, ws, "Install", [_at_cosine(q, c, rng) for c in (0.40, 0.10)]
        ),
    }


async def _order(db: Database, ws: uuid.UUID, q: np.ndarray, lead: float) -> list[uuid.UUID]:
    async with db.transaction(workspace_id=ws) as session:
        hits = await retrieval.search(
            session,
            workspace_id=ws,
            query=QUERY,
            query_embedding=q,
            k=3,
            mode="vector",
            weights=retrieval.Weights(feedback=0.0, lead=lead),
        )
    return [h.document_id for h in hits]


async def test_a_page_that_opens_with_the_answer_rises_with_the_weight_and_not_without(
    runtime_factory: RuntimeFactory, db: Database, owner_db: Database
) -> None:
    async with runtime_factory() as runtime, client_for(runtime) as client:
        owner = await signup(client)
        ws = uuid.UUID(owner.workspace_id)
        q = await unit_query(runtime, QUERY)
        ids = await _pages(owner_db, db, ws, q)
        # Release notes 0.80 + 0.5 x 0.20 = 0.90 against Cherry-pick 0.79 + 0.5 x 0.20 = 0.89.
        assert [str(d) for d in await _order(db, ws, q, 0.0)] == [
            ids["Release notes"],
            ids["Cherry-pick"],
            ids["Install"],
        ]
        # Normalized 1 and 0.98; the leads 0.20 and 0.79 decide.
        assert [str(d) for d in await _order(db, ws, q, 0.6)][:2] == [
            ids["Cherry-pick"],
            ids["Release notes"],
        ]
        async with db.transaction(workspace_id=ws) as session:
            leads = await search_repo.lead_similarities(
                session, ws, [uuid.UUID(i) for i in ids.values()], q
            )
        by_title = {title: leads[uuid.UUID(i)] for title, i in ids.items()}
        assert abs(by_title["Cherry-pick"] - 0.79) < 1e-4  # position 0, not the best chunk
        assert abs(by_title["Release notes"] - 0.20) < 1e-4


async def test_the_setting_reaches_search_and_another_workspaces_pages_give_no_lead(
    runtime_factory: RuntimeFactory, db: Database, owner_db: Database
) -> None:
    for weight, first in ((0.0, "Release notes"), (0.6, "Cherry-pick")):
        overrides = {"retrieval_lead_weight": weight, "retrieval_feedback_weight": 0.0}
        async with runtime_factory(**overrides) as runtime, client_for(runtime) as client:
            owner, other = await signup(client), await signup(client, "Other")
            ws, ws_other = uuid.UUID(owner.workspace_id), uuid.UUID(other.workspace_id)
            q = await unit_query(runtime, QUERY)
            ids = await _pages(owner_db, db, ws, q)
            theirs = await _pages(owner_db, db, ws_other, q)
            r = await client.post(
                owner.url("/search"),
                json={"query": QUERY, "k": 2, "mode": "vector"},
                headers=owner.headers,
            )
            assert r.status_code == 200, r.text
            found = [h["document_id"] for h in r.json()["results"]]
            assert found[0] == ids[first], weight
            assert set(found) <= set(ids.values())
            async with db.transaction(workspace_id=ws) as session:
                leads = await search_repo.lead_similarities(
                    session, ws, [uuid.UUID(i) for i in theirs.values()], q
                )
            assert leads == {}

"""RERANKER=maxsim: late interaction over MiniLM's token states fused with the retrieval page
score (rag.knowledge.maxsim_rerank), on small real documents through /search and chat.

The expected orders are computed independently: the token states by the harness
(``bench.late_interaction.TokenEncoder``, float16 as it caches them), its numpy ``maxsim`` and
``kept(..., "all")``, the fusion written out here, over the retrieval order and page scores of
``retrieval.search`` called as /search calls it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import threading
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError
from redis.asyncio import Redis

from api.commands import warm_model
from api.runtime import Runtime
from bench import late_interaction as harness
from core import metrics
from core.config import Settings, get_settings
from core.db import Database
from core.errors import ConfigError
from rag.knowledge import retrieval
from rag.knowledge.chunking import stored_embedding_text
from rag.knowledge.maxsim_rerank import MaxSimReranker, export_hidden, hidden_graph_path
from rag.knowledge.rerankers import build_reranker, describe, reranker_choice
from tests.conftest import (
    ROOT,
    RuntimeFactory,
    client_for,
    make_runtime,
    make_settings,
    seed_onnx_graph,
    signup,
)
from tests.rag.test_answers import ingest
from tests.rag.test_chat import chat
from tests.rag.test_rerank import Doc
from tests.test_db_pool_busy import one_connection

FIXTURES = (one_connection,)
"""A database of one pooled connection (tests/test_db_pool_busy.py)."""

# Retrieval (the tests' hash embedder fused with BM25) puts Invoices first, MaxSim Refunds.
QUESTION = "is there a reimbursement when I quit"
CHAT_QUESTION = "Will I be reimbursed if I stop my subscription?"
PAGES = {
    "Shipping": "# Delivery\n\nHardware keys ship within a week to India and Nepal by courier.",
    "Invoices": "# Invoices\n\nInvoices for every plan are emailed at the start of each month.",
    "Refunds": "# Refunds\n\nCancel a yearly plan and your money is refunded within 30 days.",
    "Passwords": "# Passwords\n\nReset a forgotten password from the sign-in page link.",
    "Plans": "# Plans\n\nA yearly plan costs ten months of the monthly price, paid up front.",
}
UNHURRIED_MS = 60_000
"""The time budget (the most RERANKER_TIMEOUT_MS allows) of every test that asserts a reranked
order: no load exhausts it, so the order asserted is maxsim's and never the retrieval order
kept after a timeout (only the budget test sets a tiny one)."""


@pytest.fixture(scope="module")
def graph_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model cache directory holding the token-state graph: exported from the bundled
    weights (or copied from this machine's cache, where `trulybot warm-model --maxsim` put the
    same export)."""
    directory = tmp_path_factory.mktemp("maxsim-models")
    target = hidden_graph_path(directory)
    cached = hidden_graph_path(None)
    if cached.is_file():
        shutil.copyfile(cached, target)
    else:
        from rag.knowledge.onnx_minilm import bundled_model_path

        export_hidden(bundled_model_path(), target)
    return directory


@pytest.fixture(scope="module")
def oracle(graph_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> harness.TokenEncoder:
    """The harness's encoder over the same graph (it reads ``minilm-hidden.onnx``)."""
    directory = tmp_path_factory.mktemp("harness")
    os.link(hidden_graph_path(graph_dir), directory / "minilm-hidden.onnx")
    return harness.TokenEncoder(directory)


def embedded(hit: retrieval.Hit) -> str:
    metadata = {"title": hit.title, "heading_path": hit.heading_path}
    return stored_embedding_text(hit.text, {**metadata, "embed_format": hit.embed_format})


def expected_order(
    oracle: harness.TokenEncoder,
    query: str,
    hits: list[retrieval.Hit],
    weight: float,
    seconds: bool = True,
) -> list[str]:
    """The titles of ``hits`` (the retrieval order, one per page) as the harness reorders them
    (``--chunks best2``): ``(1 - w) x minmax(page score) + w x minmax(page maxsim)``, a page's
    maxsim the larger of its hit chunk's and its second chunk's (``seconds`` off: the hit
    chunk's alone)."""
    chunks = [[h, *([h.second] if h.second and seconds else [])] for h in hits]
    texts = [embedded(c) for page in chunks for c in page]
    (ids, states), *passages = oracle.encode([query, *texts])
    asked = states[harness.kept(ids, "all", [])].astype(np.float32)
    flat = iter([harness.maxsim(asked, p) for p in passages])
    sims = np.asarray([max(next(flat) for _ in page) for page in chunks])
    pages = np.asarray([h.page_score for h in hits], dtype=np.float64)
    fused = (1 - weight) * (pages - pages.min()) / (np.ptp(pages) or 1.0) + weight * (
        sims - sims.min()
    ) / (np.ptp(sims) or 1.0)
    order = np.argsort(-fused, kind="stable")
    ranked = fused[order]
    # No near tie that float16 states (the harness's) and float32 (the product's) could flip.
    assert np.all(np.abs(np.diff(ranked)) > 1e-4) or weight == 0
    return [hits[i].title for i in order]


async def retrieval_order(
    runtime: Runtime, owner: Any, query: str, k: int, per_document: bool = True
) -> list[retrieval.Hit]:
    """The hits /search hands the reranker (its pool, the settings' weights)."""
    ws = uuid.UUID(owner.workspace_id)
    vector = await runtime.embedder.embed_query(query)
    async with runtime.db.transaction(workspace_id=ws) as session:
        return await retrieval.search(
            session,
            workspace_id=ws,
            query=query,
            query_embedding=vector,
            k=runtime.reranker.pool(k),
            mode="vector",
            weights=retrieval.Weights.of(runtime.settings),
            per_document=per_document,
        )


async def searched(client: Any, owner: Any, query: str, k: int, **more: Any) -> dict[str, Any]:
    response = await client.post(
        owner.url("/search"), json={"query": query, "k": k, **more}, headers=owner.headers
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


@asynccontextmanager
async def workspace(
    runtime_factory: RuntimeFactory, graph_dir: Path, name: str, **settings: Any
) -> AsyncIterator[tuple[Runtime, Any, Any]]:
    """A runtime with RERANKER=maxsim (and ``settings``; the budget ``UNHURRIED_MS`` unless
    they set one), a client and an owner of PAGES."""
    settings = {"reranker_timeout_ms": UNHURRIED_MS, **settings}
    async with (
        runtime_factory(reranker="maxsim", embed_model_cache_dir=graph_dir, **settings) as rt,
        client_for(rt) as client,
    ):
        owner = await signup(client, name)
        for title, text in PAGES.items():
            await ingest(client, owner, rt, title, text)
        yield rt, client, owner


def outcomes(reason: str) -> float:
    return metrics.sample("trulybot_rerank_total", {"reranker": "maxsim", "outcome": reason})


@pytest.mark.parametrize("weight", [0.3, 1.0])
async def test_search_returns_the_maxsim_order(
    runtime_factory: RuntimeFactory, graph_dir: Path, oracle: harness.TokenEncoder, weight: float
) -> None:
    settings = {"reranker_maxsim_weight": weight}
    async with workspace(runtime_factory, graph_dir, f"w {weight}", **settings) as (rt, c, owner):
        assert isinstance(rt.reranker, MaxSimReranker)
        hits = await retrieval_order(rt, owner, QUESTION, 5)
        expected = expected_order(oracle, QUESTION, hits, weight)
        assert expected != [h.title for h in hits]  # the test could fail
        before = outcomes("ok")
        body = await searched(c, owner, QUESTION, 5)
    assert (body["reranker"], body["reranker_fallback"]) == ("maxsim", None)
    assert [r["title"] for r in body["results"]] == expected
    assert outcomes("ok") == before + 1


@pytest.mark.parametrize("weight", [0.3, 1.0])
async def test_chunk_level_search_returns_the_maxsim_order(
    runtime_factory: RuntimeFactory, graph_dir: Path, oracle: harness.TokenEncoder, weight: float
) -> None:
    """``per_document: false``: the best chunks, each scored by its own MaxSim and fused with
    its retrieval score, as a page is with its page score. They came back in the retrieval
    order, the answer saying ``maxsim`` had run (a chunk-level hit carried no page score)."""
    settings = {"reranker_maxsim_weight": weight}
    async with workspace(runtime_factory, graph_dir, f"c {weight}", **settings) as (rt, c, owner):
        hits = await retrieval_order(rt, owner, QUESTION, 5, per_document=False)
        assert all(h.second is None for h in hits)  # each chunk alone
        own = [replace(h, page_score=h.score) for h in hits]
        expected = expected_order(oracle, QUESTION, own, weight)
        assert expected != [h.title for h in hits]  # the test could fail
        before = outcomes("ok")
        body = await searched(c, owner, QUESTION, 5, per_document=False)
    assert (body["reranker"], body["reranker_fallback"]) == ("maxsim", None)
    assert [r["title"] for r in body["results"]] == expected
    assert [r["chunk_id"] for r in body["results"]] != [str(h.chunk_id) for h in hits]
    assert outcomes("ok") == before + 1


class Gate:
    """The model's lock behind a gate: a rerank asking for it says so (``asked``) and waits
    until the test sets ``opened``."""

    def __init__(self, lock: Any) -> None:
        self.lock = lock
        self.asked = threading.Event()
        self.opened = threading.Event()

    def __enter__(self) -> Any:
        self.asked.set()
        self.opened.wait()
        return self.lock.__enter__()

    def __exit__(self, *exc: Any) -> Any:
        return self.lock.__exit__(*exc)


async def test_a_search_holds_no_connection_while_maxsim_runs(
    runtime_factory: RuntimeFactory,
    graph_dir: Path,
    one_connection: Database,
    redis_client: Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A pool of one connection: while the search's rerank waits for the model, none is
    checked out and another request is served (the search held its request's connection
    through the rerank, about 1.7 s of CPU: a few searches at once took the whole pool;
    tests/rag/test_rerank_connections.py for RERANKER=llm and chat)."""
    async with workspace(runtime_factory, graph_dir, "pool") as (_, _, owner):
        settings = make_settings(
            reranker="maxsim",
            embed_model_cache_dir=graph_dir,
            reranker_timeout_ms=UNHURRIED_MS,
            db_pool_size=1,
            db_max_overflow=0,
        )
        async with (
            make_runtime(settings, one_connection, redis_client) as rt,
            client_for(rt) as client,
        ):
            assert isinstance(rt.reranker, MaxSimReranker)
            assert rt.reranker.model is not None
            gate = Gate(rt.reranker.model.lock)
            monkeypatch.setattr(rt.reranker.model, "lock", gate)
            body = {"query": QUESTION, "k": 5}
            task = asyncio.ensure_future(
                client.post(owner.url("/search"), json=body, headers=owner.headers)
            )
            try:
                while not gate.asked.is_set() and not task.done():
                    await asyncio.sleep(0.01)
                assert not task.done(), task.result().text  # it waits for the model
                assert one_connection.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
                usage = await client.get(owner.url("/usage"), headers=owner.headers)
                assert usage.status_code == 200, usage.text
            finally:
                gate.opened.set()
            response = await task
    assert response.status_code == 200, response.text
    assert (response.json()["reranker"], response.json()["reranker_fallback"]) == ("maxsim", None)


async def test_weight_zero_keeps_the_retrieval_order(
    runtime_factory: RuntimeFactory, graph_dir: Path
) -> None:
    """At weight 0 the fused score is the retrieval page score alone: the order is retrieval's
    exactly (the BM25-fused page score is carried with each hit, not its chunk's cosine)."""
    settings = {"reranker_maxsim_weight": 0.0}
    async with workspace(runtime_factory, graph_dir, "zero", **settings) as (rt, c, owner):
        for query in (QUESTION, "yearly plan", "password reset link", "courier to Nepal"):
            hits = await retrieval_order(rt, owner, query, 5)
            assert all(h.page_score is not None for h in hits)
            body = await searched(c, owner, query, 5)
            assert (body["reranker"], body["reranker_fallback"]) == ("maxsim", None)
            assert [r["title"] for r in body["results"]] == [h.title for h in hits][:5]


async def test_over_the_budget_the_retrieval_order_is_kept(
    runtime_factory: RuntimeFactory, graph_dir: Path
) -> None:
    settings = {"reranker_timeout_ms": 1}
    async with workspace(runtime_factory, graph_dir, "budget", **settings) as (rt, c, owner):
        hits = await retrieval_order(rt, owner, QUESTION, 5)
        before = outcomes("timeout")
        body = await searched(c, owner, QUESTION, 5)
    assert body["reranker_fallback"] == "timeout"
    assert [r["title"] for r in body["results"]] == [h.title for h in hits][:5]
    assert outcomes("timeout") == before + 1


async def test_chat_answers_from_the_maxsim_order(
    runtime_factory: RuntimeFactory, graph_dir: Path, oracle: harness.TokenEncoder
) -> None:
    settings = {
        "reranker_maxsim_weight": 1.0,
        "retrieval_k": 2,
        "retrieval_min_similarity": -1.0,
    }
    async with workspace(runtime_factory, graph_dir, "chat", **settings) as (rt, c, owner):
        hits = await retrieval_order(rt, owner, CHAT_QUESTION, 2)
        expected = expected_order(oracle, CHAT_QUESTION, hits, 1.0)
        assert expected[:2] != [h.title for h in hits][:2]  # the test could fail
        before = outcomes("ok")
        fallbacks = outcomes("timeout")
        body = (await chat(c, owner, CHAT_QUESTION)).json()
    assert body["source"] == "rag"
    assert outcomes("timeout") == fallbacks
    assert [cited["title"] for cited in body["citations"]][:1] == expected[:1]
    assert outcomes("ok") == before + 1


async def test_a_missing_graph_refuses_to_start(
    runtime_factory: RuntimeFactory, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match="run `trulybot warm-model`"):
        async with runtime_factory(reranker="maxsim", embed_model_cache_dir=tmp_path):
            pass
    with pytest.raises(ConfigError, match="no token-state graph"):
        await MaxSimReranker(hidden_graph_path(tmp_path)).start()


def test_serve_refuses_maxsim_without_its_graph_before_starting(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RERANKER", "DATABASE_"))}
    done = subprocess.run(
        [sys.executable, "-m", "api.cli", "serve", "--port", "1"],
        cwd=ROOT,
        env={
            **env,
            "RERANKER": "maxsim",
            "EMBED_MODEL_CACHE_DIR": str(tmp_path / "models"),
            "DATA_DIR": str(tmp_path / "data"),
        },
        capture_output=True,
        text=True,
        timeout=120,  # a guard against hanging, not a timing assertion
        check=False,
    )
    assert done.returncode == 1
    assert "RERANKER=maxsim: no token-state graph" in done.stderr
    assert "trulybot warm-model" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "data").exists()  # nothing was started


def test_maxsim_is_a_reranker_setting(graph_dir: Path) -> None:
    settings = make_settings(reranker="maxsim", embed_model_cache_dir=graph_dir)
    assert reranker_choice(settings) == "maxsim"
    reranker = build_reranker(settings)
    assert isinstance(reranker, MaxSimReranker)
    assert (reranker.weight, reranker.candidates, reranker.pool(5)) == (0.3, 10, 10)
    assert describe(reranker).startswith("reranker: maxsim")
    explicit = make_settings(
        reranker="maxsim", embed_model_cache_dir=graph_dir, reranker_candidates=20
    )
    assert build_reranker(explicit).candidates == 20
    # Its budget: 5 s unless set (about 1.7 s of CPU a question, over the shared 1.5 s default).
    assert reranker.timeout == 5.0
    timed = make_settings(
        reranker="maxsim", embed_model_cache_dir=graph_dir, reranker_timeout_ms=1500
    )  # the test's graph: this machine's model cache may hold none
    assert build_reranker(timed).timeout == 1.5
    assert build_reranker(make_settings(reranker="none")).timeout == 1.5
    for bad in (-0.1, 1.5):
        with pytest.raises(ValidationError, match="reranker_maxsim_weight"):
            make_settings(reranker="maxsim", reranker_maxsim_weight=bad)
    assert Settings.model_fields["reranker_maxsim_weight"].default == 0.3


async def test_candidates_without_a_page_score_keep_their_place(graph_dir: Path) -> None:
    started = MaxSimReranker(hidden_graph_path(graph_dir), weight=1.0, timeout_ms=UNHURRIED_MS)
    await started.start()
    try:
        items = [
            Doc(uuid.uuid4(), title, (), text.split("\n\n", 1)[1])  # no page score
            for title, text in PAGES.items()
        ]
        ranked = await started.rerank(QUESTION, items, 5)
    finally:
        await started.aclose()
    assert ranked.fallback is None
    assert [c.title for c in ranked.items] == list(PAGES)


def _hit(title: str, text: str, page_score: float, second: retrieval.Hit | None = None) -> Any:
    page = uuid.uuid5(uuid.NAMESPACE_URL, title)
    return retrieval.Hit(
        chunk_id=uuid.uuid4(),
        document_id=page,
        title=title,
        url=None,
        page=None,
        heading_path=[],
        text=text,
        score=page_score,
        similarity=page_score,
        page_score=page_score,
        second=second,
    )


async def test_a_page_is_scored_by_its_second_chunk_too(
    graph_dir: Path, oracle: harness.TokenEncoder
) -> None:
    """A page whose hit chunk misses the question but whose second chunk answers it ranks by
    the second's MaxSim (the harness's ``best2``)."""
    refund = _hit("Account", PAGES["Refunds"].split("\n\n")[1], 0.0)
    hits = [
        _hit("Billing", PAGES["Invoices"].split("\n\n")[1], 0.9),
        _hit("Account", PAGES["Passwords"].split("\n\n")[1], 0.8, second=refund),
        _hit("Shipping", PAGES["Shipping"].split("\n\n")[1], 0.7),
        _hit("Pricing", PAGES["Plans"].split("\n\n")[1], 0.6),
    ]
    expected = expected_order(oracle, QUESTION, hits, 1.0)
    assert expected != expected_order(oracle, QUESTION, hits, 1.0, seconds=False)  # could fail
    started = MaxSimReranker(hidden_graph_path(graph_dir), weight=1.0, timeout_ms=UNHURRIED_MS)
    await started.start()
    try:
        ranked = await started.rerank(QUESTION, hits, 4)
        alone = [hits[0], replace(hits[1], second=None), *hits[2:]]
        again = await started.rerank(QUESTION, alone, 4)
    finally:
        await started.aclose()
    assert (ranked.fallback, ranked.cached) == (None, False)
    assert [h.title for h in ranked.items] == expected
    # the second chunk is part of the cache key: without it the order is computed afresh
    assert (again.fallback, again.cached) == (None, False)
    assert [h.title for h in again.items] == expected_order(oracle, QUESTION, alone, 1.0)


def test_warm_model_exports_the_token_state_graph(
    onnx_graph: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`trulybot warm-model --maxsim` exports the graph from the bundled weights beside the
    pooled one and checks it against it; a start then finds it. In this process, as
    tests/rag/test_int8_queries.py runs the command."""
    models = seed_onnx_graph(onnx_graph, tmp_path / "models")
    monkeypatch.chdir(tmp_path)  # no .env of the checkout
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("EMBED_MODEL_CACHE_DIR", str(models))
    monkeypatch.setenv("EMBEDDING_PROVIDER", "local")
    monkeypatch.delenv("RERANKER", raising=False)
    graph = hidden_graph_path(models)
    get_settings.cache_clear()
    try:
        assert warm_model._cmd(argparse.Namespace(command="warm-model", maxsim=False)) == 0
        assert not graph.exists()  # not asked for: none made
        assert warm_model._cmd(argparse.Namespace(command="warm-model", maxsim=True)) == 0
    finally:
        get_settings.cache_clear()
    assert f"RERANKER=maxsim ready: {graph}" in capsys.readouterr().out
    assert graph.is_file()
    settings = make_settings(reranker="maxsim", embed_model_cache_dir=models)
    assert reranker_choice(settings) == "maxsim"

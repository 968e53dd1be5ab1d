"""The reranking stage (RERANKER): the llm reranker against the local fake OpenAI server, a tiny
cross-encoder built on the spot, and both wired into /search and the chat pipeline."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from api.runtime import Runtime
from core import metrics
from core.errors import ConfigError
from rag.knowledge import eval as rag_eval
from rag.knowledge import retrieval
from rag.knowledge.rerank import (
    CrossEncoderReranker,
    LLMReranker,
    NoReranker,
    RerankFailed,
    estimate_tokens,
    parse_order,
)
from tests.conftest import ROOT, RuntimeFactory, client_for, make_settings, signup
from tests.fakes.cross_encoder import save_cross_encoder
from tests.fakes.openai_server import FakeOpenAI, numbered_passages, ranking_reply
from tests.rag.test_answers import ingest
from tests.rag.test_chat import chat


@dataclass(frozen=True)
class Doc:
    chunk_id: uuid.UUID
    title: str
    heading_path: tuple[str, ...]
    text: str


def docs(*texts: str) -> list[Doc]:
    return [
        Doc(uuid.uuid4(), f"Page {i}", ("Section",), text) for i, text in enumerate(texts, start=1)
    ]


def ids(items: list[Doc]) -> list[uuid.UUID]:
    return [d.chunk_id for d in items]


def fallbacks(reason: str, reranker: str = "llm") -> float:
    return metrics.sample("trulybot_rerank_total", {"reranker": reranker, "outcome": reason})


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


def llm_reranker(fake: FakeOpenAI, timeout_ms: int) -> LLMReranker:
    settings = make_settings(
        openai_api_key="sk-test",
        openai_base_url=fake.base_url,
        reranker="llm",
        reranker_timeout_ms=timeout_ms,
        chat_model="rank-model",
    )
    return LLMReranker.from_settings(settings)


@pytest.fixture
def llm(fake: FakeOpenAI) -> LLMReranker:
    """The llm reranker over the fake, its budget ample: on a loaded host the fake's answer
    came after a 400 ms budget, and a test expecting the model's order got the fallback."""
    fake.reset()
    fake.hang = False
    fake.latency = 0.0
    fake.chat_reply = ranking_reply(lambda text: text.count("refund"))
    return llm_reranker(fake, 30_000)


CANDIDATES = (
    "Shipping takes a week to India and Nepal.",
    "Hardware keys carry a two-year warranty.",
    "A refund within 30 days; the refund reaches the card in 5 days.",
    "Invoices are emailed monthly.",
    "Yearly plans get a refund within 30 days.",
)


# --- the llm reranker ---------------------------------------------------------------------------


async def test_the_models_order_is_applied(llm: LLMReranker, fake: FakeOpenAI) -> None:
    items = docs(*CANDIDATES)
    ranked = await llm.rerank("Can I get my money back?", items, 3)
    assert ids(ranked.items) == ids([items[2], items[4], items[0]])
    assert (ranked.reranker, ranked.fallback, ranked.cached) == ("llm", None, False)
    request = fake.chat_requests[-1].json
    assert request["model"] == "rank-model"
    assert request["temperature"] == 0
    passages = numbered_passages(request)
    assert sorted(passages) == [1, 2, 3, 4, 5]
    assert passages[3] == f"Page 3 > Section: {CANDIDATES[2]}"
    assert "Question: Can I get my money back?" in request["messages"][-1]["content"]


async def assert_order_kept(reranker: LLMReranker, reason: str, k: int = 5) -> None:
    """``reranker`` keeps the retrieval order for ``reason`` and counts it once."""
    before = fallbacks(reason)
    items = docs(*CANDIDATES)
    ranked = await reranker.rerank("refund?", items, k)
    assert ids(ranked.items) == ids(items[:k])
    assert ranked.fallback == reason
    assert fallbacks(reason) == before + 1


def _malformed(fake: FakeOpenAI) -> None:
    fake.chat_reply = "They all look relevant to me."


def _broken(fake: FakeOpenAI) -> None:
    fake.fail_next(500)


def _hanging(fake: FakeOpenAI) -> None:
    fake.hang = True


@pytest.mark.parametrize(
    ("breakage", "reason"),
    [(_malformed, "malformed"), (_broken, "error"), (_hanging, "timeout")],
    ids=["malformed answer", "api error", "over the time budget"],
)
async def test_a_failed_rerank_keeps_the_retrieval_order(
    llm: LLMReranker, fake: FakeOpenAI, breakage: Callable[[FakeOpenAI], None], reason: str
) -> None:
    breakage(fake)
    # A short budget where the model hangs (the fake never answers: waited out, not raced).
    reranker = llm_reranker(fake, 400) if reason == "timeout" else llm
    await assert_order_kept(reranker, reason, k=4)
    assert len(fake.chat_requests) == 1  # no retry within the budget


async def test_without_a_key_the_rerank_is_skipped(fake: FakeOpenAI) -> None:
    fake.reset()
    reranker = LLMReranker.from_settings(make_settings(reranker="llm"))
    assert not reranker.available
    await assert_order_kept(reranker, "no_model")
    assert fake.chat_requests == []


async def test_a_cached_order_asks_the_model_once(llm: LLMReranker, fake: FakeOpenAI) -> None:
    items = docs(*CANDIDATES)
    first = await llm.rerank("Refund  for a YEARLY plan?", items, 5)
    again = await llm.rerank("refund for a yearly plan?", items, 5)
    assert len(fake.chat_requests) == 1
    assert again.cached
    assert not first.cached
    assert ids(again.items) == ids(first.items) == ids([items[2], items[4], *items[:2], items[3]])
    other = docs(*CANDIDATES)  # new chunks (a re-ingested page): asked afresh
    await llm.rerank("refund for a yearly plan?", other, 5)
    assert len(fake.chat_requests) == 2


async def test_the_prompt_stays_within_the_token_budget(fake: FakeOpenAI) -> None:
    fake.reset()
    fake.hang = False
    fake.chat_reply = ranking_reply(lambda text: text.count("refund"))
    reranker = LLMReranker.from_settings(
        make_settings(openai_base_url=fake.base_url, reranker="llm", reranker_max_tokens=400)
    )
    long = "Löwe 退款 refund policy text " * 200
    items = docs(*(f"{i} {long}" for i in range(24)))
    ranked = await reranker.rerank("refund " * 400, items, 5)
    assert ranked.fallback is None
    request = fake.chat_requests[-1].json
    sent = sum(estimate_tokens(m["content"]) + 8 for m in request["messages"])
    assert sent <= 400
    numbered = numbered_passages(request)
    assert 2 <= len(numbered) < 24  # fewer candidates rather than unreadable slivers
    assert request["max_tokens"] < 200


def test_parse_order_ignores_unknown_and_repeated_numbers() -> None:
    assert parse_order("3, 1, 3, 99, 0, 2", 4) == [2, 0, 1, 3]
    assert parse_order("Passage [2] is best.", 3) == [1, 0, 2]


async def test_no_reranker_keeps_the_order() -> None:
    items = docs(*CANDIDATES)
    reranker = NoReranker()
    assert reranker.pool(5) == 5
    ranked = await reranker.rerank("refund?", items, 2)
    assert ids(ranked.items) == ids(items[:2])
    assert ranked.reranker == "none"


# --- wired into /search and the chat pipeline -------------------------------------------------


@pytest.fixture
async def llm_runtime(runtime_factory: RuntimeFactory, fake: FakeOpenAI) -> AsyncIterator[Runtime]:
    fake.reset()
    fake.hang = False
    fake.latency = 0.0
    async with runtime_factory(
        openai_api_key="sk-test",
        openai_base_url=fake.base_url,
        reranker="llm",
        reranker_timeout_ms=30_000,
        retrieval_k=2,
        retrieval_min_similarity=-1.0,
        llm_max_retries=0,
    ) as runtime:
        yield runtime


PAGES = {
    "Billing": "# Invoices\n\nInvoices for the yearly plan are emailed every month.",
    "Refunds": "# Refunds\n\nThe yearly plan refund arrives within 30 days of a request.",
    "Shipping": "# Shipping\n\nHardware keys for the yearly plan ship within a week.",
}


async def test_search_returns_the_rerankers_order(llm_runtime: Runtime, fake: FakeOpenAI) -> None:
    async with client_for(llm_runtime) as client:
        owner = await signup(client, "Reranked")
        for title, text in PAGES.items():
            await ingest(client, owner, llm_runtime, title, text)
        for n, target in enumerate(PAGES):  # each page in turn first: the model's order
            fake.chat_reply = ranking_reply(lambda text, t=target: float(text.startswith(t)))
            response = await client.post(
                owner.url("/search"),
                json={"query": f"yearly plan, take {n}", "k": 2},
                headers=owner.headers,
            )
            assert response.status_code == 200, response.text
            body = response.json()
            assert (body["reranker"], body["reranker_fallback"]) == ("llm", None)
            assert body["results"][0]["title"] == target
            assert len(body["results"]) == 2
        # Each search's rerank was a model call on the workspace's account (the fake counts a
        # word as a token): the owner's usage shows it.
        usage = (await client.get(owner.url("/usage"), headers=owner.headers)).json()
        assert usage["llm_tokens"] > 0


async def test_chat_answers_from_the_rerankers_first_passage(
    llm_runtime: Runtime, fake: FakeOpenAI
) -> None:
    ranking = ranking_reply(lambda text: float(text.startswith("Shipping")))

    def reply(body: dict[str, Any]) -> str:
        if body["messages"][0]["content"].startswith("You rank search results"):
            return ranking(body)
        return "Keys ship within a week [1]."

    fake.chat_reply = reply
    async with client_for(llm_runtime) as client:
        owner = await signup(client, "Reranked chat")
        for title, text in PAGES.items():
            await ingest(client, owner, llm_runtime, title, text)
        fake.reset()
        body = (await chat(client, owner, "How fast is the yearly plan refund?")).json()
    assert body["source"] == "rag"
    assert body["citations"][0]["title"] == "Shipping"
    generation = fake.chat_requests[-1].json
    context = "\n".join(m["content"] for m in generation["messages"] if m["role"] != "system")
    assert context.count("<source n=") == 2  # RETRIEVAL_K of the reranked candidates
    assert context.index("ship within a week") < context.index('<source n="2"')
    assert len(fake.chat_requests) == 2  # one rerank, one generation


@pytest.mark.parametrize("ranking_usable", [True, False])
async def test_the_rerankers_tokens_are_metered_with_the_answers(
    llm_runtime: Runtime, fake: FakeOpenAI, ranking_usable: bool
) -> None:
    """The rerank is a second model call per retrieval turn, often longer than the answer's:
    its tokens count in the workspace's monthly and daily usage (which the daily cap reads),
    also when its answer was unusable. Before, only the answer's were metered."""
    ranking = ranking_reply(lambda text: float(text.startswith("Refunds")))

    def reply(body: dict[str, Any]) -> str:
        if body["messages"][0]["content"].startswith("You rank search results"):
            return ranking(body) if ranking_usable else "I cannot rank these."
        return "The refund arrives within 30 days [1]."

    fake.chat_reply = reply
    fake.usage = (1000, 7)  # the same for every call: the rerank's and the answer's
    try:
        async with client_for(llm_runtime) as client:
            owner = await signup(client, f"Metered rerank {ranking_usable}")
            for title, text in PAGES.items():
                await ingest(client, owner, llm_runtime, title, text)
            fake.reset()
            body = (await chat(client, owner, "How fast is the yearly plan refund?")).json()
            assert body["source"] == "rag"
            assert len(fake.chat_requests) == 2  # one rerank, one generation
            usage = (await client.get(owner.url("/usage"), headers=owner.headers)).json()
    finally:
        fake.usage = None
    assert usage["llm_tokens"] == 2 * (1000 + 7)


async def spent_owner(client: Any, runtime: Runtime, fake: FakeOpenAI, tokens: int) -> Any:
    """An owner of the PAGES whose workspace spent ``tokens`` LLM tokens today; the fake's
    requests forgotten."""
    from workspaces import usage

    owner = await signup(client, f"Spent {tokens}")
    for title, text in PAGES.items():
        await ingest(client, owner, runtime, title, text)
    ws = uuid.UUID(owner.workspace_id)
    async with runtime.db.transaction(workspace_id=ws) as session:
        await usage.record_llm_tokens(session, ws, tokens)
    fake.reset()
    return owner


async def search(client: Any, owner: Any, query: str) -> Any:
    return await client.post(
        owner.url("/search"), json={"query": query, "k": 2}, headers=owner.headers
    )


async def _daily_tokens(client: Any, owner: Any) -> int:
    usage = (await client.get(owner.url("/usage"), headers=owner.headers)).json()
    return int(usage["metrics"]["daily_llm_tokens"]["used"])


async def test_search_past_the_daily_token_cap_calls_no_model(
    llm_runtime: Runtime, fake: FakeOpenAI
) -> None:
    """As chat does, a search skips the LLM reranker once the daily token cap is reached, and
    still answers (a reviewer's finding: 20 searches past the cap made 20 model calls and put
    the day at 90,200 of 50,000)."""
    fake.chat_reply = ranking_reply(lambda text: float(text.startswith("Refunds")))
    fake.usage = (2000, 10)
    try:
        async with client_for(llm_runtime) as client:
            owner = await spent_owner(client, llm_runtime, fake, 50_000)  # the free plan's cap
            for n in range(5):
                response = await search(client, owner, f"yearly plan question {n}")
                assert response.status_code == 200, response.text
                body = response.json()
                assert body["reranker_fallback"] == "daily_token_cap"
                assert len(body["results"]) == 2  # the retrieval order, still an answer
            assert fake.chat_requests == []
            assert await _daily_tokens(client, owner) == 50_000
    finally:
        fake.usage = None


async def test_searches_together_under_the_cap_do_not_all_call_the_model(
    llm_runtime: Runtime, fake: FakeOpenAI
) -> None:
    """Each search reserves its rerank's most tokens before the model runs: at 49,000 of
    50,000 one of six searches sent together reranks, and the day ends at what it spent."""
    fake.chat_reply = ranking_reply(lambda text: float(text.startswith("Refunds")))
    fake.usage = (2000, 10)
    try:
        async with client_for(llm_runtime) as client:
            owner = await spent_owner(client, llm_runtime, fake, 49_000)
            responses = await asyncio.gather(
                *(search(client, owner, f"yearly plan together {n}") for n in range(6))
            )
            assert [r.status_code for r in responses] == [200] * 6
            fallbacks = sorted(str(r.json()["reranker_fallback"]) for r in responses)
            assert fallbacks == ["None"] + ["daily_token_cap"] * 5
            assert len(fake.chat_requests) == 1
            assert await _daily_tokens(client, owner) == 49_000 + 2010  # settled to the spend
    finally:
        fake.usage = None


async def test_the_eval_reports_each_mode_with_and_without_the_reranker(
    llm_runtime: Runtime, fake: FakeOpenAI
) -> None:
    async with client_for(llm_runtime) as client:
        owner = await signup(client, "Reranked eval")
        for title, text in PAGES.items():
            await ingest(client, owner, llm_runtime, title, text)
    questions = [
        rag_eval.Question(f"q{n}", f"yearly plan question {n}", [target])
        for n, target in enumerate(PAGES)
    ]
    wanted = {q.question: q.expected[0] for q in questions}

    def reply(body: dict[str, Any]) -> str:  # the expected page first, as a perfect reranker
        question = body["messages"][-1]["content"].split("\n")[0].removeprefix("Question: ")
        return ranking_reply(lambda text: float(text.startswith(wanted[question])))(body)

    fake.chat_reply = reply
    results = await rag_eval.evaluate(
        llm_runtime.db,
        llm_runtime.embedder,
        uuid.UUID(owner.workspace_id),
        questions,
        ["vector", "fulltext"],
        llm_runtime.reranker,
        weights=retrieval.Weights(),
    )
    by_mode = {r.mode: r for r in results}
    assert list(by_mode) == ["vector", "vector+llm", "fulltext", "fulltext+llm"]
    assert by_mode["vector+llm"].ranks == [1, 1, 1]
    assert by_mode["vector"].ranks != [1, 1, 1]  # every page first cannot be retrieval's order
    line = rag_eval.reranker_line(llm_runtime.reranker, results)
    assert line.startswith("reranker: llm")
    assert "never" in line
    assert rag_eval.reranker_line(NoReranker(), results) == rag_eval.NO_RERANKER


# --- the cross-encoder ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_cross_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random 1-layer BERT sequence classifier with MiniLM's tokenizer: no download."""
    return save_cross_encoder(tmp_path_factory.mktemp("cross-encoder"))


async def test_a_cross_encoder_orders_by_its_scores(
    runtime_factory: RuntimeFactory, tiny_cross_encoder: Path
) -> None:
    from sentence_transformers import CrossEncoder

    query = "How long does a refund take?"
    items = docs(*CANDIDATES)
    reference = CrossEncoder(str(tiny_cross_encoder), device="cpu")
    scores = reference.predict(
        [(query, f"Page {i} > Section\n{t}") for i, t in enumerate(CANDIDATES, 1)]
    )
    expected = sorted(range(len(items)), key=lambda i: -float(scores[i]))
    assert expected != list(range(len(items)))  # the test could fail

    async with runtime_factory(reranker=str(tiny_cross_encoder), reranker_candidates=5) as rt:
        assert isinstance(rt.reranker, CrossEncoderReranker)
        ranked = await rt.reranker.rerank(query, items, 5)
        with pytest.raises(RerankFailed, match="busy"):  # its caller gave up: not computed
            rt.reranker.scores(query, items, deadline=time.monotonic() - 1)
    assert ids(ranked.items) == ids([items[i] for i in expected])
    assert (ranked.reranker, ranked.fallback) == ("cross-encoder", None)


async def test_a_missing_cross_encoder_directory_refuses_to_start(
    runtime_factory: RuntimeFactory, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match="no such directory"):
        async with runtime_factory(reranker=str(tmp_path / "nowhere")):
            pass
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="does not load as a sentence-transformers CrossEncoder"):
        async with runtime_factory(reranker=str(tmp_path / "empty")):
            pass


def test_serve_refuses_a_missing_cross_encoder_directory_before_starting(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RERANKER", "DATABASE_"))}
    done = subprocess.run(
        [sys.executable, "-m", "api.cli", "serve", "--port", "1"],
        cwd=ROOT,
        env={**env, "RERANKER": str(missing), "DATA_DIR": str(tmp_path / "data")},
        capture_output=True,
        text=True,
        timeout=120,  # a guard against hanging, not a timing assertion
        check=False,
    )
    assert done.returncode == 1
    assert f"RERANKER={missing}: no such directory" in done.stderr
    assert "listening" not in done.stdout
    assert not (tmp_path / "data").exists()  # nothing was started


async def test_search_without_a_reranker_says_so(runtime_factory: RuntimeFactory) -> None:
    async with runtime_factory() as runtime, client_for(runtime) as client:
        owner = await signup(client, "Plain")
        await ingest(client, owner, runtime, "Refunds", PAGES["Refunds"])
        response = await client.post(
            owner.url("/search"), json={"query": "refund", "k": 3}, headers=owner.headers
        )
    body = response.json()
    assert (body["reranker"], body["reranker_fallback"]) == ("none", None)
    assert [r["title"] for r in body["results"]] == ["Refunds"]

"""The model scheduler: micro-batched queries, documents in slices behind them, failures kept to
their own batch, draining on close; and the query-embedding cache. Ordering is checked by
counting model calls, never by timing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import numpy as np
import pytest

from core.config import Settings
from rag.knowledge.batching import Batching, ModelScheduler, normalize_query
from rag.knowledge.embeddings import (
    HashEmbedder,
    LocalEmbedder,
    OpenAIEmbedder,
    batching_from,
    build_embedder,
)
from tests.fakes.openai_server import FakeOpenAI, hash_embedding

# A guard against a hang, never a measurement: every wait below ends at once when the code works.
HANG = 30.0


class GatedModel:
    """A fake model: records each call's texts and blocks it until ``release`` (one call at a
    time); row i of a result is the hashing embedding of text i; a text containing ``boom``
    fails its whole call."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.started = asyncio.Event()
        self._gates: list[asyncio.Event] = []
        self.hashing = HashEmbedder(dimensions=32)
        self.blocking = True

    async def encode(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        gate = asyncio.Event()
        self._gates.append(gate)
        self.started.set()
        if self.blocking:
            await gate.wait()
        if any("boom" in t for t in texts):
            raise RuntimeError("model exploded")
        return self.hashing.embed_sync(texts)

    async def running(self, calls: int) -> None:
        """Wait until ``calls`` model calls have started."""
        async with asyncio.timeout(HANG):
            while len(self.calls) < calls:
                self.started.clear()
                await self.started.wait()

    def release(self) -> None:
        for gate in self._gates:
            gate.set()

    def vector(self, text: str) -> np.ndarray:
        return self.hashing.embed_sync([text])[0]


async def _settle() -> None:
    """Let every ready task run until it blocks (a few loop turns)."""
    for _ in range(5):
        await asyncio.sleep(0)


async def _model_busy_with(
    scheduler: ModelScheduler, model: GatedModel, text: str
) -> asyncio.Task[np.ndarray]:
    """A query that is in the model (blocked there) when this returns."""
    task = asyncio.create_task(scheduler.query(text))
    await model.running(len(model.calls) + 1)
    return task


def _scheduler(model: GatedModel, **batching: float) -> ModelScheduler:
    options: dict[str, float] = {
        "wait_ms": 0,
        "slice_size": 4,
        "max_batch": 64,
        "slice_chars": 1200,
    }
    options.update(batching)
    return ModelScheduler(
        model.encode,
        batching=Batching(
            max_batch=int(options["max_batch"]),
            wait_ms=options["wait_ms"],
            slice_size=int(options["slice_size"]),
            slice_chars=int(options["slice_chars"]),
        ),
    )


async def test_queries_waiting_for_the_model_are_encoded_together_each_gets_its_own() -> None:
    model = GatedModel()
    scheduler = _scheduler(model)
    first = await _model_busy_with(scheduler, model, "the first question")
    texts = [f"question {i} about topic {i * 7}" for i in range(12)]
    rest = [asyncio.create_task(scheduler.query(t)) for t in texts]
    await _settle()
    model.blocking = False
    model.release()
    async with asyncio.timeout(HANG):
        results = await asyncio.gather(first, *rest)
    assert model.calls == [["the first question"], texts]
    for text, vector in zip(["the first question", *texts], results, strict=True):
        np.testing.assert_array_equal(vector, model.vector(text))
    assert scheduler.stats.largest_batch == 12
    await scheduler.aclose()


async def test_a_failing_batch_fails_only_its_own_callers() -> None:
    model = GatedModel()
    scheduler = _scheduler(model)
    first = await _model_busy_with(scheduler, model, "fine alone")
    doomed = [asyncio.create_task(scheduler.query(t)) for t in ("boom question", "bystander")]
    await _settle()
    model.blocking = False
    model.release()
    async with asyncio.timeout(HANG):
        np.testing.assert_array_equal(await first, model.vector("fine alone"))
        for task in doomed:
            with pytest.raises(RuntimeError, match="model exploded"):
                await task
    async with asyncio.timeout(HANG):
        after = await scheduler.query("asked after the failure")
    np.testing.assert_array_equal(after, model.vector("asked after the failure"))
    assert model.calls == [
        ["fine alone"],
        ["boom question", "bystander"],
        ["asked after the failure"],
    ]
    await scheduler.aclose()


async def test_a_document_job_cannot_starve_queries() -> None:
    """A 32-chunk document batch is 8 slices of 4; queries asked while the first slice runs are
    encoded right after it, before the other 7."""
    model = GatedModel()
    scheduler = _scheduler(model, slice_size=4)
    chunks = [f"chunk {i} of a long manual" for i in range(32)]
    job = asyncio.create_task(scheduler.documents(chunks))
    await model.running(1)
    questions = [asyncio.create_task(scheduler.query(f"visitor question {i}")) for i in range(3)]
    await _settle()
    model.blocking = False
    model.release()
    async with asyncio.timeout(HANG):
        vectors = await job
        answers = await asyncio.gather(*questions)
    kinds = ["query" if c[0].startswith("visitor") else "document" for c in model.calls]
    assert kinds == ["document", "query", *["document"] * 7]
    assert [len(c) for c in model.calls] == [4, 3, *[4] * 7]
    assert scheduler.stats.slices == 8
    np.testing.assert_array_equal(vectors, model.hashing.embed_sync(chunks))
    for i, vector in enumerate(answers):
        np.testing.assert_array_equal(vector, model.vector(f"visitor question {i}"))
    await scheduler.aclose()


def test_slices_hold_short_chunks_together_and_long_chunks_alone() -> None:
    """At most four texts and 1,200 characters a slice; a text longer than that alone. The order
    is kept, and every text is in exactly one slice."""
    batching = Batching(slice_size=4, slice_chars=1200)
    short, middle, long = "s" * 100, "m" * 500, "l" * 1100
    texts = [short] * 6 + [middle] * 3 + [long, "x" * 5000, short]
    slices = batching.slices(texts)
    assert [[t[0] for t in part] for part in slices] == [
        ["s"] * 4,  # four short texts share a call (400 characters)
        ["s", "s", "m", "m"],  # 1,200: full by both counts
        ["m"],  # 500: the long text next would pass 1,200
        ["l"],
        ["x"],  # over the budget on its own: alone, not cut
        ["s"],
    ]
    assert [t for part in slices for t in part] == texts
    assert all(len(part) <= 4 for part in slices)
    assert all(sum(map(len, part)) <= 1200 or len(part) == 1 for part in slices)


async def test_full_size_chunks_go_to_the_model_one_at_a_time_behind_queries() -> None:
    """Chunks of a full window (about 1,000 characters each) are slices of one: a question asked
    while the first runs is encoded right after it, not after four."""
    model = GatedModel()
    scheduler = _scheduler(model)  # the defaults: 4 texts, 1,200 characters
    chunks = [f"chunk {i} " + "of a long manual page " * 48 for i in range(6)]
    assert all(1000 < len(c) <= 1200 for c in chunks)
    job = asyncio.create_task(scheduler.documents(chunks))
    await model.running(1)
    question = asyncio.create_task(scheduler.query("visitor question"))
    await _settle()
    model.blocking = False
    model.release()
    async with asyncio.timeout(HANG):
        vectors = await job
        await question
    assert [len(c) for c in model.calls] == [1, 1, 1, 1, 1, 1, 1]
    assert model.calls[1] == ["visitor question"]
    np.testing.assert_array_equal(vectors, model.hashing.embed_sync(chunks))
    await scheduler.aclose()


async def test_queries_keep_overtaking_a_document_job_one_slice_at_a_time() -> None:
    """Each time a query arrives while a slice runs, it goes next: two documents jobs and a
    stream of queries interleave slice, query, slice, query..."""
    model = GatedModel()
    scheduler = _scheduler(model, slice_size=2)
    jobs = [
        asyncio.create_task(scheduler.documents([f"doc {d} chunk {i}" for i in range(6)]))
        for d in range(2)
    ]
    questions = []
    for i in range(4):
        await model.running(2 * i + 1)  # a slice is running
        questions.append(asyncio.create_task(scheduler.query(f"visitor {i}")))
        await _settle()
        model.release()
        await model.running(2 * i + 2)  # the query went next
        model.release()
    model.blocking = False
    model.release()
    async with asyncio.timeout(HANG):
        await asyncio.gather(*jobs, *questions)
    kinds = ["q" if c[0].startswith("visitor") else "d" for c in model.calls]
    assert kinds == ["d", "q", "d", "q", "d", "q", "d", "q", "d", "d"]
    assert scheduler.stats.slices == 6
    await scheduler.aclose()


async def test_document_jobs_take_turns_a_small_one_is_not_held_behind_a_large_one() -> None:
    """One workspace's large upload queued first (8 slices), then another's FAQ (one slice)
    and a small upload (two): first in first out, the FAQ waited for the whole upload (minutes
    for a 2 MB document; an exploratory pass timed an FAQ's save at 5-7 s, six at once up to
    26 s). In turns, each job's next slice after one of every other job's."""
    model = GatedModel()
    scheduler = _scheduler(model, slice_size=1)
    large = asyncio.create_task(scheduler.documents([f"manual {i}" for i in range(8)]))
    await model.running(1)  # the large upload's first slice is in the model
    faq = asyncio.create_task(scheduler.documents(["faq phrasing"]))
    await _settle()
    small = asyncio.create_task(scheduler.documents(["note 0", "note 1"]))
    await _settle()
    model.blocking = False
    model.release()
    async with asyncio.timeout(HANG):
        vectors = await asyncio.gather(large, faq, small)
    order = [call[0] for call in model.calls]
    assert order[:6] == ["manual 0", "manual 1", "faq phrasing", "note 0", "manual 2", "note 1"]
    assert order[6:] == [f"manual {i}" for i in range(3, 8)]
    np.testing.assert_array_equal(vectors[1], model.hashing.embed_sync(["faq phrasing"]))
    np.testing.assert_array_equal(vectors[2], model.hashing.embed_sync(["note 0", "note 1"]))
    assert scheduler.pending == 0
    await scheduler.aclose()


async def test_a_failing_slice_fails_its_document_job_only() -> None:
    model = GatedModel()
    model.blocking = False
    scheduler = _scheduler(model, slice_size=2)
    async with asyncio.timeout(HANG):
        with pytest.raises(RuntimeError, match="model exploded"):
            await scheduler.documents(["ok", "fine", "boom", "never"] + ["skipped"] * 4)
        good = await scheduler.documents(["a", "b", "c"])
    # the slices after the failed one were not encoded
    assert model.calls == [["ok", "fine"], ["boom", "never"], ["a", "b"], ["c"]]
    np.testing.assert_array_equal(good, model.hashing.embed_sync(["a", "b", "c"]))
    await scheduler.aclose()


async def test_close_drains_the_queue_then_stops_and_a_later_call_starts_again() -> None:
    model = GatedModel()
    scheduler = _scheduler(model, slice_size=3)
    first = await _model_busy_with(scheduler, model, "in the model")
    queued = [asyncio.create_task(scheduler.query(f"queued {i}")) for i in range(5)]
    job = asyncio.create_task(scheduler.documents([f"d{i}" for i in range(7)]))
    await _settle()
    closing = asyncio.create_task(scheduler.aclose())
    await _settle()
    assert not closing.done()  # waits for the work in hand
    model.blocking = False
    model.release()
    async with asyncio.timeout(HANG):
        await closing
    # everything queued before the close was answered
    for i, task in enumerate(queued):
        np.testing.assert_array_equal(task.result(), model.vector(f"queued {i}"))
    assert first.done()
    assert job.done()
    assert job.result().shape == (7, 32)
    assert scheduler.pending == 0
    async with asyncio.timeout(HANG):
        again = await scheduler.query("after the close")
    np.testing.assert_array_equal(again, model.vector("after the close"))
    await scheduler.aclose()


async def test_a_caller_that_went_away_is_not_encoded() -> None:
    model = GatedModel()
    scheduler = _scheduler(model)
    first = await _model_busy_with(scheduler, model, "first")
    gone = asyncio.create_task(scheduler.query("abandoned"))
    kept = asyncio.create_task(scheduler.query("kept"))
    await _settle()
    gone.cancel()
    model.blocking = False
    model.release()
    async with asyncio.timeout(HANG):
        await asyncio.gather(first, kept)
    assert model.calls == [["first"], ["kept"]]
    await scheduler.aclose()


async def test_a_lone_query_is_not_kept_waiting_for_company() -> None:
    """A window of 60 s: the very first query still goes at once (no concurrency seen yet)."""
    model = GatedModel()
    model.blocking = False
    scheduler = _scheduler(model, wait_ms=60_000)
    async with asyncio.timeout(HANG):
        vector = await scheduler.query("alone")
    np.testing.assert_array_equal(vector, model.vector("alone"))
    await scheduler.aclose()


async def test_under_concurrency_the_window_closes_when_the_batch_is_full() -> None:
    """After a concurrent batch, the scheduler lingers (60 s window) for more queries, and goes
    as soon as max_batch of them are waiting."""
    model = GatedModel()
    model.blocking = False
    scheduler = _scheduler(model, wait_ms=60_000, max_batch=3)
    async with asyncio.timeout(HANG):
        await asyncio.gather(*(scheduler.query(f"warm {i}") for i in range(2)))
        assert model.calls == [["warm 0", "warm 1"]]
        first = asyncio.create_task(scheduler.query("a"))
        await _settle()
        assert len(model.calls) == 1  # lingering for company
        rest = [asyncio.create_task(scheduler.query(t)) for t in ("b", "c")]
        await asyncio.gather(first, *rest)
    assert model.calls[1] == ["a", "b", "c"]
    await scheduler.aclose()


# --------------------------------------------------------------------------- the real model


@pytest.fixture(scope="module")
async def local() -> AsyncIterator[LocalEmbedder]:
    embedder = LocalEmbedder(batch_size=32, batching=Batching(wait_ms=2, slice_size=4))
    await embedder.embed_query("warm up")  # loads the model once for this module
    yield embedder
    await embedder.aclose()


async def test_local_batched_queries_equal_single_encodings(local: LocalEmbedder) -> None:
    texts = [
        "How much does the Family plan cost?",
        "Can I get a refund on a yearly plan if I cancel early?",
        "Linux",
        "What happens to my backups when I lose my encryption key and cannot log in?",
        *[
            f"Question {i}: is topic {i * 13} covered by the business plan for {i} users?"
            for i in range(20)
        ],
    ]
    scheduler = local.scheduler
    assert scheduler is not None
    before = scheduler.stats.query_batches
    batched = await asyncio.gather(*(local.embed_query(t) for t in texts))
    batches = scheduler.stats.query_batches - before
    assert batches < len(texts) / 4  # they were encoded together
    assert scheduler.stats.largest_batch >= len(texts) // 2
    for text, vector in zip(texts, batched, strict=True):
        alone = (await asyncio.to_thread(local._encode, [text]))[0]
        assert vector.shape == (384,)
        np.testing.assert_allclose(vector, alone, atol=2e-5)
    # and the batch did not blur different questions together
    assert float(batched[0] @ batched[2]) < 0.9


async def test_local_documents_in_slices_equal_one_batch(local: LocalEmbedder) -> None:
    texts = [
        f"Paragraph {i}: the backup agent uploads changed blocks every {i} minutes."
        for i in range(10)
    ]
    scheduler = local.scheduler
    assert scheduler is not None
    before = scheduler.stats.slices
    sliced = await local.embed_documents(texts)
    assert scheduler.stats.slices - before == 3  # 4 + 4 + 2
    whole = await asyncio.to_thread(local._encode, texts)
    np.testing.assert_allclose(sliced, whole, atol=2e-5)


# --------------------------------------------------------------------------- OpenAI


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def openai_fake(fake: FakeOpenAI) -> Iterator[FakeOpenAI]:
    fake.reset()
    fake.latency = 0.0
    yield fake
    fake.reset()


async def test_openai_concurrent_queries_share_one_request(openai_fake: FakeOpenAI) -> None:
    embedder = OpenAIEmbedder(
        api_key="test-key",
        base_url=openai_fake.base_url,
        dimensions=64,
        concurrency=1,
        batching=Batching(wait_ms=0),
    )
    texts = [f"visitor question number {i}" for i in range(20)]
    vectors = await asyncio.gather(*(embedder.embed_query(t) for t in texts))
    sizes = [len(r.json["input"]) for r in openai_fake.embedding_requests]
    assert sum(sizes) == 20
    assert len(sizes) == 1  # all twenty were waiting when the worker first looked
    for text, vector in zip(texts, vectors, strict=True):
        np.testing.assert_allclose(vector, hash_embedding(text, 64), atol=1e-5)
    await embedder.aclose()


async def test_openai_without_batching_sends_one_request_per_query(openai_fake: FakeOpenAI) -> None:
    embedder = OpenAIEmbedder(api_key="test-key", base_url=openai_fake.base_url, dimensions=64)
    await asyncio.gather(*(embedder.embed_query(f"q {i}") for i in range(5)))
    assert [len(r.json["input"]) for r in openai_fake.embedding_requests] == [1] * 5


# --------------------------------------------------------------------------- query cache


async def test_a_repeated_question_is_not_encoded_again(openai_fake: FakeOpenAI) -> None:
    embedder = OpenAIEmbedder(
        api_key="test-key",
        base_url=openai_fake.base_url,
        dimensions=64,
        batching=Batching(wait_ms=0),
        query_cache_size=2,
    )
    first = await embedder.embed_query("How much is the Family plan?")
    again = await embedder.embed_query("  how much is   the FAMILY plan? ")
    assert len(openai_fake.embedding_requests) == 1
    np.testing.assert_array_equal(first, again)
    # read-only: no caller can change the cached vector
    with pytest.raises(ValueError, match="read-only"):
        again[0] = 5.0
    # bounded: two other questions push the first out, and it costs a request again
    await embedder.embed_query("Does it work on Linux?")
    await embedder.embed_query("Can I get a refund?")
    await embedder.embed_query("How much is the Family plan?")
    assert len(openai_fake.embedding_requests) == 4
    await embedder.aclose()


async def test_the_query_cache_is_per_model(openai_fake: FakeOpenAI) -> None:
    small = OpenAIEmbedder(
        api_key="k", base_url=openai_fake.base_url, dimensions=64, query_cache_size=8
    )
    other = OpenAIEmbedder(
        api_key="k", base_url=openai_fake.base_url, dimensions=32, query_cache_size=8
    )
    a = await small.embed_query("same words")
    b = await other.embed_query("same words")
    assert (a.shape, b.shape) == ((64,), (32,))
    assert len(openai_fake.embedding_requests) == 2
    assert normalize_query(" Same\tWORDS ") == "same words"


# --------------------------------------------------------------------------- settings


def test_batching_follows_the_settings() -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        embed_batch_max=16,
        embed_batch_wait_ms=3,
        embed_document_slice=6,
        embed_document_slice_chars=900,
    )
    assert batching_from(settings) == Batching(
        max_batch=16, wait_ms=3, slice_size=6, slice_chars=900
    )
    local = build_embedder(settings)
    assert isinstance(local, LocalEmbedder)
    assert local.scheduler is not None
    assert local.scheduler.batching.slice_size == 6
    assert local.threads == 1  # torch's threads: one, unless EMBED_THREADS says otherwise
    off = build_embedder(Settings(_env_file=None, embed_batching=False))  # type: ignore[call-arg]
    assert isinstance(off, LocalEmbedder)
    assert off.scheduler is None

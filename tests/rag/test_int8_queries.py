"""Questions through the int8 graph (EMBED_QUERY_PRECISION=int8): quantized once beside the
full-precision graph, checked against it as it loads, each question encoded alone so its vector
does not depend on the questions batched with it, documents untouched, and fp32 again where the
check fails."""

from __future__ import annotations

import argparse
import asyncio
import logging
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from api.commands import warm_model
from core.config import get_settings
from rag.knowledge import onnx_minilm
from rag.knowledge.embeddings import LocalEmbedder, build_embedder
from tests.conftest import make_settings, seed_onnx_graph

QUESTIONS = [
    "how do I reset my password",
    "Can I pay by bank transfer instead of a card?",
    "what happens to my data when I delete the workspace",
    "Wie kann ich mein Abonnement kündigen? 🙂",
    "pricing",
    "does the widget work on a site behind a login, and can it greet returning visitors by name",
]
PASSAGES = [
    "Refunds are issued within 14 days of a purchase on annual plans. " * 8,
    "The widget is one script tag; it loads after the page and never blocks it.",
]


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray((a * b).sum(axis=1))


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory, onnx_graph: Path) -> Path:
    """A model cache of this module's own, holding the exported graph and no int8 one yet."""
    return seed_onnx_graph(onnx_graph, tmp_path_factory.mktemp("models"))


def _not_exported() -> None:
    raise AssertionError("the graph was exported again")


@pytest.fixture(scope="module")
def full(cache_dir: Path) -> onnx_minilm.OnnxMiniLM:
    return onnx_minilm.load(cache_dir, 1, _not_exported)


@pytest.fixture(scope="module")
def int8(full: onnx_minilm.OnnxMiniLM) -> onnx_minilm.OnnxMiniLM:
    """The int8 encoder; the tests that need it skip on a CPU where int8 fails the check (the
    product keeps fp32 questions there, which the fallback tests cover)."""
    try:
        return onnx_minilm.load_quantized(full, threads=1)
    except RuntimeError as exc:
        pytest.skip(f"int8 kernels on this CPU fail the check: {exc}")


def test_the_int8_graph_is_made_once_beside_the_full_one_and_agrees_with_it(
    full: onnx_minilm.OnnxMiniLM, int8: onnx_minilm.OnnxMiniLM
) -> None:
    assert int8.graph == onnx_minilm.quantized_path(full.graph)
    assert int8.graph.parent == full.graph.parent
    # Every weight matrix of the six layers (query, key, value, output, two feed-forward) runs
    # as an int8 product; the word embeddings stay float32, so the file is about 65 %.
    import onnx

    graph = onnx.load(str(int8.graph), load_external_data=False).graph
    assert Counter(node.op_type for node in graph.node)["MatMulInteger"] == 6 * 6
    assert int8.graph.stat().st_size < 0.7 * full.graph.stat().st_size
    assert onnx_minilm.load_quantized(full, threads=1) is int8  # one session per process
    want = full.encode(QUESTIONS)
    got = np.vstack([int8.encode([q]) for q in QUESTIONS])
    cosines = _cosines(want, got)
    assert cosines.min() >= onnx_minilm.QUANTIZED_MIN_COSINE
    assert np.abs(want - got).max() > 1e-4  # not the float32 graph under another name
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


def test_a_cpu_where_int8_loses_too_much_is_refused(full: onnx_minilm.OnnxMiniLM) -> None:
    # A least cosine above 1 cannot be met: the check refuses the int8 graph, as on a CPU whose
    # int8 kernels saturate.
    with pytest.raises(RuntimeError, match="agree with full precision only to cosine"):
        onnx_minilm.load_quantized(full, threads=2, min_cosine=1.01)
    assert onnx_minilm.quantized_path(full.graph).exists()  # kept for a CPU that runs it well


async def test_int8_questions_through_the_batcher_each_get_their_vector_alone(
    cache_dir: Path, full: onnx_minilm.OnnxMiniLM, int8: onnx_minilm.OnnxMiniLM
) -> None:
    settings = make_settings(
        embedding_provider="local",
        embed_threads=1,
        embed_model_cache_dir=cache_dir,
        embed_query_precision="int8",
        embed_query_cache_size=0,
    )
    embedder = build_embedder(settings)
    assert isinstance(embedder, LocalEmbedder)
    assert embedder.load() == "onnx"
    assert embedder.query_precision_used == "int8"
    try:
        alone = np.vstack([int8.encode([q]) for q in QUESTIONS])
        together = await asyncio.gather(*(embedder.embed_query(q) for q in QUESTIONS))
        scheduler = embedder.scheduler
        assert scheduler is not None
        assert scheduler.stats.query_batches < len(QUESTIONS)  # some really were batched
        np.testing.assert_allclose(np.vstack(together), alone, atol=1e-6)
        # Documents stay in full precision: what is stored is never int8's.
        np.testing.assert_allclose(
            await embedder.embed_documents(PASSAGES), full.encode(PASSAGES), atol=1e-6
        )
    finally:
        await embedder.aclose()


def test_the_batch_changes_an_int8_vector_so_questions_are_encoded_alone(
    full: onnx_minilm.OnnxMiniLM, int8: onnx_minilm.OnnxMiniLM
) -> None:
    """Why the embedder encodes int8 questions one at a time: in one padded batch, a question's
    int8 vector moves with its companions (one activation scale per batch); float32's does not."""
    alone = np.vstack([int8.encode([q]) for q in QUESTIONS])
    batched = int8.encode(QUESTIONS, batch_size=len(QUESTIONS))
    assert np.abs(alone - batched).max() > 1e-3
    np.testing.assert_allclose(
        np.vstack([full.encode([q]) for q in QUESTIONS]), full.encode(QUESTIONS), atol=1e-6
    )


async def test_an_embedder_whose_int8_check_fails_keeps_fp32_questions(
    cache_dir: Path,
    full: onnx_minilm.OnnxMiniLM,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A CPU where int8 loses too much (here: a least cosine nothing can meet): the embedder
    logs why and encodes questions in fp32, and the server goes on."""
    monkeypatch.setattr(onnx_minilm, "QUANTIZED_MIN_COSINE", 1.01)
    embedder = LocalEmbedder(
        threads=3,  # a session of its own, not one another test loaded and checked
        model_cache_dir=cache_dir,
        query_precision="int8",
        query_cache_size=0,
    )
    with caplog.at_level(logging.WARNING):
        assert embedder.load() == "onnx"
    assert embedder.query_precision_used == "fp32"
    assert "EMBED_QUERY_PRECISION=int8 unavailable" in caplog.text
    try:
        vector = await embedder.embed_query(QUESTIONS[0])
        np.testing.assert_allclose(vector, full.encode(QUESTIONS[:1])[0], atol=1e-6)
    finally:
        await embedder.aclose()


def test_a_vector_that_is_not_finite_fails_the_check(full: onnx_minilm.OnnxMiniLM) -> None:
    class Broken:
        def encode(self, texts: list[str]) -> np.ndarray:
            return np.full((len(texts), 384), np.nan, dtype=np.float32)

    assert onnx_minilm.agreement(full, Broken()) == float("-inf")  # type: ignore[arg-type]


def test_torch_keeps_questions_in_full_precision_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    embedder = LocalEmbedder(threads=1, runtime="torch", query_precision="int8")
    with caplog.at_level(logging.WARNING):
        assert embedder.load() == "torch"
    assert embedder.query_precision_used == "fp32"
    assert "EMBED_QUERY_PRECISION=int8 needs the onnx runtime" in caplog.text


def test_an_unknown_precision_is_refused() -> None:
    with pytest.raises(ValueError, match="query precision"):
        LocalEmbedder(query_precision="int4")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="embed_query_precision"):
        make_settings(embed_query_precision="int4")


def test_warm_model_makes_the_int8_graph_when_asked(
    full: onnx_minilm.OnnxMiniLM,
    int8: onnx_minilm.OnnxMiniLM,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A build step (`trulybot warm-model`) with EMBED_QUERY_PRECISION=int8 leaves the int8 graph
    beside the exported one, so a read-only deployment ships both; without it, none is made.
    The command runs in this process, settings read from the environment as the CLI reads them:
    two interpreters that each import the app and onnxruntime's quantizer cost more than the
    quantizing itself."""
    shutil.copy(full.graph, tmp_path / full.graph.name)  # exported already: no torch needed
    monkeypatch.chdir(tmp_path)  # no .env of the checkout
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("EMBED_MODEL_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("EMBEDDING_PROVIDER", "local")
    target = onnx_minilm.quantized_path(tmp_path / full.graph.name)
    for precision, made in (("fp32", False), ("int8", True)):
        monkeypatch.setenv("EMBED_QUERY_PRECISION", precision)
        get_settings.cache_clear()
        try:
            assert warm_model._cmd(argparse.Namespace(command="warm-model")) == 0
        finally:
            get_settings.cache_clear()
        out = capsys.readouterr().out
        assert "local embedder ready: onnx" in out
        assert ("int8 questions" in out) is made
        assert target.exists() is made

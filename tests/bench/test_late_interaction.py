"""Late interaction's scoring and reranking (bench.late_interaction) on hand-made token states."""

from __future__ import annotations

import numpy as np

from bench import late_interaction as li


def _unit(*rows: list[float]) -> np.ndarray:
    a = np.asarray(rows, dtype=np.float32)
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def test_maxsim_averages_each_question_token_best_match_and_skips_special_tokens() -> None:
    question = _unit([1, 0, 0], [0, 1, 0])
    # [CLS] matches the second question token exactly; it must not count.
    ids = np.asarray([101, 7, 8, 102], dtype=np.int32)
    states = _unit([0, 1, 0], [1, 0, 0], [0.6, 0.8, 0], [0, 1, 0]).astype(np.float16)
    assert abs(li.maxsim(question, (ids, states)) - (1.0 + 0.8) / 2) < 1e-3
    assert li.maxsim(question[:0], (ids, states)) == 0.0


def test_content_kind_drops_punctuation_and_stop_words_from_the_question() -> None:
    pieces = ["[PAD]"] * 200
    pieces[101], pieces[102] = "[CLS]", "[SEP]"
    pieces[10], pieces[11], pieces[12], pieces[13] = "how", "the", "rebase", "?"
    ids = np.asarray([101, 10, 11, 12, 13, 102])
    assert li.kept(ids, "all", pieces).tolist() == [False, True, True, True, True, False]
    assert li.kept(ids, "content", pieces).tolist() == [False, False, False, True, False, False]


def test_rerank_reorders_the_pool_only_and_weight_zero_keeps_the_shipped_order() -> None:
    q = li.Question(
        id="q",
        half="tune",
        expected=["b"],
        pages=["a", "b", "c", "d"],
        fused=np.asarray([1.0, 0.9, 0.5, 0.1]),
        chunks=[[0], [1], [2], [3]],
        text="?",
    )
    sims = np.asarray([0.2, 0.6, 0.9])  # the first three pages' maxsim; "d" is outside the pool
    assert li.reranked(q, sims, 0.0) == ["a", "b", "c", "d"]
    assert li.reranked(q, sims, 1.0) == ["c", "b", "a", "d"]
    # (1 - w) x minmax(fused) + w x minmax(maxsim) at 0.5: a 0.5+0, b 0.4444+0.2857, c 0+0.5
    assert li.reranked(q, sims, 0.5) == ["b", "a", "c", "d"]
    assert li.ranks([q], [sims], 0.5) == [1]

"""Late interaction's scoring and reranking (bench.late_interaction) on hand-made token states."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import numpy as np
import pytest

from bench import late_interaction as li
from rag.knowledge.retrieval import Hit, fuse_lexical


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


def _hits(indices: np.ndarray, scores: np.ndarray, row: np.ndarray, pages: list[str]) -> list[Hit]:
    return [
        Hit(
            chunk_id=uuid.UUID(int=int(i) + 1),
            document_id=uuid.UUID(int=1000 + int(pages[int(i)][1:])),
            title="",
            url=None,
            page=None,
            heading_path=[],
            text="",
            score=float(scores[i]),
            similarity=float(row[i]),
        )
        for i in indices
    ]


def test_best_is_the_chunk_the_product_grouped_hit_carries() -> None:
    rng = np.random.default_rng(22)  # a seed whose data holds every case below
    sources = [f"p{i % 12}" for i in range(60)]
    row = rng.random(60)  # the cosines to the feedback-moved question
    lexical = np.where(rng.random(60) < 0.4, rng.random(60) * 9, 0.0)  # BM25, many zeros
    top = 10
    vector_pool = np.argsort(-row, kind="stable")[:top]
    lexical_pool = [i for i in np.argsort(-lexical, kind="stable")[:top] if lexical[i] > 0]
    product = fuse_lexical(
        _hits(vector_pool, row, row, sources),
        _hits(np.asarray(lexical_pool), lexical, row, sources),
        second_weight=0.5,
        lexical_weight=0.3,
    )
    pages = [f"p{h.document_id.int - 1000}" for h in product]
    pools = li.page_pools(row, lexical, sources, pages, top)
    assert [li.chosen(c, "best") for c in pools] == [[h.chunk_id.int - 1] for h in product]
    # best2 is the hit's chunk and the second the product carries on it (Hit.second)
    carried = [
        [h.chunk_id.int - 1, *([h.second.chunk_id.int - 1] if h.second else [])] for h in product
    ]
    assert [li.chosen(c, "best2") for c in pools] == carried
    assert li.chosen(pools[0], "all") == pools[0]
    # the data holds the cases that tell the orders apart: a page reached by BM25 alone, and a
    # page whose best vector candidate is not its best BM25 chunk among the candidates
    vector_pages = {sources[i] for i in vector_pool}
    assert any(p not in vector_pages for p in pages)
    assert any(
        c[0] != max((i for i in c if i in lexical_pool), key=lambda i: lexical[i], default=c[0])
        for c in pools
    )
    # and the cases of the second chunk: a page's second vector candidate, a BM25 chunk after
    # a page's only vector candidate, and a BM25-only page's second BM25 chunk
    in_vector = set(vector_pool.tolist())
    assert any(c[0] in in_vector and c[1] in in_vector for c in carried if len(c) == 2)
    assert any(c[0] in in_vector and c[1] not in in_vector for c in carried if len(c) == 2)
    assert any(c[0] not in in_vector and len(c) == 2 for c in carried)
    assert any(len(c) == 1 for c in carried)  # and a page with one candidate chunk
    with pytest.raises(ValueError, match="unknown chunks"):
        li.chosen([1], "best3")


def _metrics(r1: float, mrr: float, n: int) -> dict[str, float]:
    return {"R@1": r1, "R@5": 1.0, "R@10": 1.0, "MRR": mrr, "n": n}


def test_choose_skips_a_setting_that_loses_a_tune_metric_and_pools_the_tune_questions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows: list[li.Row] = []
    for w, git, python in [
        (0.0, _metrics(0.5, 0.60, 60), _metrics(0.6, 0.70, 40)),
        (0.3, _metrics(0.5, 0.62, 60), _metrics(0.6, 0.70, 40)),  # pooled 0.652
        (0.4, _metrics(0.5, 0.60, 60), _metrics(0.6, 0.74, 40)),  # pooled 0.656
        (0.5, _metrics(0.4, 0.70, 60), _metrics(0.7, 0.80, 40)),  # loses git's tune R@1
    ]:
        rows.append(("git", "best", "all", 10, w, "tune", git))
        rows.append(("python", "best", "all", 10, w, "tune", python))
        rows.append(("git", "best", "all", 10, w, "heldout", _metrics(1.0, 1.0, 55)))
    choice = li.choose(rows)
    assert choice is not None
    assert choice[0] == ("best", "all", 10, 0.4)
    assert abs(choice[1] - 0.656) < 1e-9
    assert li.choose([r for r in rows if r[4] in (0.0, 0.5)]) is None
    # rows kept by separate runs (--rows) are chosen from alike (--choose)
    kept = tmp_path / "rows.jsonl"
    kept.write_text("".join(json.dumps(r) + "\n" for r in rows))
    li.main(["--choose", str(kept)])
    assert capsys.readouterr().out == (
        "choice on the tune halves: ('best', 'all', 10, 0.4), pooled tune MRR 0.6560\n"
    )

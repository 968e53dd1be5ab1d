"""The levers harness's ranking and scoring, apart from its command line
(``bench.retrieval_levers``): pages from a question's candidate chunks (by best chunk or a
``Ranking``), pseudo-relevance feedback, the per-half ranks with BM25 fused, and recall / MRR."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from bench import bm25
from bench.embed_cache import VectorCache
from bench.levers_corpus import Corpus, Variant, local_encode
from bench.page_ranking import PageSignals, Ranking, rank_pages
from eval.splits import SPLITS, split_of
from rag.knowledge import eval as rag_eval
from rag.knowledge import retrieval

CUTOFFS = rag_eval.CUTOFFS
Encode = Callable[[list[str]], np.ndarray]

# --- ranking ---------------------------------------------------------------------------------


def ranked_sources(scores: np.ndarray, sources: Sequence[str], depth: int) -> list[str]:
    """The distinct sources of the best ``retrieval.candidate_count(depth)`` chunks, best first:
    ``retrieval.search(k=depth)`` (grouped by document) over an exact vector search."""
    top = min(retrieval.candidate_count(depth), len(scores))
    part = np.argpartition(-scores, top - 1)[:top]
    order = part[np.argsort(-scores[part], kind="stable")]
    out: list[str] = []
    for i in order:
        source = sources[int(i)]
        if source not in out:
            out.append(source)
            if len(out) >= depth:
                break
    return out


def chunk_sources(scores: np.ndarray, sources: Sequence[str], k: int) -> list[str]:
    """The sources of the ``k`` best chunks (what chat handed the model before grouping)."""
    top = np.argsort(-scores, kind="stable")[:k]
    return [sources[int(i)] for i in top]


def page_signals(
    corpus: Corpus,
    cache: VectorCache,
    query_vectors: np.ndarray,
    encode: Encode = local_encode,
    passage: str = "",
) -> list[PageSignals]:
    """Per question: the cosine of the query to every page's title, and the chunk counts."""
    pages = list(corpus.titles)
    title_vectors = cache.embed([passage + corpus.titles[p] for p in pages], encode)
    counts: dict[str, int] = {}
    for source in corpus.sources:
        counts[source] = counts.get(source, 0) + 1
    return [
        PageSignals(dict(zip(pages, (float(x) for x in row), strict=True)), counts)
        for row in query_vectors @ title_vectors.T
    ]


def centroid_signals(
    corpus: Corpus, chunk_vectors: np.ndarray, query_vectors: np.ndarray, lead: bool = False
) -> list[PageSignals]:
    """Per question: the cosine of the (searched) query vector to every page's centroid, the
    normalized mean of all the page's chunk vectors in the corpus (``lead``: its first chunk's
    vector)."""
    pages = sorted(set(corpus.sources))
    index = {page: i for i, page in enumerate(pages)}
    sums = np.zeros((len(pages), chunk_vectors.shape[1]), dtype=np.float64)
    if lead:
        first: dict[str, int] = {}
        for i, source in enumerate(corpus.sources):
            first.setdefault(source, i)
        for source, i in first.items():
            sums[index[source]] = chunk_vectors[i]
    else:
        np.add.at(sums, [index[s] for s in corpus.sources], chunk_vectors)
    centroids = sums / np.linalg.norm(sums, axis=1, keepdims=True)
    return [
        PageSignals(centroid_scores=dict(zip(pages, (float(x) for x in row), strict=True)))
        for row in query_vectors @ centroids.T
    ]


def ranking_signals(
    ranking: Ranking,
    corpus: Corpus,
    cache: VectorCache,
    chunk_vectors: np.ndarray,
    asked: np.ndarray,
    searched: np.ndarray,
    encode: Encode = local_encode,
    passage: str = "",
) -> list[PageSignals] | None:
    """The per-question signals ``ranking`` reads: title cosines and chunk counts from the
    question as asked, centroid or first-chunk cosines from the searched (feedback-moved)
    vector; None for the rankings that read none."""
    if ranking.kind in ("title", "len"):
        return page_signals(corpus, cache, asked, encode, passage)
    if ranking.kind in ("cent", "lead"):
        return centroid_signals(corpus, chunk_vectors, searched, ranking.kind == "lead")
    return None


def feedback_queries(
    query_vectors: np.ndarray, chunk_vectors: np.ndarray, weight: float, m: int
) -> np.ndarray:
    """Pseudo-relevance feedback (Rocchio): each query moved towards the mean of its ``m`` best
    chunks, ``normalize(q + weight * mean)``, for a second search."""
    if not weight or not m:
        return query_vectors
    scores = query_vectors @ chunk_vectors.T
    top = np.argpartition(-scores, m - 1, axis=1)[:, :m]
    moved = query_vectors + weight * chunk_vectors[top].mean(axis=1)
    return moved / np.linalg.norm(moved, axis=1, keepdims=True)


def evaluate(
    corpus: Corpus,
    chunk_vectors: np.ndarray,
    questions: Sequence[rag_eval.Question],
    query_vectors: np.ndarray,
    ranking: Ranking | None = None,
    signals: Sequence[PageSignals] | None = None,
) -> dict[str, dict[str, list[Any]]]:
    """Per half: ``ranks`` (1-based rank of the first expected page or None), ``chunks5``
    (whether an expected page is among the 5 best chunks), ``distinct5`` (pages among them).
    ``ranking`` (default: each page by its best chunk) orders the candidate pages."""
    out: dict[str, dict[str, list[Any]]] = {
        s: {"ranks": [], "chunks5": [], "distinct5": [], "ids": []} for s in SPLITS
    }
    scores = query_vectors @ chunk_vectors.T
    for n, (question, row) in enumerate(zip(questions, scores, strict=True)):
        half = out[split_of(question.id)]
        if ranking is None or ranking.kind == "max":
            ordered = ranked_sources(row, corpus.sources, rag_eval.DEPTH)
        else:
            extra = signals[n] if signals is not None else None
            ordered = rank_pages(row, corpus.sources, rag_eval.DEPTH, ranking, extra)
        half["ranks"].append(rag_eval.first_rank(ordered, question.expected))
        five = chunk_sources(row, corpus.sources, 5)
        half["chunks5"].append(rag_eval.first_rank(five, question.expected, depth=5) is not None)
        half["distinct5"].append(len(set(five)))
        half["ids"].append(question.id)
    return out


def lexical_halves(
    halves: dict[str, dict[str, list[Any]]],
    corpus: Corpus,
    indexes: bm25.LexicalIndexes,
    chunk_vectors: np.ndarray,
    questions: Sequence[rag_eval.Question],
    query_vectors: np.ndarray,
    ranking: Ranking,
    signals: Sequence[PageSignals] | None,
    lexicals: Sequence[bm25.Lexical],
    fusions: Sequence[bm25.Fusion],
) -> list[tuple[tuple[str, str], dict[str, dict[str, list[Any]]]]]:
    """``evaluate``'s halves for each (lexical, fusion): the fused pages' ranks (the chunk-level
    columns are the vector search's, ``halves``)."""
    if not lexicals or not fusions:
        return []
    pages = bm25.evaluate_fused(
        corpus,
        indexes,
        chunk_vectors,
        questions,
        query_vectors,
        ranking,
        signals,
        lexicals,
        fusions,
        rag_eval.DEPTH,
    )
    out = []
    for key, ordered in pages.items():
        ranks = {
            q.id: rag_eval.first_rank(o, q.expected)
            for q, o in zip(questions, ordered, strict=True)
        }
        fused = {
            half: {**found, "ranks": [ranks[i] for i in found["ids"]]}
            for half, found in halves.items()
        }
        out.append((key, fused))
    return out


def metrics(ranks: Sequence[int | None]) -> dict[str, float]:
    result = rag_eval.ModeResult(mode="", ranks=list(ranks))
    out = {f"R@{k}": result.recall(k) for k in CUTOFFS}
    out["MRR"] = result.mrr
    out["n"] = len(ranks)
    return out


def query_texts(variant: Variant, questions: Sequence[rag_eval.Question]) -> list[str]:
    """What is embedded for each question (lever 7 rewrites short keyword queries)."""
    from bench.fusion_levers import as_question

    return [as_question(q.question) if variant.rewrite else q.question for q in questions]


def in_sample(question_id: str) -> bool:
    """Half of the questions, independent of the tune/heldout split (the second byte of the
    id's SHA-256, where the split uses the first)."""
    return hashlib.sha256(question_id.encode()).digest()[1] % 2 == 0

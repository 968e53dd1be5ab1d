"""``python -m bench.retrieval_levers --misses VARIANT``: every question not found at rank 1,
what ranked first and why (split from bench/retrieval_levers.py, which had passed 500 lines)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from bench.embed_cache import EmbeddingCache
from bench.levers_corpus import CORPORA, Variant, build_corpus, local_encode, pages_subset
from bench.levers_eval import (
    Encode,
    feedback_queries,
    in_sample,
    query_texts,
    ranked_sources,
    ranking_signals,
)
from bench.page_ranking import PageSignals, Ranking, rank_pages
from eval.splits import split_of
from rag.knowledge import chunking, retrieval
from rag.knowledge import eval as rag_eval


def misses(
    variant: Variant,
    cache: EmbeddingCache,
    name: str,
    *,
    subset: int | None,
    sample: bool,
    ranking: Ranking | None = None,
    feedback: tuple[float, int] = (0.0, 0),
    encode: Encode = local_encode,
    prefixes: tuple[str, str] = ("", ""),
) -> list[dict[str, Any]]:
    """Every question not found at rank 1: what ranked first, and its best chunk's size, with
    the pages ordered by ``ranking`` over the candidates of the query moved by ``feedback``
    (the product's defaults: ``--rank top2f:0.5 --feedback 0.25:10``; default: best chunk)."""
    questions = rag_eval.load_questions(CORPORA[name][1])
    if sample:
        questions = [q for q in questions if in_sample(q.id)]
    only = None if subset is None else pages_subset(name, questions, subset)
    corpus = build_corpus(name, variant, cache_dir=cache.path.parent, only=only)
    ask, passage = prefixes
    vectors = cache.embed([passage + t for t in corpus.texts], encode)
    asked = cache.embed([ask + q for q in query_texts(variant, questions)], encode)
    query_vectors = feedback_queries(asked, vectors, *feedback)
    ranking = ranking or Ranking()
    signals = ranking_signals(
        ranking, corpus, cache, vectors, asked, query_vectors, encode, passage
    )
    per_question: Sequence[PageSignals | None] = signals or [None] * len(questions)
    out = []
    scores = query_vectors @ vectors.T
    for question, row, extra in zip(questions, scores, per_question, strict=True):
        if ranking.kind == "max":
            ordered = ranked_sources(row, corpus.sources, rag_eval.DEPTH)
        else:
            ordered = rank_pages(row, corpus.sources, rag_eval.DEPTH, ranking, extra)
        rank = rag_eval.first_rank(ordered, question.expected)
        if rank == 1:
            continue
        # the first page's best chunk (with a page score it need not be the best chunk overall)
        best = max(
            (i for i, source in enumerate(corpus.sources) if source == ordered[0]),
            key=lambda i: float(row[i]),
        )
        pool = np.argsort(-row, kind="stable")[: retrieval.candidate_count(rag_eval.DEPTH)]
        pool_sources = [corpus.sources[int(i)] for i in pool]
        wanted = {e.strip("/") for e in question.expected}
        expected_scores = [
            float(row[i]) for i, s in enumerate(corpus.sources) if s.strip("/") in wanted
        ]
        text = corpus.texts[best].split("\n\n", 1)[-1] if variant.header else corpus.texts[best]
        out.append(
            {
                "set": name,
                "id": question.id,
                "half": split_of(question.id),
                "question": question.question,
                "expected": question.expected,
                "rank": rank,
                "first": ordered[0],
                "first_score": round(float(row[best]), 3),
                "expected_best": round(max(expected_scores, default=0.0), 3),
                "first_in_pool": pool_sources.count(ordered[0]),
                "expected_in_pool": sum(s.strip("/") in wanted for s in pool_sources),
                "first_chunk_tokens": chunking.count_tokens(text),
                "first_chunk": text[:160],
            }
        )
    return out

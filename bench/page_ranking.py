"""Page-ranking levers for ``bench.retrieval_levers``: how the candidate chunks of one question
become an order of pages, with no change to what is embedded.

The product's grouped search fetches ``retrieval.candidate_count(k)`` chunks and ranks each page
by its best chunk (``max``). The levers here rank the same candidate pool differently:

- ``top2``: a page's best chunk + beta * its second best among the candidates (0 without one);
- ``top2f``: the same, a page without a second candidate chunk counted with the pool's lowest
  score (its second chunk is at most that), so a page with one strong chunk is not buried;
- ``lse``: a soft maximum, T * log(sum(exp(s / T))) over the page's candidate chunks;
- ``title``: the best chunk + mu * cos(query, the page's title vector);
- ``len``: the best chunk - gamma * log(the page's chunk count) (a prior against long pages,
  which have more chunks to match by chance);
- ``cent``: the product's score (``top2f`` at ``RETRIEVAL_SECOND_CHUNK_WEIGHT``) + mu * cos(query,
  the page's centroid: the normalized mean of all its chunk vectors), a page-level topic signal
  that needs no new embedding (a page that mentions everything briefly, such as a changelog,
  has a diffuse centroid);
- ``lead``: the same with the page's first chunk (its introduction) instead of the centroid.

    python -m bench.retrieval_levers --sets git --subset 0 --rank max --rank top2:0.25
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from rag.knowledge import retrieval

KINDS = ("max", "top2", "top2f", "lse", "title", "len", "cent", "lead")


@dataclass(frozen=True)
class Ranking:
    """How a page's score comes from its candidate chunks: ``kind`` with its ``param``."""

    kind: str = "max"
    param: float = 0.0

    @property
    def name(self) -> str:
        return self.kind if self.kind == "max" else f"{self.kind}:{self.param:g}"

    @classmethod
    def parse(cls, text: str) -> Ranking:
        kind, _, param = text.partition(":")
        if kind not in KINDS:
            raise SystemExit(f"unknown ranking {kind!r} (one of {', '.join(KINDS)})")
        if kind != "max" and not param:
            raise SystemExit(f"ranking {kind} needs a parameter, e.g. {kind}:0.25")
        return cls(kind, float(param or 0.0))


@dataclass(frozen=True)
class PageSignals:
    """Per-page facts some rankings use: the query's cosine to each page's title (per
    question, by source) and each page's chunk count in the corpus."""

    title_scores: Mapping[str, float] | None = None
    chunk_counts: Mapping[str, int] | None = None
    centroid_scores: Mapping[str, float] | None = None


def rank_pages(
    scores: np.ndarray,
    sources: Sequence[str],
    depth: int,
    ranking: Ranking,
    signals: PageSignals | None = None,
) -> list[str]:
    """The ``depth`` best pages among the best ``retrieval.candidate_count(depth)`` chunks."""
    return [source for source, _ in page_scores(scores, sources, depth, ranking, signals)][:depth]


def page_scores(
    scores: np.ndarray,
    sources: Sequence[str],
    depth: int,
    ranking: Ranking,
    signals: PageSignals | None = None,
) -> list[tuple[str, float]]:
    """Every page among the best ``retrieval.candidate_count(depth)`` chunks with its score under
    ``ranking``, best first (``max``: its best chunk's score)."""
    top = min(retrieval.candidate_count(depth), len(scores))
    part = np.argpartition(-scores, top - 1)[:top]
    order = part[np.argsort(-scores[part], kind="stable")]
    per_page: dict[str, list[float]] = {}
    for i in order:
        per_page.setdefault(sources[int(i)], []).append(float(scores[int(i)]))
    if ranking.kind == "max":
        return [(source, s[0]) for source, s in per_page.items()]
    signals = signals or PageSignals()
    floor = float(scores[int(order[-1])])
    page_score = {
        source: _score(s, source, ranking, signals, floor) for source, s in per_page.items()
    }
    # Stable: ties keep the order of each page's best chunk.
    return sorted(page_score.items(), key=lambda item: -item[1])


def _score(
    chunk_scores: list[float], source: str, ranking: Ranking, signals: PageSignals, floor: float
) -> float:
    best = chunk_scores[0]
    p = ranking.param
    if ranking.kind in ("top2", "top2f"):
        missing = floor if ranking.kind == "top2f" else 0.0
        return best + p * (chunk_scores[1] if len(chunk_scores) > 1 else missing)
    if ranking.kind == "lse":
        return best + p * math.log(sum(math.exp((s - best) / p) for s in chunk_scores))
    if ranking.kind == "title":
        assert signals.title_scores is not None
        return best + p * signals.title_scores[source]
    if ranking.kind == "len":
        assert signals.chunk_counts is not None
        return best - p * math.log(signals.chunk_counts[source])
    if ranking.kind in ("cent", "lead"):
        assert signals.centroid_scores is not None
        product = Ranking("top2f", retrieval.SECOND_CHUNK_WEIGHT)
        base = _score(chunk_scores, source, product, signals, floor)
        return base + p * signals.centroid_scores[source]
    raise ValueError(ranking.kind)

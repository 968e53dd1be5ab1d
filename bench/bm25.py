"""Okapi BM25 / BM25F over the levers harness's corpora, alone and fused with the vector page
ranking (issue 12, twelfth session; ``python -m bench.retrieval_levers --lexical ... --fuse ...``).

Every full-text lever before this one ranked with PostgreSQL's ``ts_rank_cd``, which has no
inverse document frequency and no length normalization. Here:

- ``tokenize`` (the product's, ``rag.knowledge.lexical.tokenize``): casefolded words; an
  identifier (``git-rebase``, ``os.path.join``, ``--force``, ``__init__``) is kept whole
  (unstemmed) *and* split into its parts; parts of two characters or more, without the stop
  words of ``core.stems``, each Snowball-stemmed as the product stems elsewhere
  (``core.stems.stem``);
- ``Index``: BM25F over one or more fields per document (Robertson and Zaragoza's simple BM25F):
  a term's pseudo frequency is ``sum_f w_f * tf_f / (1 - b + b * len_f / avglen_f)``, its score
  ``idf * pf * (k1 + 1) / (k1 + pf)`` with ``idf = ln(1 + (N - df + 0.5) / (df + 0.5))``; one
  field of weight 1 is plain Okapi BM25;
- lexical page scores (``Lexical``): ``chunk`` (each chunk's embedded text, header + passage, one
  field; a page by its best chunk), ``chunkf`` (the chunk's title, heading path and passage as
  three fields), ``page`` (BM25F over whole pages: title, every heading, the page's text);
  ``budget=B`` (chunk-level kinds): BM25 over a postings budget (``budgeted_chunks``), the
  approximation modelled for the product (fourteenth session);
- fusion with the product's vector page order (``Fusion``): ``alone`` (lexical only), weighted
  reciprocal rank fusion ``rrf:W:K``, convex combinations of per-question min-max (``minmax:W``)
  or z-score (``z:W``) normalized page scores with the lexical side weighted W, and ``gate:T``
  (the lexical best page first when it leads the lexical second by a fraction T of its score).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench.page_ranking import PageSignals, Ranking, page_scores
from rag.knowledge import retrieval
from rag.knowledge.lexical import tokenize

__all__ = ["Index", "Lexical", "Params", "tokenize"]


@dataclass(frozen=True)
class Params:
    """BM25F's parameters: ``weights`` per field (one field of weight 1: Okapi BM25)."""

    k1: float = 1.2
    b: float = 0.75
    weights: tuple[float, ...] = (1.0,)


class Index:
    """BM25F over ``docs[d][f]``: the terms of document d's field f."""

    def __init__(self, docs: Sequence[Sequence[Sequence[str]]]) -> None:
        self.n = len(docs)
        self.fields = len(docs[0]) if docs else 1
        self.lengths = np.zeros((self.n, self.fields))
        counts: dict[str, dict[int, np.ndarray]] = {}
        for d, doc in enumerate(docs):
            for f, terms in enumerate(doc):
                self.lengths[d, f] = len(terms)
                for term in terms:
                    row = counts.setdefault(term, {}).setdefault(d, np.zeros(self.fields))
                    row[f] += 1
        self.postings = {
            term: (
                np.fromiter(rows, dtype=np.int64, count=len(rows)),
                np.array(list(rows.values())),
            )
            for term, rows in counts.items()
        }
        average = self.lengths.mean(axis=0) if self.n else np.ones(self.fields)
        self.average = np.where(average > 0, average, 1.0)
        self._norms: dict[float, np.ndarray] = {}

    def idf(self, term: str) -> float:
        """Robertson-Sparck Jones with 1 added inside the log (never negative)."""
        df = len(self.postings[term][0]) if term in self.postings else 0
        return math.log(1.0 + (self.n - df + 0.5) / (df + 0.5))

    def _norm(self, b: float) -> np.ndarray:
        if b not in self._norms:
            self._norms[b] = 1.0 - b + b * self.lengths / self.average
        return self._norms[b]

    def scores(self, query: Sequence[str], params: Params) -> np.ndarray:
        """Every document's BM25F score for ``query``'s distinct terms."""
        if len(params.weights) != self.fields:
            raise ValueError(f"{len(params.weights)} weights for {self.fields} fields")
        weights = np.asarray(params.weights)
        norm = self._norm(params.b)
        out = np.zeros(self.n)
        for term in dict.fromkeys(query):
            if term not in self.postings:
                continue
            ids, tf = self.postings[term]
            pseudo = (tf * weights / norm[ids]).sum(axis=1)
            out[ids] += self.idf(term) * pseudo * (params.k1 + 1.0) / (params.k1 + pseudo)
        return out

    def essential(self, query: Sequence[str], budget: float) -> list[str]:
        """The rarest of ``query``'s distinct terms (document frequency, then the term) whose
        postings number at most ``budget`` together; terms in no document are dropped."""
        known = sorted(
            (len(self.postings[t][0]), t) for t in dict.fromkeys(query) if t in self.postings
        )
        out: list[str] = []
        total = 0
        for df, term in known:
            total += df
            if total > budget:
                break
            out.append(term)
        return out


def budgeted_chunks(
    index: Index,
    query: Sequence[str],
    params: Params,
    budget: float,
    n: int,
    vector_candidates: Sequence[int] | np.ndarray,
) -> list[tuple[int, float]]:
    """BM25 over a postings budget: the ``n`` best (chunk, score) pairs, best first, scores
    above 0, among the candidates (1) E = ``index.essential(query, budget)``; (2) every chunk in
    E's postings scored over E alone; (3) the 4n best of them (ties: the smaller chunk id) and
    the vector search's ``vector_candidates``; (4) each candidate's exact score over every
    query term; (5) the n best (ties: the smaller chunk id). When E holds every query term this
    is exact BM25's n best chunks."""
    essential = index.essential(query, budget)
    touched = np.unique(
        np.concatenate([index.postings[t][0] for t in essential] or [np.zeros(0, np.int64)])
    )
    partial = index.scores(essential, params)[touched]
    best_partial = touched[np.lexsort((touched, -partial))][: 4 * n]
    pool = np.union1d(best_partial, np.asarray(vector_candidates, dtype=np.int64))
    full = index.scores(query, params)[pool]
    order = np.lexsort((pool, -full))[:n]
    return [(int(pool[i]), float(full[i])) for i in order if full[i] > 0]


# --- lexical page scores over a harness corpus -----------------------------------------------

LEXICAL_KINDS = ("chunk", "chunkf", "page")


@dataclass(frozen=True)
class Lexical:
    """``KIND[:k1=..,b=..,wt=..,wh=..,pool=1,budget=B]``: the title's (wt) and headings' (wh)
    weights against the text's 1 for ``chunkf`` and ``page``. ``pool=1`` (``chunk``,
    ``chunkf``): BM25 scores only for the vector search's candidate chunks (no lexical
    candidates of its own; statistics still over the whole corpus); every candidate page gets
    one, 0 included, and the min-max runs over that pool. ``budget=B`` (``chunk``, ``chunkf``):
    the lexical chunks of ``budgeted_chunks`` (rare terms' postings up to B, their 4n best
    chunks and the vector candidates scored exactly), pages as without it."""

    kind: str = "chunk"
    k1: float = 1.2
    b: float = 0.75
    wt: float = 1.0
    wh: float = 1.0
    pool: float = 0.0
    budget: float = 0.0

    @property
    def name(self) -> str:
        text = f"bm25 {self.kind} k1={self.k1:g} b={self.b:g}"
        text += f" wt={self.wt:g} wh={self.wh:g}" if self.kind != "chunk" else ""
        text += f" budget={self.budget:g}" if self.budget else ""
        return text + (" pool" if self.pool else "")

    @property
    def params(self) -> Params:
        weights = (1.0,) if self.kind == "chunk" else (self.wt, self.wh, 1.0)
        return Params(self.k1, self.b, weights)

    @classmethod
    def parse(cls, text: str) -> Lexical:
        kind, _, rest = text.partition(":")
        if kind not in LEXICAL_KINDS:
            raise SystemExit(f"unknown lexical kind {kind!r} (one of {', '.join(LEXICAL_KINDS)})")
        values: dict[str, float] = {}
        for item in filter(None, rest.split(",")):
            key, _, value = item.partition("=")
            if key not in ("k1", "b", "wt", "wh", "pool", "budget"):
                raise SystemExit(f"unknown BM25 parameter {key!r} in {text!r}")
            values[key] = float(value)
        for option in ("pool", "budget"):
            if values.get(option) and kind == "page":
                raise SystemExit(f"{option} needs a chunk-level kind (chunk, chunkf)")
        if values.get("pool") and values.get("budget"):
            raise SystemExit("pool=1 and budget=B are two different lexical candidate sets")
        return cls(kind, **values)


@dataclass
class LexicalIndexes:
    """The chunk and page indexes of one corpus, built on first use."""

    corpus: Any  # bench.levers_corpus.Corpus
    built: dict[str, Index] = field(default_factory=dict)
    pages: list[str] = field(default_factory=list)

    def index(self, kind: str) -> Index:
        if kind not in self.built:
            self.built[kind] = self._build(kind)
        return self.built[kind]

    def _build(self, kind: str) -> Index:
        c = self.corpus
        if kind == "chunk":
            return Index([[tokenize(text)] for text in c.texts])
        if kind == "chunkf":
            titles = {page: tokenize(title) for page, title in c.titles.items()}
            return Index(
                [
                    [
                        titles.get(source, []),
                        _heading_terms(path, c.titles.get(source)),
                        tokenize(body),
                    ]
                    for source, path, body in zip(c.sources, c.headings, c.bodies, strict=True)
                ]
            )
        self.pages = list(dict.fromkeys(c.sources))
        paths: dict[str, dict[str, None]] = {page: {} for page in self.pages}
        for source, path in zip(c.sources, c.headings, strict=True):
            paths[source].update(dict.fromkeys(path))
        return Index(
            [
                [
                    tokenize(c.titles.get(page, "")),
                    _heading_terms(list(paths[page]), c.titles.get(page)),
                    tokenize(c.page_texts.get(page, "")),
                ]
                for page in self.pages
            ]
        )

    def page_scores(
        self,
        lexical: Lexical,
        query: Sequence[str],
        depth: int,
        candidates: np.ndarray | None = None,
    ) -> list[tuple[str, float]]:
        """The pages with a lexical score above 0, best first: a page's best chunk among the
        ``retrieval.candidate_count(depth)`` best chunks (``chunk``, ``chunkf``), or the page's
        own BM25F score (``page``, the same number of pages). ``candidates``: the vector
        search's candidate chunks; with ``pool=1`` every page among them, by its best of them, 0
        kept; with ``budget=B`` (needs them) the pages of ``budgeted_chunks``, by their best."""
        index = self.index(lexical.kind)
        if lexical.budget:
            if candidates is None:
                raise ValueError("budget=B needs the vector search's candidates")
            n = retrieval.candidate_count(depth)
            chunks = budgeted_chunks(index, query, lexical.params, lexical.budget, n, candidates)
            pages: dict[str, float] = {}
            for i, score in chunks:
                pages.setdefault(self.corpus.sources[i], score)
            return list(pages.items())
        scores = index.scores(query, lexical.params)
        if lexical.pool:
            assert candidates is not None
            best: dict[str, float] = {}
            for i in candidates:
                source = self.corpus.sources[int(i)]
                best[source] = max(best.get(source, 0.0), float(scores[int(i)]))
            return sorted(best.items(), key=lambda item: -item[1])
        if lexical.kind != "page":
            ranked = page_scores(scores, self.corpus.sources, depth, Ranking())
            return [(p, s) for p, s in ranked if s > 0]
        top = np.argsort(-scores, kind="stable")[: retrieval.candidate_count(depth)]
        return [(self.pages[int(i)], float(scores[int(i)])) for i in top if scores[int(i)] > 0]


def _heading_terms(path: Sequence[str], title: str | None) -> list[str]:
    """The terms of a heading path, without a heading that only repeats the page's title."""
    dropped = tokenize(title or "")
    return [t for heading in path if (terms := tokenize(heading)) != dropped for t in terms]


# --- fusion ----------------------------------------------------------------------------------

FUSION_KINDS = ("vector", "alone", "rrf", "minmax", "z", "gate")


@dataclass(frozen=True)
class Fusion:
    """``vector`` | ``alone`` | ``rrf:W[:K]`` | ``minmax:W`` | ``z:W`` | ``gate:T``."""

    kind: str = "vector"
    weight: float = 0.0
    k: float = 60.0

    @property
    def name(self) -> str:
        if self.kind in ("vector", "alone"):
            return self.kind
        if self.kind == "rrf":
            return f"rrf w={self.weight:g} k={self.k:g}"
        return f"{self.kind}:{self.weight:g}"

    @classmethod
    def parse(cls, text: str) -> Fusion:
        kind, *rest = text.split(":")
        if kind not in FUSION_KINDS:
            raise SystemExit(f"unknown fusion {kind!r} (one of {', '.join(FUSION_KINDS)})")
        if kind not in ("vector", "alone") and not rest:
            raise SystemExit(f"fusion {kind} needs a parameter, e.g. {kind}:0.3")
        weight = float(rest[0]) if rest else 0.0
        return cls(kind, weight, float(rest[1]) if len(rest) > 1 else 60.0)


def _normalized(scores: Mapping[str, float], how: str) -> dict[str, float]:
    values = np.asarray(list(scores.values()), dtype=float)
    if how == "minmax":
        low, spread = values.min(), values.max() - values.min()
        return {p: (s - low) / spread if spread else 1.0 for p, s in scores.items()}
    mean, std = values.mean(), values.std()
    return {p: (s - mean) / std if std else 0.0 for p, s in scores.items()}


def fuse(
    vector: Sequence[tuple[str, float]], lexical: Sequence[tuple[str, float]], fusion: Fusion
) -> list[str]:
    """The pages of both lists in ``fusion``'s order (ties: the vector order, then the lexical
    one). A page missing from one list counts that list's lowest value there (0 in RRF)."""
    v_order = [p for p, _ in vector]
    l_order = [p for p, _ in lexical]
    if fusion.kind == "vector" or (fusion.kind != "alone" and not lexical):
        return v_order
    if fusion.kind == "alone":
        return l_order
    pages = list(dict.fromkeys(v_order + l_order))
    if fusion.kind == "gate":
        first, best = lexical[0]
        second = lexical[1][1] if len(lexical) > 1 else 0.0
        if best > 0 and (best - second) >= fusion.weight * best:
            return [first] + [p for p in v_order if p != first]
        return v_order
    w = fusion.weight
    if fusion.kind == "rrf":
        v_rank = {p: r for r, p in enumerate(v_order, 1)}
        l_rank = {p: r for r, p in enumerate(l_order, 1)}
        score = {
            p: (1.0 / (fusion.k + v_rank[p]) if p in v_rank else 0.0)
            + (w / (fusion.k + l_rank[p]) if p in l_rank else 0.0)
            for p in pages
        }
    else:
        v = _normalized(dict(vector), fusion.kind) if vector else {}
        lx = _normalized(dict(lexical), fusion.kind)
        v_low = min(v.values(), default=0.0)
        l_low = min(lx.values())
        score = {p: (1 - w) * v.get(p, v_low) + w * lx.get(p, l_low) for p in pages}
    return sorted(pages, key=lambda p: -score[p])


def evaluate_fused(
    corpus: Any,
    indexes: LexicalIndexes,
    chunk_vectors: np.ndarray,
    questions: Sequence[Any],
    query_vectors: np.ndarray,
    ranking: Ranking,
    signals: Sequence[PageSignals] | None,
    lexicals: Sequence[Lexical],
    fusions: Sequence[Fusion],
    depth: int,
) -> dict[tuple[str, str], list[list[str]]]:
    """Per (lexical, fusion) name: each question's ``depth`` best pages. The vector side is the
    harness's page order for ``ranking`` over ``query_vectors`` (the searched vectors, after
    feedback), with its page scores."""
    scores = query_vectors @ chunk_vectors.T
    vectors = [
        page_scores(row, corpus.sources, depth, ranking, signals[n] if signals else None)
        for n, row in enumerate(scores)
    ]
    asked = [tokenize(q.question) for q in questions]
    top = min(retrieval.candidate_count(depth), scores.shape[1])
    pools = [np.argpartition(-row, top - 1)[:top] for row in scores]
    out: dict[tuple[str, str], list[list[str]]] = {}
    for lexical in lexicals:
        lists = [
            indexes.page_scores(lexical, terms, depth, pool)
            for terms, pool in zip(asked, pools, strict=True)
        ]
        for fusion in fusions:
            out[(lexical.name, fusion.name)] = [
                fuse(v, lx, fusion)[:depth] for v, lx in zip(vectors, lists, strict=True)
            ]
    return out

"""What a cross-encoder reranker does to the ranking: both eval sets, both halves, harness speed.

The candidates are the product's: the default variant's chunks (``bench.retrieval_levers``'
embedding cache), the question moved by pseudo-relevance feedback (``--feedback``, the
product's 0.25 x 10) and pages ranked by ``top2f`` at the product's second-chunk weight; the
first ``N`` pages (``RERANKER_CANDIDATES``), each with its best chunk, are what
``Reranker.rerank`` receives. Each is scored by the cross-encoder on (question, title and
heading path, then the chunk's text), as ``rerank.passage_text`` gives it, and the N pages are
reordered by that score; ranks 1-10 are then read as ``trulybot eval`` reads them.

``--bi-encoder DIR`` scores the same candidates with another sentence-transformers model used as
a bi-encoder instead (all-mpnet-base-v2, tenth session): the cosine of the question's vector to
the page's best chunk as it would be indexed (header and chunk, the embedded text), both encoded
by that model and cached in the embedding cache keyed ``st:<directory name>``. It measures how
that model orders the pages the product's retrieval finds, at the cost of the candidates' chunks
only (the whole corpus re-embedded with it took hours on this machine).

``--blend W`` also reports a fusion: the pages ordered by the cross-encoder's logit plus
``W`` times the retrieval score scaled to the logit's spread (z-scores over the N candidates),
so the vector order counts where the cross-encoder is unsure.

    python -m bench.rerank_levers --reranker ~/.cache/trulybot/models/ms-marco-MiniLM-L-12-v2-int8
    python -m bench.rerank_levers --reranker DIR --candidates 12 --candidates 24 --blend 0.5
    python -m bench.rerank_levers --bi-encoder /tmp/mpnet/all-mpnet-base-v2 --candidates 8

Scores are cached in ``$LEVERS_DIR/rerank.sqlite`` by (model file, max tokens, question,
passage), so a rerun scores nothing again. Needs the embedding cache filled (``python -m
bench.retrieval_levers --sets python,git``) and ``apt-get install -y python3-doc git-doc``.
Choose on the tune halves only.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import sqlite3
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.embed_cache import DEFAULT_DIR, EmbeddingCache, open_cache
from bench.levers_corpus import (
    CORPORA,
    DEFAULT_VARIANT,
    VARIANTS,
    build_corpus,
    local_encode,
    st_encoder,
)
from bench.levers_eval import feedback_queries, metrics, query_texts
from bench.page_ranking import Ranking, rank_pages
from eval.splits import SPLITS, split_of
from rag.knowledge import eval as rag_eval
from rag.knowledge import retrieval
from rag.knowledge.onnx_cross_encoder import GRAPH, MAX_TOKENS, OnnxCrossEncoder


class ScoreCache:
    """Cross-encoder logits by sha256(model, max tokens, question NUL passage)."""

    def __init__(self, path: Path, model_key: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path)
        self.db.execute("CREATE TABLE IF NOT EXISTS s (key TEXT PRIMARY KEY, v REAL NOT NULL)")
        self.model_key = model_key
        self.scored = 0

    def key(self, question: str, passage: str) -> str:
        return hashlib.sha256(f"{self.model_key}\0{question}\0{passage}".encode()).hexdigest()

    def scores(self, model: OnnxCrossEncoder, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        keys = [self.key(q, p) for q, p in pairs]
        marks = ",".join("?" * len(keys))
        found = dict(self.db.execute(f"SELECT key, v FROM s WHERE key IN ({marks})", keys))
        missing = [i for i, k in enumerate(keys) if k not in found]
        if missing:
            fresh = model.predict([pairs[i] for i in missing])
            rows = [(keys[i], float(v)) for i, v in zip(missing, fresh, strict=True)]
            self.db.executemany("INSERT OR REPLACE INTO s VALUES (?, ?)", rows)
            self.db.commit()
            found.update(rows)
            self.scored += len(rows)
        return np.array([found[k] for k in keys], dtype=np.float32)


Scorer = Callable[[str, Sequence[str]], np.ndarray]
"""A question and its candidates' embedded chunk texts -> one score per candidate."""


def cross_encoder_scorer(model: OnnxCrossEncoder, scores_cache: ScoreCache) -> Scorer:
    """The cross-encoder's logit of (question, ``passage`` of the chunk), cached."""

    def score(question: str, texts: Sequence[str]) -> np.ndarray:
        return scores_cache.scores(model, [(question, passage(t)) for t in texts])

    return score


def bi_encoder_scorer(cache: EmbeddingCache, encode: Callable[[list[str]], np.ndarray]) -> Scorer:
    """The cosine of the question's vector to each embedded chunk text's, both by ``encode``
    through ``cache`` (which must be keyed by the same model)."""

    def score(question: str, texts: Sequence[str]) -> np.ndarray:
        asked = cache.embed([question], encode)[0]
        return cache.embed(list(texts), encode) @ asked

    return score


def passage(embedded: str) -> str:
    """``rerank.passage_text`` from an embedded chunk text (header, blank line, text)."""
    head, sep, body = embedded.partition("\n\n")
    return f"{head}\n{body}" if sep else embedded


def best_chunks(scores: np.ndarray, sources: Sequence[str], pages: Sequence[str]) -> list[int]:
    """Each page's best chunk (what ``group_by_document`` keeps for it)."""
    best: dict[str, int] = {}
    for i in np.argsort(-scores, kind="stable")[: retrieval.candidate_count(len(pages)) * 4]:
        best.setdefault(sources[int(i)], int(i))
        if all(p in best for p in pages):
            break
    return [best[p] for p in pages]


def zscores(values: np.ndarray) -> np.ndarray:
    spread = float(values.std())
    return (values - values.mean()) / (spread if spread > 1e-9 else 1.0)


def run(
    name: str,
    score: Scorer,
    cache: EmbeddingCache,
    *,
    candidates: Sequence[int],
    blends: Sequence[float],
    feedback: tuple[float, int],
    second_weight: float,
    prefill: Callable[[list[str]], object] | None = None,
) -> list[dict[str, Any]]:
    """``prefill``: called first with every candidate's embedded text, the tuning half's first
    (a bi-encoder embeds them in one pass sorted by length instead of a few per question)."""
    variant = VARIANTS[DEFAULT_VARIANT]
    questions = rag_eval.load_questions(CORPORA[name][1])
    corpus = build_corpus(name, variant, cache_dir=cache.path.parent)
    vectors = cache.embed(corpus.texts, local_encode)
    asked = cache.embed(query_texts(variant, questions), local_encode)
    moved = feedback_queries(asked, vectors, *feedback)
    ranking = Ranking("top2f", second_weight)
    pool = max(candidates)
    labels = ["retrieval order"] + [
        f"rerank top {n}" + (f", blend {w:g}" if w else "") for n in candidates for w in blends
    ]
    ranks: dict[str, dict[str, list[int | None]]] = {
        label: {h: [] for h in SPLITS} for label in labels
    }
    started = time.perf_counter()
    plans = []
    for question, row in zip(questions, moved @ vectors.T, strict=True):
        pages = rank_pages(row, corpus.sources, max(pool, rag_eval.DEPTH), ranking)
        plans.append((question, row, pages, best_chunks(row, corpus.sources, pages[:pool])))
    if prefill is not None:
        for half in SPLITS:
            prefill(
                [
                    corpus.texts[i]
                    for q, _, _, chunks in plans
                    if split_of(q.id) == half
                    for i in chunks
                ]
            )
    scored = 0
    for question, row, pages, chunks in plans:
        half = split_of(question.id)
        logits = score(question.question, [corpus.texts[i] for i in chunks])
        scored += len(chunks)
        # Without a reranker the search asks for DEPTH pages (a smaller candidate pool).
        plain = rank_pages(row, corpus.sources, rag_eval.DEPTH, ranking)
        ranks["retrieval order"][half].append(rag_eval.first_rank(plain, question.expected))
        for n in candidates:
            head = min(n, len(chunks))
            for w in blends:
                mixed = zscores(logits[:head]) + w * zscores(row[chunks[:head]])
                order = np.argsort(-(mixed if w else logits[:head]), kind="stable")
                reordered = [pages[int(i)] for i in order] + list(pages[head:])
                label = f"rerank top {n}" + (f", blend {w:g}" if w else "")
                ranks[label][half].append(rag_eval.first_rank(reordered, question.expected))
    elapsed = time.perf_counter() - started
    out = []
    for label in labels:
        for half in SPLITS:
            out.append({"set": name, "half": half, "variant": label, **metrics(ranks[label][half])})
    print(
        f"{name}: {len(questions)} questions, {scored} candidates scored in {elapsed:.0f} s",
        file=sys.stderr,
    )
    return out


def table(rows: Sequence[dict[str, Any]]) -> str:
    lines = ["| set | half | order | R@1 | R@5 | R@10 | MRR |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['set']} | {r['half']} | {r['variant']} | {r['R@1']:.3f} | {r['R@5']:.3f} |"
            f" {r['R@10']:.3f} | {r['MRR']:.3f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--reranker", type=Path, help="ONNX cross-encoder dir")
    which.add_argument(
        "--bi-encoder",
        type=Path,
        metavar="DIR",
        help="a sentence-transformers model dir: each candidate scored by the cosine of its"
        " embedded text to the question, both encoded by that model",
    )
    parser.add_argument("--sets", default="python,git")
    parser.add_argument("--candidates", type=int, action="append", help="RERANKER_CANDIDATES")
    parser.add_argument("--blend", type=float, action="append", help="retrieval weight (0: none)")
    parser.add_argument("--max-tokens", type=int, default=MAX_TOKENS)
    parser.add_argument("--feedback", default=f"{retrieval.FEEDBACK_WEIGHT}:10")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    args = parser.parse_args(argv)
    weight, _, m = args.feedback.partition(":")
    cache = EmbeddingCache(args.dir / "embeddings.sqlite")
    prefill = None
    if args.bi_encoder is not None:
        other = open_cache(args.dir, args.bi_encoder)
        encode = st_encoder(args.bi_encoder.expanduser(), args.threads)
        score = bi_encoder_scorer(other, encode)
        prefill = functools.partial(other.embed, encode=encode)
        model_name = other.model
    else:
        model = OnnxCrossEncoder(
            args.reranker.expanduser(), threads=args.threads, max_tokens=args.max_tokens
        )
        graph = (args.reranker.expanduser() / GRAPH).read_bytes()
        digest = hashlib.sha256(graph).hexdigest()[:16]
        model_key = f"{digest}:{args.max_tokens}"
        score = cross_encoder_scorer(model, ScoreCache(args.dir / "rerank.sqlite", model_key))
        model_name = model_key
    rows: list[dict[str, Any]] = []
    for name in [s for s in args.sets.split(",") if s]:
        rows += run(
            name,
            score,
            cache,
            candidates=args.candidates or [24],
            blends=args.blend or [0.0],
            feedback=(float(weight), int(m or 0)),
            second_weight=retrieval.SECOND_CHUNK_WEIGHT,
            prefill=prefill,
        )
    with (args.dir / "rerank_results.jsonl").open("a") as f:
        for row in rows:
            f.write(json.dumps({**row, "max_tokens": args.max_tokens, "model": model_name}) + "\n")
    print(table(rows))


if __name__ == "__main__":
    main()

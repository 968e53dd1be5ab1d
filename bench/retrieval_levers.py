"""Offline tuning harness for retrieval levers: both eval sets, both halves, in minutes.

The product's own code parses (``rag.knowledge.parsing.parse``) and chunks
(``rag.knowledge.chunking.chunk_document``) every page of both corpora; the chunks' embedded
texts go through the local MiniLM embedder behind an on-disk cache keyed by
(model, sha256(embedded text)), so a lever that changes a tenth of the chunks re-embeds a tenth.
Ranking is done in numpy exactly as ``rag.knowledge.eval`` does it through PostgreSQL: cosine
similarity over every chunk of the corpus (the SQL search is exact below 10k chunks and HNSW
above), the top ``CHUNKS_PER_QUESTION`` chunks, their distinct documents in order, recall@1/5/10
and MRR of the first expected page. ``--grouped`` ranks documents by their best chunk over all
chunks instead (one hit per page), which is what grouped search returns.

    python -m bench.retrieval_levers                     # the default variant, both sets
    python -m bench.retrieval_levers --variant baseline  # the chunk text alone (format 1)
    python -m bench.retrieval_levers --list              # every variant
    python -m bench.retrieval_levers --table             # every result recorded so far
    python -m bench.retrieval_levers --feedback 0.25:10  # pseudo-relevance feedback (Rocchio)
    python -m bench.retrieval_levers --rank top2f:0.5 --feedback 0.25:10 \
        --lexical chunk:k1=1.2,b=0.75 --fuse alone --fuse rrf:0.5:60  # BM25 fused (bench.bm25)

Needs `apt-get install -y python3-doc git-doc`. Results are appended to
``$LEVERS_DIR/results.jsonl`` (default .cache/levers, with the embedding cache); choose on the
tune halves only. ``python -m bench.eval_quality`` measures the same through the real ingest path.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from bench import bm25
from bench.common import ROOT
from bench.embed_cache import DEFAULT_DIR, EnsembleCache, VectorCache, open_cache
from bench.page_ranking import Ranking

sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.levers_corpus import (
    CORPORA,
    DEFAULT_VARIANT,
    ONNX_WINDOW,
    VARIANTS,
    Variant,
    build_corpus,
    corpus_stats,
    int8_query_encode,
    local_encode,
    onnx_encoder,
    pages_subset,
    small_pages,
    st_encoder,
    st_window,
)
from bench.levers_eval import (
    Encode,
    evaluate,
    feedback_queries,
    in_sample,
    lexical_halves,
    metrics,
    query_texts,
    ranking_signals,
)
from eval.splits import SPLITS
from rag.knowledge import chunking
from rag.knowledge import eval as rag_eval
from rag.knowledge.embeddings import LOCAL_MODEL_NAME


def run_variant(
    variant: Variant,
    cache: VectorCache,
    *,
    sets: Sequence[str],
    subset: int | None,
    sample: bool = False,
    limit: int | None = None,
    rankings: Sequence[Ranking] = (Ranking(),),
    feedbacks: Sequence[tuple[float, int]] = ((0.0, 0),),
    precision: str = "fp32",
    encode: Encode = local_encode,
    window: int = chunking.EMBED_WINDOW,
    small: int | None = None,
    prefixes: tuple[str, str] = ("", ""),
    lexicals: Sequence[bm25.Lexical] = (),
    fusions: Sequence[bm25.Fusion] = (),
) -> list[dict[str, Any]]:
    """``precision``: ``int8`` encodes the questions with the int8 graph (the chunks, titles and
    everything stored stay in full precision), as ``EMBED_QUERY_PRECISION=int8`` does.
    ``encode``: the model for chunks, titles and questions (``--model``; the cache must be keyed
    by the same model), ``window`` its window in word pieces (the "> window" column). ``small``:
    only the questions whose expected pages have at most that many chunks, over those pages.
    ``prefixes``: what is put before each question and each passage (chunk, title) for an
    asymmetric model (E5's "query: ", "passage: "); the cache keys the prefixed text.
    ``lexicals`` x ``fusions``: BM25 page scores fused with each (ranking, feedback) vector page
    order (``bench.bm25``), a row each besides the vector row."""
    ask, passage = prefixes
    rows = []
    asking = cache.int8_questions() if precision == "int8" else cache
    for name in sets:
        started = time.perf_counter()
        questions = rag_eval.load_questions(CORPORA[name][1])
        if sample:
            questions = [q for q in questions if in_sample(q.id)]
        if limit:
            questions = questions[:limit]
        only = None if subset is None else pages_subset(name, questions, subset)
        corpus = build_corpus(name, variant, cache_dir=cache.path.parent, only=only)
        if small is not None:
            corpus, questions = small_pages(corpus, questions, small)
        built = time.perf_counter() - started
        vectors = cache.embed([passage + t for t in corpus.texts], encode)
        if corpus.no_vector:
            vectors = vectors.copy()
            vectors[corpus.no_vector] = 0.0
        asks = int8_query_encode if precision == "int8" else encode
        query_vectors = asking.embed([ask + q for q in query_texts(variant, questions)], asks)
        counts = np.asarray(corpus.token_counts)
        indexes = bm25.LexicalIndexes(corpus)
        runs = [(f, r, h) for f in feedbacks for r in rankings for h in SPLITS]
        for (weight, m), ranking, half in runs:
            if half == SPLITS[0]:
                queries = feedback_queries(query_vectors, vectors, weight, m)
                signals = ranking_signals(
                    ranking, corpus, cache, vectors, query_vectors, queries, encode, passage
                )
                halves = evaluate(corpus, vectors, questions, queries, ranking, signals)
                fused = lexical_halves(
                    halves,
                    corpus,
                    indexes,
                    vectors,
                    questions,
                    queries,
                    ranking,
                    signals,
                    lexicals,
                    fusions,
                )
            label = variant.name if ranking.kind == "max" else f"{variant.name}, {ranking.name}"
            label += f", feedback {weight:g}x{m}" if weight and m else ""
            label += ", int8 queries" if precision == "int8" else ""
            label += "" if cache.model == LOCAL_MODEL_NAME else f" [{cache.model}]"
            label += f" {ask!r}/{passage!r}" if ask or passage else ""
            outcomes = [(label, None, halves[half])]
            outcomes += [(f"{label}, {lex} {fus}", [lex, fus], h[half]) for (lex, fus), h in fused]
            for name_, lexical, found in outcomes:
                rows.append(
                    {
                        "variant": name_,
                        "lexical": lexical,
                        "ranking": ranking.name,
                        "feedback": [weight, m],
                        "set": name,
                        "half": half,
                        "subset": subset,
                        "sample": sample,
                        "small": small,
                        **metrics(found["ranks"]),
                        "chunks@5": float(np.mean(found["chunks5"])),
                        "distinct@5": float(np.mean(found["distinct5"])),
                        "chunks": len(corpus.texts),
                        "pages": corpus.pages,
                        "truncated": float(np.mean(counts > window)),
                        "under40": float(np.mean(counts < 40)),
                        "ranks": dict(zip(found["ids"], found["ranks"], strict=True)),
                        "build_s": round(built, 1),
                        "at": time.strftime("%Y-%m-%d %H:%M:%S"),
                        "config": {
                            **{k: v for k, v in asdict(variant).items() if k != "name"},
                            "queries": precision,
                            "model": cache.model,
                            "prefixes": [ask, passage],
                        },
                    }
                )
    return rows


def table(rows: Sequence[dict[str, Any]]) -> str:
    lines = [
        "| variant | set | half | R@1 | R@5 | R@10 | MRR | page in 5 chunks | pages in 5 chunks"
        " | chunks | >256 wp | <40 wp |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        name = r["variant"] + (f" [{r['pages']} pages]" if r.get("subset") is not None else "")
        name += " [sample]" if r.get("sample") else ""
        name += f" [pages <= {r['small']} chunks]" if r.get("small") else ""
        lines.append(
            f"| {name} | {r['set']} | {r['half']} | {r['R@1']:.3f} | {r['R@5']:.3f} |"
            f" {r['R@10']:.3f} | {r['MRR']:.3f} | {r['chunks@5']:.3f} | {r['distinct@5']:.2f} |"
            f" {r['chunks']} | {r['truncated']:.1%} | {r['under40']:.1%} |"
        )
    return "\n".join(lines)


def parse_feedback(text: str) -> tuple[float, int]:
    weight, _, m = text.partition(":")
    return float(weight), int(m or 0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variant", action="append", help="variant name (repeatable)")
    parser.add_argument("--sets", default="python,git")
    parser.add_argument(
        "--subset",
        type=int,
        default=None,
        metavar="N",
        help="expected pages + N seeded distractors instead of every page",
    )
    parser.add_argument(
        "--sample", action="store_true", help="half of the questions (with --subset: their pages)"
    )
    parser.add_argument("--questions", type=int, default=None, help="only the first N questions")
    parser.add_argument(
        "--small-pages",
        type=int,
        metavar="N",
        help="only the questions whose expected pages have at most N chunks, over those pages"
        " alone (to compare a costly model with MiniLM on the same small corpus)",
    )
    parser.add_argument("--stats", action="store_true", help="chunk statistics, whole corpora")
    parser.add_argument(
        "--misses",
        metavar="VARIANT",
        help="questions not found at rank 1 (ranked by the first --rank and --feedback)",
    )
    parser.add_argument("--list", action="store_true")
    parser.add_argument(
        "--rank",
        action="append",
        metavar="KIND[:P]",
        help="page ranking (repeatable): max, top2:BETA, top2f:BETA, lse:T, title:MU, "
        "len:GAMMA, cent:MU, lead:MU",
    )
    parser.add_argument(
        "--feedback",
        action="append",
        metavar="A:M",
        help="query moved towards its M best chunks with weight A (repeatable; 0:0 = none)",
    )
    parser.add_argument("--shard", metavar="I/N", help="only embed shard I of N into the cache")
    parser.add_argument(
        "--queries",
        action="append",
        choices=("fp32", "int8"),
        help="how questions are encoded (repeatable; int8: EMBED_QUERY_PRECISION=int8)",
    )
    parser.add_argument(
        "--model",
        type=Path,
        metavar="PATH",
        help="instead of the product's MiniLM, for chunks and questions alike: a local"
        " sentence-transformers model directory (cached apart, keyed 'st:<directory name>') or a"
        " BERT-style .onnx graph (mean pooling, window 512; keyed 'onnx:<file name>')",
    )
    parser.add_argument("--query-prefix", default="", help="before each question (E5: 'query: ')")
    parser.add_argument(
        "--passage-prefix", default="", help="before each chunk and title (E5: 'passage: ')"
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads for --model (default 1)"
    )
    parser.add_argument(
        "--lexical",
        action="append",
        metavar="KIND[:k1=..,b=..,wt=..,wh=..,pool=1,budget=B]",
        help="BM25 page scores to fuse (repeatable, bench.bm25): chunk (embedded text),"
        " chunkf (title, headings, text fields), page (BM25F over whole pages); pool=1: over"
        " the vector candidates only; budget=B: over a budget of B postings (bm25.budgeted_chunks)",
    )
    parser.add_argument(
        "--fuse",
        action="append",
        metavar="SPEC",
        help="how each --lexical meets the vector page order (repeatable): alone, rrf:W[:K],"
        " minmax:W, z:W (W: the lexical side's weight), gate:T",
    )
    parser.add_argument(
        "--ensemble",
        type=Path,
        metavar="PATH",
        help="rank by the mean of MiniLM's and this sentence-transformers model's cosines"
        " (both caches filled first; EnsembleCache)",
    )
    parser.add_argument("--table", action="store_true", help="print every recorded result")
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    args = parser.parse_args(argv)
    results = args.dir / "results.jsonl"
    encode: Encode = local_encode
    window = chunking.EMBED_WINDOW
    if args.model is not None and args.model.suffix == ".onnx":
        encode, window = onnx_encoder(args.model, args.threads), ONNX_WINDOW
    elif args.model is not None:
        encode, window = st_encoder(args.model, args.threads), st_window(args.model)
    prefixes = (args.query_prefix, args.passage_prefix)
    if args.list:
        for v in VARIANTS.values():
            print(f"{v.name}: {v.note}")
        return
    if args.misses:
        from bench.levers_misses import misses

        cache = open_cache(args.dir, args.model)
        for name in [s for s in args.sets.split(",") if s]:
            for row in misses(
                VARIANTS[args.misses],
                cache,
                name,
                subset=args.subset,
                sample=args.sample,
                ranking=Ranking.parse(args.rank[0]) if args.rank else None,
                feedback=parse_feedback(args.feedback[0]) if args.feedback else (0.0, 0),
                encode=encode,
                prefixes=prefixes,
            ):
                print(json.dumps(row, ensure_ascii=False))
        return
    if args.shard:
        # Embed only this shard's share of the chunks (I of N, by text hash) into the cache, so
        # N processes of one thread each fill it in parallel; then run without --shard.
        reverse = args.shard.endswith("r")  # "0/2r": the same shard, longest texts first
        index, count = (int(x) for x in args.shard.rstrip("r").split("/"))
        cache = open_cache(args.dir, args.model)
        for name in [s for s in args.sets.split(",") if s]:
            only = None
            if args.subset is not None:
                questions = rag_eval.load_questions(CORPORA[name][1])
                if args.sample:  # the pages the measuring run will read
                    questions = [q for q in questions if in_sample(q.id)]
                only = pages_subset(name, questions, args.subset)
            for variant in args.variant or [DEFAULT_VARIANT]:
                corpus = build_corpus(name, VARIANTS[variant], cache_dir=args.dir, only=only)
                texts = [args.passage_prefix + t for t in corpus.texts]
                mine = [t for t in texts if int(cache.key(t)[:8], 16) % count == index]
                cache.embed(mine, encode, longest_first=reverse)
        return
    if args.stats:
        for name in [s for s in args.sets.split(",") if s]:
            for mode in ("raw", "clean"):
                print(json.dumps(corpus_stats(name, args.dir, mode), ensure_ascii=False))
        return
    if args.table:
        rows = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
        print(table(rows))
        return
    cache: VectorCache = open_cache(args.dir, args.model)
    if args.ensemble is not None:
        other = (open_cache(args.dir, args.ensemble), st_encoder(args.ensemble, args.threads))
        cache = EnsembleCache((cache, other[0]), (encode, other[1]))
    sets = [s for s in args.sets.split(",") if s]
    for name in sets:
        if not CORPORA[name][0].is_dir():
            raise SystemExit(
                f"{CORPORA[name][0]} is missing: apt-get install -y python3-doc git-doc"
            )
    out = []
    for name, precision in [
        (v, q) for v in args.variant or [DEFAULT_VARIANT] for q in args.queries or ["fp32"]
    ]:
        rows = run_variant(
            VARIANTS[name],
            cache,
            sets=sets,
            subset=args.subset,
            sample=args.sample,
            limit=args.questions,
            rankings=[Ranking.parse(r) for r in args.rank or ["max"]],
            feedbacks=[parse_feedback(f) for f in args.feedback or ["0:0"]],
            precision=precision,
            encode=encode,
            window=window,
            small=args.small_pages,
            prefixes=prefixes,
            lexicals=[bm25.Lexical.parse(x) for x in args.lexical or []],
            fusions=[bm25.Fusion.parse(x) for x in args.fuse or ["alone"]],
        )
        with results.open("a") as f:
            for row in rows:
                f.write(json.dumps(row) + "\n")
        out += rows
    print(table(out))
    print(f"(embedded {cache.encoded} new texts)")


if __name__ == "__main__":
    main()

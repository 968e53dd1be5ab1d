"""How much of each question BM25 over a postings budget scores exactly (issue 12, fourteenth
session; the quality of ``--lexical chunk:k1=0.9,budget=B`` is ``bench.retrieval_levers``').

    .venv/bin/python -m bench.bm25_budget --sets python,git --budgets 1000,2000,4000,8000

For each set (its whole corpus, the harness's ``name`` variant, each chunk's embedded text
tokenized as the ``chunk`` kind does) and budget B, over the shipped questions: how many have
E = T (every query term found in the corpus is essential, so the lexical list is exact BM25's),
how many have no essential term (E empty: the lexical list is the vector candidates' alone), the
median share of the question's postings E holds, and the median and p95 postings of T. Each B is
also run scaled to a workspace of ``--at`` chunks (default 100,000: B x chunks / 100,000, the
"B at 100k (simulated)" rows), since the same B covers a smaller share of a larger corpus.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bench import bm25
from bench.embed_cache import DEFAULT_DIR
from bench.levers_corpus import CORPORA, DEFAULT_VARIANT, VARIANTS, build_corpus
from eval.splits import SPLITS, split_of
from rag.knowledge import eval as rag_eval


def scaled(budget: int, chunks: int, at: int) -> int:
    """``budget`` for a corpus of ``chunks`` chunks that covers the share ``budget`` covers of
    a workspace of ``at`` chunks (rounded)."""
    return round(budget * chunks / at)


def budget_rows(
    index: bm25.Index, questions: Sequence[list[str]], halves: Sequence[str], budget: int
) -> dict[str, float | int]:
    """E = T counts (all and per half), E empty, the share of postings in E, T's postings."""
    exact = dict.fromkeys(SPLITS, 0)
    empty = 0
    shares, totals = [], []
    for terms, half in zip(questions, halves, strict=True):
        known = [t for t in dict.fromkeys(terms) if t in index.postings]
        essential = index.essential(terms, budget)
        df = {t: len(index.postings[t][0]) for t in known}
        total = sum(df.values())
        exact[half] += len(essential) == len(known)
        empty += not essential
        shares.append(sum(df[t] for t in essential) / total if total else 1.0)
        totals.append(total)
    return {
        "exact": sum(exact.values()),
        **{f"exact {h}": exact[h] for h in SPLITS},
        "empty": empty,
        "share": statistics.median(shares),
        "postings p50": statistics.median(totals),
        "postings p95": float(np.percentile(totals, 95)),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", default="python,git")
    parser.add_argument("--budgets", default="1000,2000,4000,8000")
    parser.add_argument("--at", type=int, default=100_000, help="the simulated workspace size")
    parser.add_argument("--dir", default=str(DEFAULT_DIR), help="the harness's cache (parses)")
    args = parser.parse_args(argv)
    print(
        "| set | B | budget used | questions | E = T (tune / held-out) | E empty"
        " | postings in E, median share | T's postings p50 / p95 |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name in [s for s in args.sets.split(",") if s]:
        corpus = build_corpus(name, VARIANTS[DEFAULT_VARIANT], cache_dir=Path(args.dir))
        index = bm25.LexicalIndexes(corpus).index("chunk")
        asked = rag_eval.load_questions(CORPORA[name][1])
        terms = [bm25.tokenize(q.question) for q in asked]
        halves = [split_of(q.id) for q in asked]
        for budget in (int(b) for b in args.budgets.split(",")):
            for label, used in (
                (f"{budget}", budget),
                (f"{budget} at {args.at // 1000}k (simulated)", scaled(budget, index.n, args.at)),
            ):
                r = budget_rows(index, terms, halves, used)
                print(
                    f"| {name} ({index.n} chunks) | {label} | {used} | {len(asked)} |"
                    f" {r['exact']} ({r['exact tune']} / {r['exact heldout']}) | {r['empty']} |"
                    f" {r['share']:.0%} | {r['postings p50']:.0f} / {r['postings p95']:.0f} |"
                )


if __name__ == "__main__":
    main()

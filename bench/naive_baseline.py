"""Issue 12's naive script on our two eval sets, beside the product's ranking in the same run.

The issue's floor is "a naive script: page text in 180-word windows, MiniLM, pages ranked by
their best window" (and the same with the page title before each window). This is that script:

- each page's visible text: BeautifulSoup (lxml) ``get_text`` of the ``<body>``, split on white
  space; no structure, no boilerplate removal, no product parser;
- consecutive 180-word windows, no overlap (the last one shorter); ``--stride N`` adds a row with
  windows every N words (overlapping when N < 180);
- every window embedded as it is by the product's local all-MiniLM-L6-v2 (which reads its first
  256 word pieces, like any script calling the model), the question embedded alone;
- cosine; each page scored by its best window over every window of the corpus; the top 10 pages.
  The "title" row puts the page's ``<title>`` text and a newline before each window.

Scored with the harness's metric code (``bench.retrieval_levers.metrics``: recall@1/5/10 and MRR
of the first expected page in the top 10) per tune / held-out half and over all questions, beside
the product's text and ranking from ``bench.retrieval_levers`` (variant ``name``, pages by their
two best candidate chunks, feedback 0.25 x 10). Vectors go through the harness's on-disk cache
(``.cache/levers``), so a rerun embeds nothing.

    python -m bench.naive_baseline                    # both sets
    python -m bench.naive_baseline --sets git --no-product
    python -m bench.naive_baseline --shard 0/2        # only embed shard 0 of 2 into the cache

Needs `apt-get install -y python3-doc git-doc`.
"""

from __future__ import annotations

import argparse
import functools
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from bs4 import BeautifulSoup, XMLParsedAsHTMLWarning

from bench.embed_cache import DEFAULT_DIR, EmbeddingCache
from bench.levers_corpus import CORPORA, VARIANTS, files_of, local_encode, pages_subset
from bench.levers_eval import metrics
from bench.page_ranking import Ranking
from bench.retrieval_levers import run_variant
from eval.splits import SPLITS, split_of
from rag.knowledge import eval as rag_eval

WORDS = 180
warnings.filterwarnings("ignore", category=XMLParsedAsHTMLWarning)  # git-doc is XHTML
PRODUCT = "product (name, top2f:0.5, feedback 0.25x10)"


def page_text(path: Path) -> tuple[str, list[str]]:
    """The page's ``<title>`` and the words of its body's visible text."""
    soup = BeautifulSoup(path.read_bytes(), "lxml")
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    body = soup.body or soup
    return title, body.get_text(" ").split()


def windows(words: Sequence[str], size: int = WORDS, stride: int = WORDS) -> list[str]:
    """Windows of ``size`` words every ``stride`` words, up to the one that reaches the end."""
    starts = range(0, max(1, len(words) - size + stride), stride) if words else range(0)
    return [" ".join(words[i : i + size]) for i in starts if words[i : i + size]]


@functools.cache
def page_windows(name: str, stride: int) -> list[tuple[str, str, list[str]]]:
    """Per page of the set's corpus: its source, its title and its windows."""
    pages = []
    for path, source in files_of(CORPORA[name][0]):
        title, words = page_text(path)
        pages.append((source, title, windows(words, WORDS, stride)))
    return pages


def naive_corpus(
    name: str, titled: bool, stride: int, only: set[str] | None = None
) -> tuple[list[str], list[str]]:
    """Per window of every page (``only``: of these pages): its page's source and its text."""
    sources: list[str] = []
    texts: list[str] = []
    for source, title, cut in page_windows(name, stride):
        if only is not None and source not in only:
            continue
        for window in cut:
            sources.append(source)
            texts.append(f"{title}\n{window}" if titled and title else window)
    return sources, texts


def expected_pages(name: str) -> set[str]:
    """The set's expected pages (the harness's ``--subset 0``)."""
    return pages_subset(name, rag_eval.load_questions(CORPORA[name][1]), 0)


def rank_by_best_window(scores: np.ndarray, sources: Sequence[str], depth: int) -> list[str]:
    """The ``depth`` pages whose best window scores highest."""
    best: dict[str, float] = {}
    for source, score in zip(sources, scores.tolist(), strict=True):
        if score > best.get(source, -2.0):
            best[source] = score
    return sorted(best, key=lambda s: -best[s])[:depth]


def naive_ranks(
    name: str, cache: EmbeddingCache, titled: bool, stride: int, only: set[str] | None = None
) -> tuple[dict[str, int | None], int, int]:
    """Per question id: the rank of its first expected page (None past 10); windows; pages."""
    sources, texts = naive_corpus(name, titled, stride, only)
    vectors = cache.embed(texts, local_encode)
    questions = rag_eval.load_questions(CORPORA[name][1])
    asked = cache.embed([q.question for q in questions], local_encode)
    ranks = {}
    for question, row in zip(questions, asked @ vectors.T, strict=True):
        ordered = rank_by_best_window(row, sources, rag_eval.DEPTH)
        ranks[question.id] = rag_eval.first_rank(ordered, question.expected)
    return ranks, len(texts), len(set(sources))


def product_ranks(name: str, cache: EmbeddingCache, subset: int | None) -> dict[str, int | None]:
    """The harness's default variant with the product's page ranking and feedback."""
    rows = run_variant(
        VARIANTS["name"],
        cache,
        sets=[name],
        subset=subset,
        rankings=[Ranking.parse("top2f:0.5")],
        feedbacks=[(0.25, 10)],
    )
    return {qid: rank for row in rows for qid, rank in row["ranks"].items()}


def rows_of(system: str, name: str, ranks: dict[str, int | None], size: str) -> list[str]:
    out = []
    for half in (*SPLITS, "all"):
        found = [r for q, r in ranks.items() if half == "all" or split_of(q) == half]
        m = metrics(found)
        out.append(
            f"| {system} | {name} | {half} ({m['n']}) | {m['R@1']:.3f} | {m['R@5']:.3f} |"
            f" {m['R@10']:.3f} | {m['MRR']:.3f} | {size} |"
        )
    return out


def fill_shard(sets: Sequence[str], cache: EmbeddingCache, shard: str, strides: list[int]) -> None:
    """Embed this shard's share (I of N, by text hash) of every naive text into the cache: the
    untitled windows before the titled ones, each set's expected pages before its others."""
    index, count = (int(x) for x in shard.split("/"))
    for titled in (False, True):
        for stride in strides:
            for name in sets:
                expected = expected_pages(name)
                for part in (expected, {s for s, _, _ in page_windows(name, stride)} - expected):
                    _, texts = naive_corpus(name, titled, stride, part)
                    mine = [t for t in texts if int(cache.key(t)[:8], 16) % count == index]
                    cache.embed(mine, local_encode)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", default="git,python")
    parser.add_argument("--stride", type=int, action="append", help="extra rows: windows every N")
    parser.add_argument("--no-product", action="store_true", help="the naive rows alone")
    parser.add_argument(
        "--expected-pages",
        action="store_true",
        help="each set's expected pages alone (the harness's --subset 0), not the whole corpus",
    )
    parser.add_argument("--untitled", action="store_true", help="without the title rows")
    parser.add_argument("--shard", metavar="I/N", help="only embed shard I of N into the cache")
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    args = parser.parse_args(argv)
    cache = EmbeddingCache(args.dir / "embeddings.sqlite")
    sets = [s for s in args.sets.split(",") if s]
    strides = [WORDS, *(args.stride or [])]
    if args.shard:
        fill_shard(sets, cache, args.shard, strides)
        return
    lines = [
        "| system | set | half (questions) | R@1 | R@5 | R@10 | MRR@10 | texts embedded |",
        "|---|---|---|---|---|---|---|---|",
    ]
    subset = 0 if args.expected_pages else None
    for name in sets:
        started = time.perf_counter()
        only = expected_pages(name) if args.expected_pages else None
        for titled in (False,) if args.untitled else (False, True):
            for stride in strides:
                ranks, count, pages = naive_ranks(name, cache, titled, stride, only)
                system = f"naive, {WORDS}-word windows" + ("" if stride == WORDS else f"/{stride}")
                system += ", title before each" if titled else ""
                lines += rows_of(system, name, ranks, f"{count} windows, {pages} pages")
        if not args.no_product:
            lines += rows_of(PRODUCT, name, product_ranks(name, cache, subset), "chunks (harness)")
        print(f"{name}: {time.perf_counter() - started:.0f} s", flush=True)
    print("\n".join(lines))
    print(f"(embedded {cache.encoded} new texts)")


if __name__ == "__main__":
    main()

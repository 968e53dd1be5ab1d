"""When to say "I don't know": ``RETRIEVAL_MIN_SIMILARITY`` against answerable and
unanswerable questions, both halves, three corpora.

Chat answers from the passages of a question's best pages only when one of them is close
enough: ``rag.chat.stages.retrieve`` keeps the hits whose cosine to the question (the page's
best candidate chunk, not the feedback-moved vector) reaches ``RETRIEVAL_MIN_SIMILARITY`` and
says "I don't know" (and records the question as unanswered) when none does. This measures that
decision:

- answerable questions: the retrieval eval sets (``eval/python-docs.jsonl``,
  ``eval/git-docs.jsonl``) and ``eval/demo.jsonl`` (26 visitor questions over the demo
  workspace's four documents, which ``make run`` seeds);
- unanswerable questions: ``eval/unanswerable.jsonl``, 50 per documentation corpus and 24 for
  the demo, each marked ``adjacent`` (the corpus's neighbourhood: another product, a third-party
  library, a hosting service) or ``offtopic``; checked against the pages with grep, written
  without looking at any score.

Every question is ranked as the product ranks (the harness of ``bench.retrieval_levers``:
product parsing and chunking, MiniLM, the question moved by feedback 0.25 x 10, pages by their
two best candidate chunks), and its "decision score" is the largest cosine to the question among
the best chunks of its ``RETRIEVAL_K`` pages. At a threshold t an answerable question is
answered when its score reaches t ("answered with its page": and an expected page is among the
five), an unanswerable one is declined when its score is under t. A threshold is chosen on the
tune halves only (the mean over the three sets of the balanced accuracy: half the share of
answerable questions answered, half the share of unanswerable ones declined); the held-out
halves are the result.

    python -m bench.dont_know                 # the sweep and the comparison
    python -m bench.dont_know --compare 0.28  # the threshold to compare with (default: the setting)

Needs `apt-get install -y python3-doc git-doc`; vectors go through the harness's cache
(``.cache/levers``), so after ``bench.retrieval_levers`` it embeds only the questions.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.common import ROOT
from bench.embed_cache import DEFAULT_DIR, EmbeddingCache
from bench.page_ranking import Ranking, rank_pages

sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.levers_corpus import CORPORA, DEFAULT_VARIANT, VARIANTS, build_corpus, local_encode
from bench.levers_eval import feedback_queries
from core.config import Settings
from eval.splits import SPLITS, split_of
from rag.chat.normalize import content_terms
from rag.chat.relevance import COURTESY_WORDS, QUESTION_VERBS
from rag.knowledge import eval as rag_eval
from rag.knowledge import retrieval

UNANSWERABLE = ROOT / "eval" / "unanswerable.jsonl"
SETS = {"python": "python-docs", "git": "git-docs", "demo": "demo"}


@dataclass(frozen=True)
class Scored:
    id: str
    question: str
    answerable: bool
    score: float  # the largest cosine to the question among its k pages' best chunks
    found: bool  # an expected page among the k pages (answerable questions only)
    kind: str = ""
    unknown: int = 0  # the question's content words that no chunk of the corpus has
    # per page among the k: (cosine to the question, share of the question's content words
    # in that page's best chunk, its header included)
    passages: tuple[tuple[float, float], ...] = ()

    @property
    def covered(self) -> float:
        return max((c for _, c in self.passages), default=0.0)

    @property
    def half(self) -> str:
        return split_of(self.id)


def unanswerable(set_name: str) -> list[dict[str, str]]:
    rows = [json.loads(line) for line in UNANSWERABLE.read_text().splitlines() if line.strip()]
    return [row for row in rows if row["set"] == set_name]


def decision_scores(
    asked: np.ndarray, vectors: np.ndarray, sources: Sequence[str], k: int
) -> list[tuple[list[float], list[str], list[int]]]:
    """Per question: the largest cosine to the question among the best candidate chunks of its
    ``k`` pages (the product's ranking), those pages, and those chunks."""
    weight, m = retrieval.FEEDBACK_WEIGHT, retrieval.FEEDBACK_CHUNKS
    moved = feedback_queries(asked, vectors, weight, m)
    ranking = Ranking("top2f", retrieval.SECOND_CHUNK_WEIGHT)
    raw = asked @ vectors.T
    searched = moved @ vectors.T
    out = []
    pool_size = min(retrieval.candidate_count(k), vectors.shape[0])
    for row_raw, row in zip(raw, searched, strict=True):
        pages = rank_pages(row, sources, k, ranking)
        pool = np.argpartition(-row, pool_size - 1)[:pool_size]
        best: dict[str, int] = {}
        for i in pool:
            source = sources[int(i)]
            if source not in best or row[int(i)] > row[best[source]]:
                best[source] = int(i)
        out.append(([float(row_raw[best[p]]) for p in pages], pages, [best[p] for p in pages]))
    return out


GENERIC: set[str] = set(QUESTION_VERBS | COURTESY_WORDS)
"""Stems left out of a question's words before counting: the product's (``--generic`` adds
more; ``--generic none`` leaves none out, the rule as first measured)."""


def lexical(
    question: str, vocabulary: set[str], passages: Sequence[str]
) -> tuple[int, list[float]]:
    """The question's content words no chunk has, and per passage the share of them it has."""
    words = content_terms(question) - GENERIC
    if not words:
        return 0, [1.0] * len(passages)
    return len(words - vocabulary), [len(words & content_terms(p)) / len(words) for p in passages]


def score_set(name: str, cache: EmbeddingCache, k: int) -> list[Scored]:
    corpus = build_corpus(name, VARIANTS[DEFAULT_VARIANT], cache_dir=cache.path.parent)
    vectors = cache.embed(corpus.texts, local_encode)
    answerable = rag_eval.load_questions(CORPORA[name][1])
    negatives = unanswerable(SETS[name])
    texts = [q.question for q in answerable] + [row["question"] for row in negatives]
    asked = cache.embed(texts, local_encode)
    scored = decision_scores(asked, vectors, corpus.sources, k)
    vocabulary: set[str] = set()
    for text in corpus.texts:
        vocabulary |= content_terms(text)
    out = []
    for q, (sims, pages, chunks) in zip(answerable, scored, strict=False):
        found = rag_eval.first_rank(pages, q.expected, depth=k) is not None
        unknown, covered = lexical(q.question, vocabulary, [corpus.texts[i] for i in chunks])
        both = tuple(zip(sims, covered, strict=True))
        out.append(Scored(q.id, q.question, True, max(sims), found, "", unknown, both))
    for row, (sims, _, chunks) in zip(negatives, scored[len(answerable) :], strict=True):
        unknown, covered = lexical(row["question"], vocabulary, [corpus.texts[i] for i in chunks])
        both = tuple(zip(sims, covered, strict=True))
        out.append(
            Scored(row["id"], row["question"], False, max(sims), False, row["kind"], unknown, both)
        )
    return out


@dataclass(frozen=True)
class Outcome:
    answered: float  # share of answerable questions answered
    answered_found: float  # share answered with an expected page among the k
    declined: float  # share of unanswerable questions declined
    n_answerable: int
    n_unanswerable: int

    @property
    def balanced(self) -> float:
        return (self.answered + self.declined) / 2


@dataclass(frozen=True)
class Rule:
    """Answer when a passage's cosine reaches ``high``, or reaches ``low`` with at least
    ``coverage`` of the question's content words in that passage (``low == high``: the cosine
    alone, today's rule)."""

    low: float
    high: float
    coverage: float = 1.0

    @property
    def name(self) -> str:
        if self.low >= self.high:
            return f"{self.high:.2f}"
        return f"{self.high:.2f}, or {self.low:.2f} with {self.coverage:.2f} of the words"

    def answers(self, r: Scored) -> bool:
        return any(s >= self.high or (s >= self.low and c >= self.coverage) for s, c in r.passages)


def outcome(rows: Sequence[Scored], threshold: float | Rule) -> Outcome:
    rule = threshold if isinstance(threshold, Rule) else Rule(threshold, threshold)
    pos = [r for r in rows if r.answerable]
    neg = [r for r in rows if not r.answerable]
    return Outcome(
        answered=float(np.mean([rule.answers(r) for r in pos])),
        answered_found=float(np.mean([rule.answers(r) and r.found for r in pos])),
        declined=float(np.mean([not rule.answers(r) for r in neg])),
        n_answerable=len(pos),
        n_unanswerable=len(neg),
    )


def choose(per_set: dict[str, list[Scored]], grid: Sequence[float]) -> tuple[float, list[str]]:
    """The threshold with the best mean balanced accuracy over the sets' tune halves (the
    lowest of equals: fewer "I don't know"), and the sweep's table."""
    header = "| threshold | " + " | ".join(per_set) + " | mean |"
    lines = [header, "|---" * (len(per_set) + 2) + "|"]
    best, best_value = grid[0], -1.0
    for t in grid:
        values = [
            outcome([r for r in rows if r.half == "tune"], t).balanced for rows in per_set.values()
        ]
        mean = float(np.mean(values))
        lines.append(f"| {t:.2f} | " + " | ".join(f"{v:.3f}" for v in values) + f" | {mean:.3f} |")
        if mean > best_value + 1e-9:
            best, best_value = t, mean
    return best, lines


def choose_rule(
    per_set: dict[str, list[Scored]], grid: Sequence[float], coverages: Sequence[float]
) -> tuple[Rule, float]:
    """The two-threshold rule with the best mean tune balanced accuracy (ties: the simplest,
    then the lowest thresholds)."""
    best, best_value = Rule(grid[0], grid[0]), -1.0
    for high in grid:
        for low in [t for t in grid if t <= high]:
            for coverage in coverages if low < high else (1.0,):
                rule = Rule(low, high, coverage)
                value = float(
                    np.mean(
                        [
                            outcome([r for r in rows if r.half == "tune"], rule).balanced
                            for rows in per_set.values()
                        ]
                    )
                )
                if value > best_value + 1e-9:
                    best, best_value = rule, value
    return best, best_value


def quantiles(rows: Sequence[Scored]) -> str:
    scores = np.array([r.score for r in rows])
    q = np.quantile(scores, [0.05, 0.25, 0.5, 0.75, 0.95])
    return " / ".join(f"{v:.3f}" for v in q)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", default="python,git,demo")
    parser.add_argument("--compare", type=float, default=None, help="default: the setting")
    parser.add_argument("--grid", default="0.10:0.45:0.01", help="FROM:TO:STEP")
    parser.add_argument("--list", type=float, default=None, help="print each question at T")
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    parser.add_argument(
        "--rule", action="append", default=[], help="HIGH:LOW:SHARE, a rule to report as well"
    )
    parser.add_argument(
        "--generic", default="", help="comma-separated words a question's words leave out"
    )
    args = parser.parse_args(argv)
    if args.generic == "none":
        GENERIC.clear()
    else:
        GENERIC.update(content_terms(" ".join(args.generic.split(","))))

    settings = Settings()
    current = args.compare if args.compare is not None else settings.retrieval_min_similarity
    k = settings.retrieval_k
    start, stop, step = (float(x) for x in args.grid.split(":"))
    grid = [round(x, 4) for x in np.arange(start, stop + step / 2, step)]
    cache = EmbeddingCache(args.dir / "embeddings.sqlite")
    per_set = {name: score_set(name, cache, k) for name in args.sets.split(",")}

    print("decision scores, 5 / 25 / 50 / 75 / 95 % quantiles:\n")
    print("| set | answerable | unanswerable: adjacent | unanswerable: off-topic |")
    print("|---|---|---|---|")
    for name, rows in per_set.items():
        pos = [r for r in rows if r.answerable]
        adj = [r for r in rows if not r.answerable and r.kind == "adjacent"]
        off = [r for r in rows if not r.answerable and r.kind == "offtopic"]
        print(f"| {name} | {quantiles(pos)} | {quantiles(adj)} | {quantiles(off)} |")

    extra = []
    for given in args.rule:
        high, low, share = (float(x) for x in given.split(":"))
        extra.append(Rule(low, high, share))
    chosen, sweep = choose(per_set, grid)
    print("\nbalanced accuracy on the tune halves:\n")
    print("\n".join(sweep))
    print(f"\nchosen on the tune halves: {chosen:.2f} (compared with {current:.2f})")
    rule, value = choose_rule(per_set, grid, (0.5, 0.6, 0.67, 0.75, 0.8, 1.0))
    print(f"two thresholds and the words, chosen on the tune halves: {rule.name} ({value:.3f})\n")
    print(
        "| set | half | threshold | answerable answered | answered with its page"
        " | unanswerable declined | balanced |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, rows in per_set.items():
        for half in SPLITS:
            part = [r for r in rows if r.half == half]
            for t in [Rule(current, current), Rule(chosen, chosen), rule, *extra]:
                o = outcome(part, t)
                print(
                    f"| {name} | {half} ({o.n_answerable} + {o.n_unanswerable}) | {t.name} |"
                    f" {o.answered:.3f} | {o.answered_found:.3f} | {o.declined:.3f} |"
                    f" {o.balanced:.3f} |"
                )
    if args.list is not None:
        print()
        for name, rows in per_set.items():
            for r in sorted(rows, key=lambda r: r.score):
                verdict = "answer" if r.score >= args.list else "decline"
                label = "answerable" if r.answerable else f"unanswerable/{r.kind}"
                print(
                    f"{name}\t{r.half}\t{r.score:.3f}\tunknown={r.unknown}\t"
                    f"covered={r.covered:.2f}\t{verdict}\t{label}\t{r.question}"
                )


if __name__ == "__main__":
    main()

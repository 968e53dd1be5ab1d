"""Follow-ups without a model: which question retrieval reads, measured on the demo.

Without a language model a follow-up ("and per year?") cannot be rewritten; the product reads
it together with the visitor's last question, or alone. ``eval/demo-follow-ups.jsonl`` holds 48
two-turn conversations over the demo's documents (the previous question, the follow-up, the
page that answers it), written from the documents before anything was measured: real follow-ups
that need the previous question and changes of topic that do not. Both halves by id
(``eval/splits.py``).

Strategies (only for a message ``looks_like_follow_up`` detects; any other is read alone):

- ``joined``: the last question, then the message (before this stop);
- ``subject``: the message alone when it names its subject (two content words of its own, no
  continuation opening), else joined (``names_its_subject``);
- ``closer``: both readings searched, the one whose best passage is closer to its question
  (the cosine the "I don't know" rule reads) answers;
- ``alone-first``: the message alone when the rule finds a relevant passage for it, else joined;
- ``alone-first-unless-continued``: the same, but joined whenever the message opens as a
  continuation ("and per year?": ``follow_ups.continues``); what the product does since stop 62.

A conversation counts as answered right when the reading's best page is an expected one and the
"I don't know" rule (``RETRIEVAL_MIN_SIMILARITY`` and the word match) lets it answer.

    python -m bench.follow_ups
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass

from bench.common import ROOT
from bench.dont_know import decision_scores, lexical
from bench.embed_cache import DEFAULT_DIR, EmbeddingCache

sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.levers_corpus import DEFAULT_VARIANT, VARIANTS, build_corpus, local_encode
from core.config import Settings
from eval.splits import SPLITS, split_of
from rag.chat.follow_ups import continues, looks_like_follow_up
from rag.chat.normalize import content_terms

FOLLOW_UPS = ROOT / "eval" / "demo-follow-ups.jsonl"


def names_its_subject(message: str) -> bool:
    """The ``subject`` lever (shipped for a few hours this stop, then measured here and taken
    back): a message with two content words of its own that does not open as a continuation
    ("Does it work on Linux?") is read alone."""
    return not continues(message) and len(content_terms(message)) >= 2


@dataclass(frozen=True)
class Reading:
    text: str
    pages: list[str]
    best: float  # the largest cosine among its pages' best chunks
    relevant: bool  # the "I don't know" rule lets it answer


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--list", action="store_true", help="each conversation's readings")
    args = parser.parse_args(argv)
    settings = Settings()
    high = settings.retrieval_min_similarity
    low = settings.retrieval_word_match_similarity
    share = settings.retrieval_word_match_share
    k = settings.retrieval_k
    cache = EmbeddingCache(DEFAULT_DIR / "embeddings.sqlite")
    corpus = build_corpus("demo", VARIANTS[DEFAULT_VARIANT], cache_dir=cache.path.parent)
    vectors = cache.embed(corpus.texts, local_encode)
    rows = [json.loads(line) for line in FOLLOW_UPS.read_text().splitlines() if line.strip()]

    def read(text: str) -> Reading:
        [(sims, pages, chunks)] = decision_scores(local_encode([text]), vectors, corpus.sources, k)
        _, covered = lexical(text, set(), [corpus.texts[i] for i in chunks])
        relevant = any(
            s >= high or (s >= low and c >= share) for s, c in zip(sims, covered, strict=True)
        )
        return Reading(text, pages, max(sims), relevant)

    def joined(row: dict[str, str]) -> Reading:
        return read(f"{row['previous']} {row['question']}")

    def alone(row: dict[str, str]) -> Reading:
        return read(row["question"])

    strategies: dict[str, Callable[[dict[str, str]], Reading]] = {
        "joined": joined,
        "subject": lambda r: alone(r) if names_its_subject(r["question"]) else joined(r),
        "closer": lambda r: max(alone(r), joined(r), key=lambda x: x.best),
        "alone-first": lambda r: alone(r) if alone(r).relevant else joined(r),
        "alone-first-unless-continued": lambda r: (
            joined(r) if continues(r["question"]) or not alone(r).relevant else alone(r)
        ),
    }
    print("| strategy | half | answered with its page | answered elsewhere | I don't know |")
    print("|---|---|---|---|---|")
    for name, strategy in strategies.items():
        for half in SPLITS:
            part = [r for r in rows if split_of(r["id"]) == half]
            right = wrong = declined = 0
            for row in part:
                reading = strategy(row) if looks_like_follow_up(row["question"]) else alone(row)
                if not reading.relevant:
                    declined += 1
                elif reading.pages[0] in row["expected"]:
                    right += 1
                else:
                    wrong += 1
            n = len(part)
            shares = " | ".join(f"{x / n:.3f}" for x in (right, wrong, declined))
            print(f"| {name} | {half} ({n}) | {shares} |")
    if args.list:
        for row in rows:
            a, j = alone(row), joined(row)
            print(
                f"{row['id']} {split_of(row['id'])}: {row['question']!r} alone {a.pages[0]}"
                f" {a.best:.3f} {a.relevant}; joined {j.pages[0]} {j.best:.3f} {j.relevant};"
                f" expected {row['expected']}"
            )


if __name__ == "__main__":
    main()

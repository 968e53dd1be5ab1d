"""When a semantic match may answer: FAQ and response-cache matches on hand-written pairs.

The FAQ answers a question within ``FAQ_SIMILARITY_THRESHOLD`` cosine of one of its variants,
the response cache one within ``SEMANTIC_CACHE_SIMILARITY`` of a cached question; with the
local MiniLM, questions that differ in their one decisive word ("enable"/"disable",
Saturday/Sunday, "included"/"not included") are that close. ``eval/faq_matches.jsonl`` holds
hand-written pairs (stored question, visitor's question) labelled ``same`` (a paraphrase: the
stored answer is the one the visitor wants) or ``different`` (a near miss whose answer
differs), split into halves balanced by label (``eval/matches.py``).

For each rule and threshold, each half: paraphrases answered (``same`` pairs at or above the
threshold that the rule lets through) and wrong answers (``different`` pairs let through).
Rules (``rag.chat.match_guard``):

- ``cosine``: the threshold alone (the product before the words check);
- ``neg+num``: refused when one question is negated and the other not, or their numbers differ;
- ``swap``: also refused when each question has a content stem the other lacks (the review's
  rule: ``content_terms``' stems, no synonyms);
- ``swap+syn``: ``swap`` with FAQ synonyms folded (``contradicts``, what the product runs);
- ``new-word``: refused when the visitor's question has any content stem (synonyms folded) the
  stored one lacks: stricter, one-sided.

A rule and threshold is chosen on the tune half by ``utility`` = paraphrases answered (share)
- 3 x wrong answers (share): a wrong answer (confident, word for word, uncited) costs more than
a paraphrase sent on to retrieval, which still answers it from the documents. Held-out reports.

    python -m bench.faq_matches            # the tables, both halves
    python -m bench.faq_matches --misses tune --rule swap+syn --threshold 0.8
    python -m bench.faq_matches --write    # also docs/benchmarks.md's section

Offline: the bundled MiniLM (``LocalEmbedder``, one thread), never a download.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from bench.common import ROOT, Table, add_write_options, write_section, writes_docs

sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from core.config import Settings
from eval.matches import halves, load
from eval.splits import SPLITS
from rag.chat.match_guard import contradicts, words

THRESHOLDS = (0.60, 0.65, 0.70, 0.72, 0.75, 0.78, 0.80, 0.83, 0.86, 0.88, 0.90, 0.93, 0.95, 0.97)
WRONG_COST = 3.0


def _neg_num(asked: str, stored: str) -> bool:
    a, s = words(asked), words(stored)
    return a.negated != s.negated or a.numbers != s.numbers


def _new_word(asked: str, stored: str) -> bool:
    return _neg_num(asked, stored) or bool(words(asked).content - words(stored).content)


RULES: dict[str, Callable[[str, str], bool]] = {
    "cosine": lambda asked, stored: False,
    "neg+num": _neg_num,
    "swap": lambda asked, stored: contradicts(asked, stored, synonyms=False) is not None,
    "swap+syn": lambda asked, stored: contradicts(asked, stored) is not None,
    "new-word": _new_word,
}
"""Each rule: does it refuse the visitor's question ``asked`` near ``stored``?"""


def cosines(pairs: list[dict[str, Any]]) -> np.ndarray:
    from rag.knowledge.embeddings import LocalEmbedder

    embedder = LocalEmbedder(batch_size=64, threads=1)
    stored = embedder._encode([p["stored"] for p in pairs])
    asked = embedder._encode([p["asked"] for p in pairs])
    return np.einsum("ij,ij->i", np.asarray(stored), np.asarray(asked))


def score(
    pairs: list[dict[str, Any]], sims: np.ndarray, rule: str, threshold: float
) -> tuple[int, int, int, int]:
    """(same answered, same pairs, different answered, different pairs)."""
    refuse = RULES[rule]
    kept = {"same": 0, "different": 0}
    total = {"same": 0, "different": 0}
    for pair, sim in zip(pairs, sims, strict=True):
        total[pair["label"]] += 1
        if sim >= threshold and not refuse(pair["asked"], pair["stored"]):
            kept[pair["label"]] += 1
    return kept["same"], total["same"], kept["different"], total["different"]


def utility(same: int, n_same: int, wrong: int, n_diff: int) -> float:
    return same / n_same - WRONG_COST * wrong / n_diff


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--misses", choices=SPLITS, help="list one half's misses of a rule")
    parser.add_argument("--rule", choices=list(RULES), default="swap+syn")
    parser.add_argument("--threshold", type=float, default=None)
    add_write_options(parser, default=False)
    args = parser.parse_args(argv)
    settings = Settings()
    current = {
        settings.faq_similarity_threshold: "FAQ_SIMILARITY_THRESHOLD",
        settings.semantic_cache_similarity: "SEMANTIC_CACHE_SIMILARITY",
    }
    pairs = load()
    half_of = halves(pairs)
    sims = cosines(pairs)
    if args.misses:
        threshold = args.threshold or settings.faq_similarity_threshold
        refuse = RULES[args.rule]
        for pair, sim in zip(pairs, sims, strict=True):
            if half_of[pair["id"]] != args.misses:
                continue
            answered = sim >= threshold and not refuse(pair["asked"], pair["stored"])
            if answered != (pair["label"] == "same"):
                why = contradicts(pair["asked"], pair["stored"]) or "-"
                print(
                    f"{pair['id']} {pair['label']:9} {sim:.3f} {why:12} "
                    f"{pair['stored']!r} / {pair['asked']!r}"
                )
        return
    tables = []
    best: dict[str, tuple[float, str, float]] = {}
    for half in SPLITS:
        part = [p for p in pairs if half_of[p["id"]] == half]
        part_sims = np.array(
            [s for p, s in zip(pairs, sims, strict=True) if half_of[p["id"]] == half]
        )
        table = Table(["rule", "threshold", "paraphrases answered", "wrong answers", "utility"])
        for rule in RULES:
            for threshold in THRESHOLDS:
                same, n_same, wrong, n_diff = score(part, part_sims, rule, threshold)
                u = utility(same, n_same, wrong, n_diff)
                mark = (
                    f" ({current[threshold]})" if threshold in current and rule == "cosine" else ""
                )
                table.add(
                    rule,
                    f"{threshold:.2f}{mark}",
                    f"{same}/{n_same} ({same / n_same:.2f})",
                    f"{wrong}/{n_diff} ({wrong / n_diff:.2f})",
                    f"{u:+.2f}",
                )
                if half == "tune" and (half not in best or u > best[half][0]):
                    best[half] = (u, rule, threshold)
        n = len(part)
        table.print(f"{half} half ({n} pairs)")
        tables.append(f"{half} half ({n} pairs):\n\n{table.markdown()}")
    u, rule, threshold = best["tune"]
    chosen = f"Best on the tune half by utility: `{rule}` at {threshold:.2f} ({u:+.2f})."
    print(f"\n{chosen}")
    if writes_docs(args):
        write_section(
            "faq_matches",
            "\n\n".join(
                [
                    "`python -m bench.faq_matches` (eval/faq_matches.jsonl, local MiniLM; utility ="
                    f" paraphrases answered - {WRONG_COST:g} x wrong answers, shares).",
                    *tables,
                    chosen,
                ]
            ),
        )


if __name__ == "__main__":
    main()

"""The FAQ/cache match pairs (``eval/faq_matches.jsonl``) and their split, balanced by label.

Each pair is a stored question (an FAQ variant, a cached question) and a visitor's question,
labelled ``same`` (a paraphrase: the stored answer is what the visitor wants) or ``different``
(a near miss whose answer differs). The halves: within each label, the pairs ordered by the
SHA-256 of their id, then dealt alternately to ``tune`` and ``heldout``, so both halves hold the
same number of pairs of each label (within one). Adding a pair may move pairs of its label
between halves; rewording one moves nothing.

Standard library only.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from eval.splits import SPLITS, Split

PAIRS = Path(__file__).resolve().parent / "faq_matches.jsonl"
LABELS = ("same", "different")
FIELDS = {"id", "label", "kind", "topic", "stored", "asked"}


def load(path: Path = PAIRS) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def halves(pairs: list[dict[str, Any]]) -> dict[str, Split]:
    """Each pair's half, by id: balanced by label."""
    out: dict[str, Split] = {}
    for label in LABELS:
        ids = sorted(
            (p["id"] for p in pairs if p["label"] == label),
            key=lambda i: hashlib.sha256(i.encode("utf-8")).hexdigest(),
        )
        for n, pair_id in enumerate(ids):
            out[pair_id] = SPLITS[n % 2]
    return out

"""The one split of every evaluation set into a tuning half and a held-out half.

A question's half depends on its id alone: the first byte of the SHA-256 of the id, even
for "tune" and odd for "heldout". Adding, removing or rewording a question never moves
another question to the other half, and every tool (tests, `trulybot eval`, benchmarks)
gets the same split without a stored list. Choose settings on the "tune" half only and
report the "heldout" half as the result.

`python -m eval.splits FILE.jsonl tune|heldout` prints the lines of one half, to give
to `trulybot eval --questions`.

Standard library only, so it can be imported (or copied) anywhere.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterable
from typing import Literal, TypeVar

Split = Literal["tune", "heldout"]
SPLITS: tuple[Split, Split] = ("tune", "heldout")

T = TypeVar("T")


def split_of(question_id: str) -> Split:
    """The half a question belongs to, from its id (e.g. "q001", "g042")."""
    first_byte = hashlib.sha256(question_id.encode("utf-8")).digest()[0]
    return "tune" if first_byte % 2 == 0 else "heldout"


def _check(split: str) -> Split:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    return "tune" if split == "tune" else "heldout"


def in_split(items: Iterable[T], split: Split, *, id_of: str = "id") -> list[T]:
    """The items of one half; an item is a mapping or an object with an id attribute."""
    _check(split)
    out = []
    for item in items:
        qid = item[id_of] if isinstance(item, dict) else getattr(item, id_of)
        if split_of(str(qid)) == split:
            out.append(item)
    return out


def half_lines(lines: Iterable[str], split: Split) -> list[str]:
    """The lines of a JSON-lines question file that belong to one half (blank lines dropped)."""
    _check(split)
    return [
        line for line in lines if line.strip() and split_of(str(json.loads(line)["id"])) == split
    ]


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[1] not in SPLITS:
        sys.stderr.write("usage: python -m eval.splits FILE.jsonl tune|heldout\n")
        return 2
    with open(argv[0], encoding="utf-8") as f:
        sys.stdout.writelines(half_lines(f, _check(argv[1])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

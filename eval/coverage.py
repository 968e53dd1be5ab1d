"""Coverage of the evaluation sets, and of each half of the split: `python -m eval.coverage`.

Prints, for every set, the numbers eval/README.md quotes: questions, distinct expected
pages, where the first expected page of each question lives, short keyword-style queries,
questions that name their page, and the same mix for the "tune" and "heldout" halves
(eval/splits.py), so a reader can see that the halves are alike. The git set also has a
hand-assigned `kind` per question in eval/git-docs-evidence.md, which is counted too.

Standard library only; it reads the files, not the corpus.
"""

from __future__ import annotations

import json
import re
import statistics
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from eval.splits import SPLITS, split_of

EVAL_DIR = Path(__file__).resolve().parent
SHORT_QUERY_WORDS = 3  # a "keyword-style" query has at most this many words
# index.html is a symbolic link to git.html in Debian's git-doc: one page under two names.
GIT_ALIASES = {"index.html": "git.html"}
EVIDENCE_ROW = re.compile(r"^\|\s*(g\d{3,})\s*\|\s*([a-z]*)\s*\|")


@dataclass(frozen=True)
class EvalSet:
    name: str
    path: Path
    area: Callable[[str], str]  # groups a page path, e.g. "library" or "howto"
    aliases: dict[str, str]
    evidence: Path | None = None


def python_area(page: str) -> str:
    return page.split("/", 1)[0] if "/" in page else page


def git_area(page: str) -> str:
    if "/" in page:
        return page.split("/", 1)[0] + "/"
    if page.startswith("git-"):
        return "command pages (git-*.html)"
    if page.startswith("git") and page not in ("git.html", "index.html"):
        return "guides and formats (git*.html)"
    return "other top-level pages"


SETS = (
    EvalSet("python-docs", EVAL_DIR / "python-docs.jsonl", python_area, {}),
    EvalSet(
        "git-docs",
        EVAL_DIR / "git-docs.jsonl",
        git_area,
        GIT_ALIASES,
        EVAL_DIR / "git-docs-evidence.md",
    ),
)


def load(path: Path) -> list[dict]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def kinds(evidence: Path) -> dict[str, str]:
    """id -> kind, from the first evidence row of each id."""
    out: dict[str, str] = {}
    for line in evidence.read_text(encoding="utf-8").splitlines():
        m = EVIDENCE_ROW.match(line)
        if m and m.group(2):
            out.setdefault(m.group(1), m.group(2))
    return out


def page_name(page: str) -> str:
    """The word a visitor would type for a page: "stash" for git-stash.html, "csv" for csv.html."""
    stem = page.rsplit("/", 1)[-1].removesuffix(".html")
    return stem.removeprefix("git-")


def names_its_page(question: str, expected: Iterable[str]) -> bool:
    """Whether the question contains an expected page's name as a word.

    git.html (and its alias index.html) is left out: every question is about git.
    """
    text = question.casefold()
    names = {page_name(p).casefold() for p in expected} - {"git", "index"}
    return any(re.search(rf"(?<![\w-]){re.escape(n)}(?![\w-])", text) for n in names)


def is_short(question: str) -> bool:
    return len(question.split()) <= SHORT_QUERY_WORDS


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))


def describe(records: list[dict], s: EvalSet, kind_of: dict[str, str]) -> list[str]:
    pages = {s.aliases.get(p, p) for r in records for p in r["expected"]}
    distinct = [len({s.aliases.get(p, p) for p in r["expected"]}) for r in records]
    areas = Counter(s.area(r["expected"][0]) for r in records)
    short = sum(1 for r in records if is_short(r["question"]))
    named = sum(1 for r in records if names_its_page(r["question"], r["expected"]))
    words = statistics.median(len(r["question"].split()) for r in records)
    lines = [
        f"questions: {len(records)}",
        f"distinct expected pages: {len(pages)}",
        f"questions listing more than one page: {sum(1 for n in distinct if n > 1)}",
        f"area of the first expected page: {_counts(areas)}",
        f"short queries (<= {SHORT_QUERY_WORDS} words): {short}",
        f"questions that contain their page's name: {named}",
        f"median words per question: {words:g}",
    ]
    if kind_of:
        lines.append(f"kind: {_counts(Counter(kind_of.get(r['id'], '?') for r in records))}")
    return lines


def report() -> str:
    out: list[str] = []
    for s in SETS:
        records = load(s.path)
        kind_of = kinds(s.evidence) if s.evidence else {}
        out.append(f"## {s.name} ({s.path.name})")
        out.extend(f"- {line}" for line in describe(records, s, kind_of))
        for half in SPLITS:
            part = [r for r in records if split_of(r["id"]) == half]
            out.append(f"### {s.name}, {half} half")
            out.extend(f"- {line}" for line in describe(part, s, kind_of))
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    sys.stdout.write(report() + "\n")

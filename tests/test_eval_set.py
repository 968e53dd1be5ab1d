"""Checks for the retrieval evaluation set in eval/python-docs.jsonl.

Only the standard library and pytest are used, so this runs without the app's
dependencies. The checks against the real pages need the Debian ``python3-doc``
package; when it is not installed they are skipped.
"""

from __future__ import annotations

import html
import json
import posixpath
import re
from functools import cache
from html.parser import HTMLParser
from pathlib import Path

import pytest

EVAL_FILE = Path(__file__).resolve().parent.parent / "eval" / "python-docs.jsonl"
DOCS_ROOT = Path("/usr/share/doc/python3.11/html")
MIN_QUESTIONS = 50
ID_RE = re.compile(r"^q\d{3,}$")
PATH_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*(/[A-Za-z0-9_][A-Za-z0-9_.\-]*)*\.html$")

needs_docs = pytest.mark.skipif(
    not DOCS_ROOT.is_dir(),
    reason=f"{DOCS_ROOT} not found; install the corpus with `apt-get install -y python3-doc`",
)


def _normalise(text: str) -> str:
    text = html.unescape(text).replace("\u00b6", " ")  # drop Sphinx pilcrow anchors
    return re.sub(r"\s+", " ", text).strip().casefold()


@cache
def _records() -> tuple[dict, ...]:
    records = []
    for lineno, line in enumerate(EVAL_FILE.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            pytest.fail(f"line {lineno} is not valid JSON: {exc}")
        assert isinstance(obj, dict), f"line {lineno} is not a JSON object"
        records.append(obj)
    return tuple(records)


class _HeadingParser(HTMLParser):
    """Collects the text of <title> and every <h1>."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.titles: list[str] = []
        self._current: list[str] | None = None
        self._tag: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("title", "h1") and self._current is None:
            self._tag = tag
            self._current = []

    def handle_endtag(self, tag: str) -> None:
        if tag == self._tag and self._current is not None:
            self.titles.append("".join(self._current))
            self._current = None
            self._tag = None

    def handle_data(self, data: str) -> None:
        if self._current is not None:
            self._current.append(data)


@cache
def _headings(rel_path: str) -> tuple[str, ...]:
    parser = _HeadingParser()
    parser.feed((DOCS_ROOT / rel_path).read_text(encoding="utf-8", errors="replace"))
    return tuple(_normalise(t) for t in parser.titles if t.strip())


def test_file_exists() -> None:
    assert EVAL_FILE.is_file(), f"missing {EVAL_FILE}"


def test_every_line_is_a_json_object_with_the_expected_keys() -> None:
    lines = [ln for ln in EVAL_FILE.read_text(encoding="utf-8").splitlines() if ln.strip()]
    for lineno, line in enumerate(lines, 1):
        obj = json.loads(line)
        assert isinstance(obj, dict), f"line {lineno}: not an object"
        assert {"id", "question", "expected"} <= obj.keys(), f"line {lineno}: missing keys"


def test_enough_questions() -> None:
    assert len(_records()) >= MIN_QUESTIONS


def test_ids_are_unique_and_well_formed() -> None:
    ids = [r["id"] for r in _records()]
    for rid in ids:
        assert isinstance(rid, str), f"id {rid!r} is not a string"
        assert ID_RE.match(rid), f"id {rid!r} does not look like q001"
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    assert not dupes, f"duplicate ids: {dupes}"


def test_questions_are_non_empty_and_unique() -> None:
    seen: set[str] = set()
    for r in _records():
        q = r["question"]
        assert isinstance(q, str), f"{r['id']}: question is not a string"
        assert q.strip(), f"{r['id']}: empty question"
        norm = _normalise(q)
        assert norm not in seen, f"{r['id']}: duplicate question {q!r}"
        seen.add(norm)


def test_expected_paths_are_well_formed_and_relative() -> None:
    for r in _records():
        expected = r["expected"]
        assert isinstance(expected, list), f"{r['id']}: expected must be a list"
        assert expected, f"{r['id']}: expected is empty"
        assert len(set(expected)) == len(expected), f"{r['id']}: repeated expected page"
        for p in expected:
            assert isinstance(p, str), f"{r['id']}: {p!r} is not a string"
            assert not p.startswith("/"), f"{r['id']}: {p!r} is absolute"
            assert "\\" not in p, f"{r['id']}: {p!r} uses backslashes"
            assert posixpath.normpath(p) == p, f"{r['id']}: {p!r} is not normalised"
            assert ".." not in p.split("/"), f"{r['id']}: {p!r} escapes the corpus"
            assert PATH_RE.match(p), f"{r['id']}: {p!r} is not a relative .html path"


@needs_docs
def test_expected_pages_exist_in_corpus() -> None:
    missing = [
        f"{r['id']}: {p}"
        for r in _records()
        for p in r["expected"]
        if not (DOCS_ROOT / p).is_file()
    ]
    assert not missing, "expected pages not found:\n" + "\n".join(missing)


@needs_docs
def test_questions_are_not_copied_from_titles_or_h1() -> None:
    offenders = []
    for r in _records():
        q = _normalise(r["question"]).rstrip("?")
        for p in r["expected"]:
            path = DOCS_ROOT / p
            if not path.is_file():
                continue  # reported by test_expected_pages_exist_in_corpus
            for heading in _headings(p):
                if q and q in heading:
                    offenders.append(f"{r['id']}: {r['question']!r} is in {p} heading {heading!r}")
    assert not offenders, "\n".join(offenders)

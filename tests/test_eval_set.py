"""Checks for the retrieval evaluation sets in eval/ and for their tune/heldout split.

Two sets: eval/python-docs.jsonl over Debian's ``python3-doc`` and eval/git-docs.jsonl over
Debian's ``git-doc``. Both get the same structural checks. The checks against the real pages
need the corpus installed; for a set whose corpus is missing they are skipped.

Only the standard library, pytest and the stdlib-only eval/ helpers are used, so this runs
without the app's dependencies.
"""

from __future__ import annotations

import html
import json
import posixpath
import re
from dataclasses import dataclass
from functools import cache
from html.parser import HTMLParser
from pathlib import Path

import pytest

from eval.coverage import GIT_ALIASES, is_short
from eval.splits import SPLITS, half_lines, in_split, main, split_of

EVAL_DIR = Path(__file__).resolve().parent.parent / "eval"
PATH_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*(/[A-Za-z0-9_][A-Za-z0-9_.\-]*)*\.html$")
MAX_PAGES_PER_QUESTION = 3  # distinct pages, a page and its alias counting once
KINDS = {"keyword", "paraphrase", "deep", "conceptual"}


@dataclass(frozen=True, eq=False)  # hashed by identity: the two sets are module constants
class EvalSet:
    name: str
    file: Path
    docs_root: Path
    package: str  # the Debian package that installs docs_root
    id_re: re.Pattern[str]
    min_questions: int
    min_per_half: int
    aliases: dict[str, str]  # page -> the page it is a link to
    evidence: Path | None = None
    min_short_queries: int = 0

    def __str__(self) -> str:
        return self.name


PYTHON = EvalSet(
    name="python-docs",
    file=EVAL_DIR / "python-docs.jsonl",
    docs_root=Path("/usr/share/doc/python3.11/html"),
    package="python3-doc",
    id_re=re.compile(r"^q\d{3,}$"),
    min_questions=50,
    min_per_half=20,
    aliases={},
)
GIT = EvalSet(
    name="git-docs",
    file=EVAL_DIR / "git-docs.jsonl",
    docs_root=Path("/usr/share/doc/git-doc"),
    package="git-doc",
    id_re=re.compile(r"^g\d{3,}$"),
    min_questions=80,
    min_per_half=40,
    aliases=GIT_ALIASES,
    evidence=EVAL_DIR / "git-docs-evidence.md",
    min_short_queries=10,
)
SETS = (PYTHON, GIT)
each_set = pytest.mark.parametrize("s", SETS, ids=str)


def _needs_docs(s: EvalSet) -> None:
    if not s.docs_root.is_dir():
        pytest.skip(
            f"{s.docs_root} not found; install the corpus with `apt-get install -y {s.package}`"
        )


def _normalise(text: str) -> str:
    text = html.unescape(text).replace("\u00b6", " ")  # drop Sphinx pilcrow anchors
    return re.sub(r"\s+", " ", text).strip().casefold()


@cache
def _records(s: EvalSet) -> tuple[dict, ...]:
    records = []
    for lineno, line in enumerate(s.file.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            pytest.fail(f"{s.file.name} line {lineno} is not valid JSON: {exc}")
        assert isinstance(obj, dict), f"{s.file.name} line {lineno} is not a JSON object"
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


class _BodyTextParser(HTMLParser):
    """The page's text without tags; block elements are separated by a space."""

    SKIP = frozenset({"head", "script", "style"})
    BLOCK = frozenset(
        {"p", "div", "br", "li", "ul", "ol", "dl", "dt", "dd", "pre", "table", "tr", "td", "th"}
        | {"h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "body"}
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self._skipping += 1
        elif tag in self.BLOCK:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag in self.BLOCK:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


@cache
def _headings(page: Path) -> tuple[str, ...]:
    parser = _HeadingParser()
    parser.feed(page.read_text(encoding="utf-8", errors="replace"))
    return tuple(_normalise(t) for t in parser.titles if t.strip())


@cache
def _body_text(page: Path) -> str:
    parser = _BodyTextParser()
    parser.feed(page.read_text(encoding="utf-8", errors="replace"))
    return _normalise("".join(parser.parts))


@dataclass(frozen=True)
class EvidenceRow:
    lineno: int
    id: str
    kind: str
    question: str
    page: str
    passage: str


@cache
def _evidence(s: EvalSet) -> tuple[EvidenceRow, ...]:
    """Rows of the evidence table: | id | kind | question | page | `passage` |."""
    assert s.evidence is not None
    rows = []
    for lineno, line in enumerate(s.evidence.read_text(encoding="utf-8").splitlines(), 1):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) != 5 or not s.id_re.match(cells[0]):
            continue
        passage = cells[4]
        where = f"{s.evidence.name} line {lineno}"
        assert len(passage) > 2, f"{where}: empty passage"
        assert passage.startswith("`"), f"{where}: the passage must be one `code span`"
        assert passage.endswith("`"), f"{where}: the passage must be one `code span`"
        rows.append(EvidenceRow(lineno, cells[0], cells[1], cells[2], cells[3], passage[1:-1]))
    return tuple(rows)


# --- structure -------------------------------------------------------------------------


@each_set
def test_file_exists(s: EvalSet) -> None:
    assert s.file.is_file(), f"missing {s.file}"


@each_set
def test_every_line_is_a_json_object_with_exactly_the_documented_keys(s: EvalSet) -> None:
    for r in _records(s):
        assert set(r) == {"id", "question", "expected"}, f"{r.get('id')}: keys {sorted(r)}"


@each_set
def test_enough_questions(s: EvalSet) -> None:
    assert len(_records(s)) >= s.min_questions


@each_set
def test_ids_are_unique_and_well_formed(s: EvalSet) -> None:
    ids = [r["id"] for r in _records(s)]
    for rid in ids:
        assert isinstance(rid, str), f"id {rid!r} is not a string"
        assert s.id_re.match(rid), f"id {rid!r} does not match {s.id_re.pattern}"
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    assert not dupes, f"duplicate ids: {dupes}"


def test_ids_do_not_collide_across_sets() -> None:
    ids = [r["id"] for s in SETS for r in _records(s)]
    assert len(ids) == len(set(ids)), "the same id in two sets would share one split draw"


@each_set
def test_questions_are_non_empty_and_unique(s: EvalSet) -> None:
    seen: set[str] = set()
    for r in _records(s):
        q = r["question"]
        assert isinstance(q, str), f"{r['id']}: question is not a string"
        assert q.strip(), f"{r['id']}: empty question"
        norm = _normalise(q)
        assert norm not in seen, f"{r['id']}: duplicate question {q!r}"
        seen.add(norm)


@each_set
def test_expected_paths_are_well_formed_and_relative(s: EvalSet) -> None:
    for r in _records(s):
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


@each_set
def test_at_most_three_distinct_pages_per_question(s: EvalSet) -> None:
    for r in _records(s):
        distinct = {s.aliases.get(p, p) for p in r["expected"]}
        assert len(distinct) <= MAX_PAGES_PER_QUESTION, f"{r['id']}: {r['expected']}"


@each_set
def test_a_page_and_its_alias_are_listed_together(s: EvalSet) -> None:
    for r in _records(s):
        for alias, target in s.aliases.items():
            assert (alias in r["expected"]) == (target in r["expected"]), (
                f"{r['id']}: {alias} is a link to {target}; list both or neither"
            )


@each_set
def test_enough_short_keyword_queries(s: EvalSet) -> None:
    short = [r["id"] for r in _records(s) if is_short(r["question"])]
    assert len(short) >= s.min_short_queries


# --- the split ---------------------------------------------------------------------------


def test_split_of_is_a_fixed_function_of_the_id() -> None:
    # Pinned: changing the hash or the rule would silently move questions between halves.
    assert split_of("q001") == "tune"
    assert split_of("q002") == "heldout"
    assert split_of("g001") == "tune"
    assert split_of("g003") == "heldout"
    assert {split_of(f"g{n:03d}") for n in range(1, 40)} == set(SPLITS)


def test_in_split_keeps_one_half_and_rejects_an_unknown_one() -> None:
    items = [{"id": "q001"}, {"id": "q002"}]
    assert in_split(items, "tune") == [{"id": "q001"}]
    assert in_split(items, "heldout") == [{"id": "q002"}]
    with pytest.raises(ValueError, match="unknown split"):
        in_split(items, "test")  # type: ignore[arg-type]


def test_half_lines_splits_a_question_file_and_the_command_prints_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = ['{"id": "q001", "question": "a", "expected": ["a.html"]}\n', "\n"]
    lines.append('{"id": "q002", "question": "b", "expected": ["b.html"]}\n')
    assert half_lines(lines, "tune") == [lines[0]]
    assert half_lines(lines, "heldout") == [lines[2]]
    path = tmp_path / "set.jsonl"
    path.write_text("".join(lines), encoding="utf-8")
    assert main([str(path), "heldout"]) == 0
    assert capsys.readouterr().out == lines[2]
    assert main([str(path), "test"]) == 2
    assert "usage" in capsys.readouterr().err


@each_set
def test_halves_partition_the_set(s: EvalSet) -> None:
    lines = s.file.read_text(encoding="utf-8").splitlines(keepends=True)
    halves = [half_lines(lines, half) for half in SPLITS]
    assert sorted(halves[0] + halves[1]) == sorted(ln for ln in lines if ln.strip())


@each_set
def test_both_halves_are_about_half_the_set(s: EvalSet) -> None:
    records = _records(s)
    for half in SPLITS:
        size = len(in_split(records, half))
        assert size >= s.min_per_half, f"{s.name} {half}: only {size} questions"
        assert 0.4 <= size / len(records) <= 0.6, f"{s.name} {half}: {size} of {len(records)}"


# --- against the installed corpus ---------------------------------------------------------


@each_set
def test_expected_pages_exist_in_corpus(s: EvalSet) -> None:
    _needs_docs(s)
    missing = [
        f"{r['id']}: {p}"
        for r in _records(s)
        for p in r["expected"]
        if not (s.docs_root / p).is_file()
    ]
    assert not missing, "expected pages not found:\n" + "\n".join(missing)


@each_set
def test_questions_are_not_copied_from_titles_or_h1(s: EvalSet) -> None:
    _needs_docs(s)
    offenders = []
    for r in _records(s):
        q = _normalise(r["question"]).rstrip("?")
        for p in r["expected"]:
            path = s.docs_root / p
            if not path.is_file():
                continue  # reported by test_expected_pages_exist_in_corpus
            for heading in _headings(path):
                if q and q in heading:
                    offenders.append(f"{r['id']}: {r['question']!r} is in {p} heading {heading!r}")
    assert not offenders, "\n".join(offenders)


# --- the git set's evidence table ---------------------------------------------------------


def test_every_expected_page_has_an_evidence_row_and_nothing_else_does() -> None:
    rows = _evidence(GIT)
    expected = {(r["id"], p) for r in _records(GIT) for p in r["expected"]}
    cited = {(row.id, row.page) for row in rows}
    assert not expected - cited, f"pages without evidence: {sorted(expected - cited)}"
    assert not cited - expected, f"evidence for pages not expected: {sorted(cited - expected)}"


def test_evidence_rows_name_the_question_and_its_kind_once() -> None:
    questions = {r["id"]: r["question"] for r in _records(GIT)}
    first_rows: dict[str, EvidenceRow] = {}
    for row in _evidence(GIT):
        if row.id not in first_rows:
            first_rows[row.id] = row
            assert row.kind in KINDS, f"line {row.lineno}: kind {row.kind!r} not in {KINDS}"
            assert row.question == questions[row.id], f"line {row.lineno}: question differs"
        else:
            assert not row.kind, f"line {row.lineno}: the kind goes on the id's first row only"
            assert not row.question, f"line {row.lineno}: the question goes on the first row only"
    assert set(first_rows) == set(questions)


def test_keyword_kind_means_a_short_query() -> None:
    kinds = {row.id: row.kind for row in _evidence(GIT) if row.kind}
    for r in _records(GIT):
        if is_short(r["question"]):
            assert kinds[r["id"]] == "keyword", f"{r['id']}: a short query is keyword-style"


def test_evidence_passages_are_in_their_pages() -> None:
    _needs_docs(GIT)
    missing = []
    for row in _evidence(GIT):
        path = GIT.docs_root / row.page
        if not path.is_file():
            continue  # reported by test_expected_pages_exist_in_corpus
        if _normalise(row.passage) not in _body_text(path):
            missing.append(f"{row.id} {row.page} (line {row.lineno}): {row.passage!r}")
    assert not missing, "passages not found in their page:\n" + "\n".join(missing)


def test_the_dont_know_sets_are_well_formed() -> None:
    """eval/unanswerable.jsonl, eval/demo.jsonl (``bench.dont_know``) and
    eval/demo-follow-ups.jsonl (``bench.follow_ups``): documented keys,
    ids unique across every set, demo pages that exist, no question asked twice."""
    unanswerable = [json.loads(line) for line in (EVAL_DIR / "unanswerable.jsonl").open()]
    demo = [json.loads(line) for line in (EVAL_DIR / "demo.jsonl").open()]
    for row in unanswerable:
        assert set(row) == {"id", "set", "kind", "question"}, row
        assert row["set"] in ("python-docs", "git-docs", "demo")
        assert row["kind"] in ("adjacent", "offtopic")
        prefix = {"python-docs": "pu", "git-docs": "gu", "demo": "du"}[row["set"]]
        assert re.fullmatch(prefix + r"\d{3}", row["id"]), row
    for row in demo:
        assert set(row) == {"id", "question", "expected"}, row
        assert re.fullmatch(r"d\d{3}", row["id"])
        for page in row["expected"]:
            assert (EVAL_DIR.parent / "api" / "demo" / page).is_file(), page
    follow_ups = [json.loads(line) for line in (EVAL_DIR / "demo-follow-ups.jsonl").open()]
    for row in follow_ups:
        assert set(row) == {"id", "previous", "question", "expected"}, row
        assert re.fullmatch(r"f\d{3}", row["id"])
        for page in row["expected"]:
            assert (EVAL_DIR.parent / "api" / "demo" / page).is_file(), page
    ids = [r["id"] for r in unanswerable + demo + follow_ups]
    ids += [r["id"] for s in SETS for r in _records(s)]
    assert len(ids) == len(set(ids))
    questions = [r["question"].casefold() for r in unanswerable + demo]
    assert len(questions) == len(set(questions))
    per_set = {
        name: sum(r["set"] == name for r in unanswerable)
        for name in ("python-docs", "git-docs", "demo")
    }
    assert per_set == {"python-docs": 50, "git-docs": 50, "demo": 24}

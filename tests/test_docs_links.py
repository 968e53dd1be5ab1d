"""The pointers between the docs lead somewhere: each markdown link of the README and docs opens
a file of the repository (and a heading of it, for ``#anchor``), each ``docs/NAME.md`` the
code or docs name exists, and each section they name (``docs/deploy.md, "PgBouncer"``) is a
heading of that doc.

The README linked ``../shared/ARCHITECTURE.md``, a file outside the repository (a clone has
no such file); two API modules sent readers to an
``api.md`` in docs/, which does not exist."""

from __future__ import annotations

import re
import subprocess
from functools import cache
from pathlib import Path

from tests.conftest import ROOT

TEXT_SUFFIXES = {".md", ".py", ".example", ".toml", ".html", ".js", ".cfg", ".ini"}
_DOC_MENTION = re.compile(r"\bdocs/([a-z_]+)\.md(?:,?\s+\"([^\"]+)\")?")


def tracked_text_files() -> list[Path]:
    """The repository's text files (what git tracks; without git, those outside local state)."""
    try:
        names = subprocess.run(
            ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.split()
        paths = [ROOT / name for name in names]
    except (OSError, subprocess.CalledProcessError):
        skip = {".git", ".venv", ".trulybot", "node_modules", "test-output"}
        paths = [p for p in ROOT.rglob("*") if not skip & set(p.relative_to(ROOT).parts)]
    return [p for p in paths if p.is_file() and (p.suffix in TEXT_SUFFIXES or p.name == "Makefile")]


def _words(text: str) -> str:
    return " ".join(re.sub(r"[\"'`]", "", text).lower().split())


@cache
def headings(doc: Path) -> tuple[str, ...]:
    lines = doc.read_text().splitlines()
    return tuple(re.sub(r"^#+\s*", "", line) for line in lines if re.match(r"#+ ", line))


def anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def broken_links(doc: Path, text: str | None = None) -> list[str]:
    """The links of ``doc`` (its text, or ``text`` read as if it were there) that lead nowhere."""
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", doc.read_text() if text is None else text):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        path, _, fragment = target.partition("#")
        resolved = (doc.parent / path).resolve() if path else doc
        if not resolved.exists() or ROOT.resolve() not in resolved.parents:
            broken.append(f"{doc.name}: {target}")
        elif fragment and fragment not in {anchor(h) for h in headings(resolved)}:
            broken.append(f"{doc.name}: {target} (no such heading)")
    return broken


def test_every_markdown_link_opens_a_file_of_the_repository() -> None:
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    assert [link for doc in docs for link in broken_links(doc)] == []


def test_every_doc_and_section_named_exists() -> None:
    missing = []
    for path in tracked_text_files():
        for match in _DOC_MENTION.finditer(path.read_text(errors="replace")):
            doc = ROOT / "docs" / f"{match.group(1)}.md"
            where = f"{path.relative_to(ROOT)}: {match.group(0)}"
            if not doc.is_file():
                missing.append(where)
            elif match.group(2) and not any(
                _words(match.group(2)) in _words(h) for h in headings(doc)
            ):
                missing.append(f"{where} (no such heading)")
    assert missing == []


def test_the_checks_find_what_is_broken() -> None:
    assert anchor("Accounts, sessions and mail") == "accounts-sessions-and-mail"
    assert anchor("The owners' dashboard (`/app`)") == "the-owners-dashboard-app"
    doc = ROOT / "docs" / "a-doc-that-is-not-there.md"
    text = "[a](../../shared/X.md) [b](deploy.md#nowhere) [c](deploy.md#security) [d](errors.md)"
    assert broken_links(doc, text) == [
        f"{doc.name}: ../../shared/X.md",
        f"{doc.name}: deploy.md#nowhere (no such heading)",
    ]

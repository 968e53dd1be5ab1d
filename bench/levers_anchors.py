"""Anchor text: what a corpus's other pages say where they link to a page (issue 12 lever).

A sentence that links to a page describes it in another page's words ("to move commits to
another branch, use git-cherry-pick(1)"), often in a register closer to a visitor's question than
the page's own reference prose. ``anchor_contexts`` reads every page's links to other pages of the
same corpus and returns, per linked page, the sentences around its links (the block's text cut
to the sentence that holds the link, with its neighbours when short), without the linking page's
bare lists of names ("SEE ALSO": a block whose text is mostly link text teaches nothing).
"""

from __future__ import annotations

import posixpath
import re
from collections import defaultdict
from pathlib import Path

from bs4 import BeautifulSoup, Tag

_BLOCKS = ("p", "li", "dd", "dt", "td", "th", "pre")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(\"'])")
_WORD = re.compile(r"\w+")
MIN_OWN_WORDS = 5
"""A context needs this many words besides its links' text."""
MAX_WORDS = 80


def _block_of(link: Tag) -> Tag | None:
    for parent in link.parents:
        if isinstance(parent, Tag) and parent.name in _BLOCKS:
            return parent
    return None


def _sentence(text: str, needle: str) -> str:
    """The sentence of ``text`` holding ``needle``, with the next one when it is short."""
    sentences = [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]
    for i, sentence in enumerate(sentences):
        if needle and needle in sentence:
            picked = [sentence]
            if len(_WORD.findall(sentence)) < 12 and i + 1 < len(sentences):
                picked.append(sentences[i + 1])
            if len(_WORD.findall(" ".join(picked))) < 12 and i > 0:
                picked.insert(0, sentences[i - 1])
            return " ".join(picked)
    return text


def anchor_contexts(files: list[tuple[Path, str]], *, single: bool = False) -> dict[str, list[str]]:
    """``files``: (path, source) of every page of the corpus, the source a path relative to the
    corpus root (as ``api.commands.ingest.collect`` gives). Returns source -> its contexts."""
    sources = {source for _, source in files}
    found: dict[str, list[str]] = defaultdict(list)
    for path, source in files:
        soup = BeautifulSoup(path.read_bytes(), "lxml")
        here = posixpath.dirname(source)
        seen: set[tuple[str, str]] = set()
        for link in soup.find_all("a", href=True):
            href = str(link["href"]).split("#", 1)[0]
            if not href or ":" in href or href.startswith("/"):
                continue
            target = posixpath.normpath(posixpath.join(here, href))
            if target == source or target not in sources:
                continue
            block = _block_of(link)
            if block is None:
                continue
            text = " ".join(block.get_text(" ").split())
            link_words = sum(len(_WORD.findall(a.get_text(" "))) for a in block.find_all("a"))
            if len(_WORD.findall(text)) - link_words < MIN_OWN_WORDS:
                continue
            context = _sentence(text, " ".join(link.get_text(" ").split()))
            if (
                single
                and sum(" ".join(a.get_text(" ").split()) in context for a in block.find_all("a"))
                > 1
            ):
                continue
            words = context.split()
            if len(words) > MAX_WORDS:
                context = " ".join(words[:MAX_WORDS])
            if (target, context) in seen:
                continue
            seen.add((target, context))
            found[target].append(context)
    return dict(found)

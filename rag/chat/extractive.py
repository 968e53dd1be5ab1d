"""The extractive answerer: the embedded default without a language model.

It quotes the retrieved passages' sentences closest to the question, each with its ``[n]``
citation, labelled with ``EXTRACTIVE_PREFIX``. Words are compared by their stems
(``rag.chat.normalize.stem``) without common English function words (``STOPWORDS``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from rag.chat.generator import (
    Completion,
    GenerationRequest,
    Rewritten,
    StreamEvent,
    joined_rewrite,
)
from rag.chat.normalize import WORD, content_terms
from rag.chat.prompts import Passage, dont_know_answer, without_markers

EXTRACTIVE_PREFIX = "From our documentation:"
EXTRACTIVE_MODEL = "extractive"
# A sentence ends at ". ! ?" before a blank, or at the Chinese and Japanese full stops, which
# no blank follows.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[\u3002\uff01\uff1f\uff61])\s*")
_BLOCK_SPLIT = re.compile(r"\n[ \t]*\n")
# Lines that are never joined to another: a Markdown heading or fence, a table row.
_MARKUP_LINE = re.compile(r"[ \t]*(?:#|```|~~~|\|)")
# An indented line: code, unless it continues a list item.
_INDENTED_LINE = re.compile(r"(?:    |\t)[ \t]*\S")
# A list item starts a unit of its own, which its wrapped lines continue.
_LIST_ITEM = re.compile(r"[ \t]*(?:[-*+\u2022]|\d{1,3}[.)])[ \t]+\S")


def sentences(text: str) -> list[str]:
    """The sentences of a passage, whitespace collapsed (``_units``: hard-wrapped lines joined,
    headings, list items, table rows and code on their own)."""
    return [sentence for sentence, _heading in _units(text)]


def _units(text: str) -> list[tuple[str, bool]]:
    """The passage's sentences, each with whether it is a heading.

    Blank lines end a paragraph. A single line break inside one is a hard wrap (Markdown, plain
    text and PDF text wrap their prose at a width) and joins the lines, except:

    - a list item, a Markdown heading, a table row or code starts a unit of its own (a list
      item takes its wrapped lines);
    - a record, "Label: value" ("Phone: 555-1234"), stands alone, and so does every line of a
      paragraph whose lines all start with a capital or a digit and none ends a sentence (a
      price list, opening hours);
    - a title stands alone and is marked a heading: a short line (at most 8 words and 60 % of
      the paragraph's widest line) without closing punctuation or a label, at the start of the
      paragraph or after a sentence's end, over a line that starts with a capital or a digit
      (a PDF's "Warranty terms" over its first sentence).

    Parsed HTML and Markdown put each heading in a paragraph of its own, which ``_quotable``
    knows from the heading path.
    """
    units: list[tuple[str, bool]] = []
    for block in _BLOCK_SPLIT.split(text):
        raw = block.split("\n")
        width = max(len(line.strip()) for line in raw)
        records = _record_block(raw)
        lines: list[list[str]] = []  # each unit's physical lines
        headings: set[int] = set()  # the units that are headings
        kind = "alone"  # what the unit above is: "prose", "item" (a list item) or "alone"
        for i, line in enumerate(raw):
            after = raw[i + 1] if i + 1 < len(raw) else None
            before = raw[i - 1] if i else None
            if _MARKUP_LINE.match(line):
                if line.lstrip().startswith("#"):
                    headings.add(len(lines))
                lines.append([line])
                kind = "alone"
            elif _LIST_ITEM.match(line):
                lines.append([line])
                kind = "item"
            elif (
                (_INDENTED_LINE.match(line) and kind != "item")
                or records
                or _RECORD_LINE.match(line)
            ):
                lines.append([line])
                kind = "alone"
            elif _title(line, before, after, width):
                headings.add(len(lines))
                lines.append([line])
                kind = "alone"
            elif kind == "alone":
                lines.append([line])
                kind = "prose"
            else:  # a wrapped line of the prose or the list item above
                lines[-1].append(line)
        for n, unit in enumerate(lines):
            for part in _SENTENCE_END.split(" ".join(unit)):
                if joined := " ".join(part.split()):
                    units.append((joined, n in headings))
    return units


_SENTENCE_CLOSING = tuple(".!?:\u2026\"'\u201d\u2019)")
_CLOSING = (*_SENTENCE_CLOSING, ";", ",")  # what no title ends with
# "Phone: 555-1234", "Opening hours: 9 to 5": a label and its value.
_RECORD_LINE = re.compile(r"\s*[A-Z][\w .'/&()-]{0,30}:\s+\S")


def _starts_high(line: str) -> bool:
    first = line.lstrip()[:1]
    return first.isupper() or first.isdigit()


def _record_block(lines: list[str]) -> bool:
    """Several lines, each starting with a capital or a digit, none ending a sentence."""
    kept = [line.strip() for line in lines if line.strip()]
    return len(kept) > 1 and all(
        _starts_high(line) and not line.endswith(_SENTENCE_CLOSING) for line in kept
    )


def _title(line: str, before: str | None, after: str | None, width: int) -> bool:
    """Whether ``line`` is a title over the line ``after`` it, not wrapped prose (see
    ``_units``)."""
    title = line.strip()
    if not title or after is None or not _starts_high(after) or not _starts_high(title):
        return False
    if before is not None and not before.rstrip().endswith(_SENTENCE_CLOSING):
        return False  # inside a sentence: a wrapped line
    short = len(title.split()) <= 8 and len(title) <= 0.6 * width
    return short and not title.endswith(_CLOSING) and not _RECORD_LINE.match(title)


def _width(text: str) -> int:
    """``text``'s length with wide characters (Chinese, Japanese) counted twice: a short
    sentence in those scripts says as much as a longer one in others."""
    return len(text) + sum(1 for ch in text if unicodedata.east_asian_width(ch) in "WF")


def _quotable(passage: Passage) -> list[tuple[int, str]]:
    """The passage's sentences worth quoting, with their positions: not a few characters, not a
    line that repeats its title or a heading (which says what the section is about, not an
    answer)."""
    named = (passage.title, *passage.heading_path, *passage.headings_within)
    headings = {" ".join(h.split()).casefold() for h in named}
    return [
        (position, sentence)
        for position, (sentence, heading) in enumerate(_units(passage.text))
        if not heading
        and _width(sentence) >= 12
        and WORD.search(sentence)
        and sentence.lstrip("#").strip().casefold() not in headings
    ]


@dataclass
class ExtractiveAnswerer:
    """The embedded default without an LLM: quotes the passages' sentences closest to the question.

    Picks up to ``max_sentences`` sentences by word overlap with the question (ties favour better
    ranked passages), each followed by its ``[n]`` citation, prefixed with ``EXTRACTIVE_PREFIX``.
    """

    max_sentences: int = 3
    max_sentence_chars: int = 300
    prefix: str = EXTRACTIVE_PREFIX
    extractive: bool = field(default=True, init=False)

    def answer(
        self,
        question: str,
        passages: Sequence[Passage],
        *,
        offer_contact: bool = True,
        dont_know: str | None = None,
        prefix: str | None = None,
    ) -> Completion:
        """``dont_know``: the owner's answer when no passage is given (else the default);
        ``prefix``: the owner's label before the quotes (else ``self.prefix``)."""
        if passages or not dont_know:
            text = self._compose(
                question, passages, offer_contact=offer_contact, prefix=prefix or self.prefix
            )
        else:
            text = dont_know
        return Completion(
            text=text,
            prompt_tokens=0,
            completion_tokens=0,
            model=EXTRACTIVE_MODEL,
            extractive=True,
            finish_reason="stop",
        )

    async def generate(self, request: GenerationRequest) -> Completion:
        return self.answer(
            request.question,
            request.passages,
            offer_contact=request.offer_contact,
            dont_know=request.dont_know,
            prefix=request.documentation_prefix,
        )

    async def stream(self, request: GenerationRequest) -> AsyncIterator[StreamEvent]:
        completion = await self.generate(request)
        for piece in re.findall(r"\S+\s*", completion.text):
            yield StreamEvent("delta", piece)
        yield StreamEvent("done", completion=completion)

    async def rewrite_follow_up(
        self, message: str, history: Sequence[tuple[str, str]]
    ) -> Rewritten:
        return joined_rewrite(message, history)

    async def aclose(self) -> None:
        return None

    def _compose(
        self,
        question: str,
        passages: Sequence[Passage],
        *,
        offer_contact: bool = True,
        prefix: str = EXTRACTIVE_PREFIX,
    ) -> str:
        if not passages:
            return dont_know_answer(offer_contact=offer_contact)
        wanted = content_terms(question)
        # (score, rank, position, sentence, n)
        candidates: list[tuple[float, int, int, str, int]] = []
        for rank, passage in enumerate(passages):
            for position, sentence in _quotable(passage):
                terms = content_terms(sentence)
                overlap = len(wanted & terms)
                if not overlap:
                    continue
                # Overlap normalised a little by length, so long sentences do not win by size.
                score = overlap / (1.0 + 0.02 * len(terms)) - 0.05 * rank
                candidates.append((score, rank, position, sentence, passage.n))
        if not candidates:
            top = passages[0]
            first = next((s for _, s in _quotable(top)), " ".join(top.text.split()))
            candidates = [(0.0, 0, 0, first, top.n)]
        best = sorted(candidates, key=lambda c: (-c[0], c[1], c[2]))
        chosen: list[tuple[int, int, str, int]] = []
        seen: set[str] = set()
        for _score, rank, position, sentence, n in best:
            key = sentence.casefold()
            if key in seen:
                continue
            seen.add(key)
            chosen.append((rank, position, self._trim(sentence), n))
            if len(chosen) >= self.max_sentences:
                break
        # Read in document order: by passage rank, then position in the passage.
        chosen.sort(key=lambda c: (c[0], c[1]))
        # Only the markers written here cite: a quoted "[2]" (the document's own footnote)
        # would be read as a citation of passage 2.
        body = " ".join(
            f"{' '.join(without_markers(sentence, len(passages)).split())} [{n}]"
            for _rank, _position, sentence, n in chosen
        )
        return f"{prefix} {body}"

    def _trim(self, sentence: str) -> str:
        if len(sentence) <= self.max_sentence_chars:
            return sentence
        cut = sentence[: self.max_sentence_chars]
        space = cut.rfind(" ")
        return (cut[:space] if space > 0 else cut).rstrip(" ,;:") + "…"

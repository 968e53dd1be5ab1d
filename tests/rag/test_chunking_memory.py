"""Chunking holds memory in proportion to a slice of a section, not to the whole document.

Chunking runs in the worker's own process (parsing has a child held to PARSE_MAX_MEMORY_MB;
chunking has none): a section was tokenized whole, and a 1 MB upload of punctuation (one token
per character) took 600 MB there, a 3 MB one 2 GB; an upload may be MAX_UPLOAD_BYTES (10 MB)
and a PDF or DOCX may decode to PARSE_MAX_DECODED_BYTES (32 MB) of text. Each text is chunked in
a child Python process that reports how far its peak resident size rose.
"""

from __future__ import annotations

import pytest

from rag.knowledge.chunking import SLICE_CHARS, chunk_sections, slices
from rag.knowledge.parsed import Section
from tests.memory_child import run_child

# What is kept is the chunks themselves (their text twice: stored and embedded, a hash each):
# a few times the text; tokenizing the whole section held hundreds of bytes per token. Measured
# here: a rise of 99-106 MiB for 1 MB of a token per one or two characters, 104-110 MiB for 2 MB
# (mostly one slice's encodings, whatever the size), 25 MiB for 2 MB of words. Tokenized whole,
# the same texts rose 480-721 MiB and 324 MiB. The bound fails anything holding more than about
# 70 bytes per character beyond one slice (256 MiB at 2 MB of each allowed about 77), and the
# token-dense texts are 1 MB: chunking them is most of this file's time.
ALLOWED_RISE = 176 * 1_048_576

CHILD = """
import json, sys
from rag.knowledge.chunking import chunk_sections, count_tokens
from rag.knowledge.parsed import Section

unit, size = sys.argv[1], int(sys.argv[2])
text = unit * (size // len(unit))
count_tokens("warm up the tokenizer")
before = reset_peak()
pieces = chunk_sections([Section(text)], title="t", max_tokens=250, overlap=40, min_tokens=40)
rise = status("VmHWM") - before
most = max(p.token_count for p in pieces)
print(json.dumps({"rise": rise, "chunks": len(pieces), "max_tokens": most}))
"""


@pytest.mark.parametrize(
    ("unit", "size"),
    [("!", 1_000_000), ("a. ", 1_000_000), ("\u6f22\u5b57", 1_000_000), ("word ", 2_000_000)],
)
def test_a_long_section_is_chunked_in_bounded_memory(unit: str, size: int) -> None:
    result = run_child(CHILD, unit, str(size))
    assert result["rise"] < ALLOWED_RISE, (
        f"peak memory rose by {result['rise'] / 1_048_576:.0f} MiB"
    )
    assert result["chunks"] > 1
    assert result["max_tokens"] <= 250


def test_a_long_section_is_cut_where_a_short_one_would_be() -> None:
    """Sliced for the tokenizer, a long section still makes whole chunks that cover it in
    order: each chunk's text is found in the section after the one before it, none is longer
    than the window, and the text between them is only what the overlap repeats or blanks."""
    paragraph = " ".join(f"Sentence {i} of the paragraph says something." for i in range(40))
    text = "\n\n".join(f"{i}: {paragraph}" for i in range(400))  # about 0.8 MB
    pieces = chunk_sections([Section(text)], title="t", max_tokens=250, overlap=40, min_tokens=40)
    at = 0
    for piece in pieces:
        found = text.find(piece.text, max(0, at - len(piece.text)))
        assert found != -1
        assert text[at:found].strip() == "" or found < at  # nothing skipped
        at = found + len(piece.text)
        assert piece.token_count <= 250
    assert text[at:].strip() == ""


@pytest.mark.parametrize(
    "sentence",
    [
        "わたしたちのサービスは毎月の料金でご利用いただけます\u3002",
        "退款申请必须在购买后三十天内提交\uff01",  # a fullwidth exclamation mark
    ],
    ids=["japanese", "chinese"],
)
def test_a_long_section_without_spaces_is_sliced_at_sentence_ends(sentence: str) -> None:
    """Chinese and Japanese put no space after their full stop: a section of more than
    ``SLICE_CHARS`` characters on one line was sliced at the bound, mid-sentence (mid-word in
    Japanese), and the chunk before the cut ended there. Every chunk now ends a sentence."""
    text = sentence * (2 * SLICE_CHARS // len(sentence) + 7)
    assert len(text) > 2 * SLICE_CHARS
    assert not any(ch.isspace() for ch in text)
    assert all(piece.endswith(sentence[-1]) for _, piece in slices(text))
    pieces = chunk_sections([Section(text)], title="t", max_tokens=250, overlap=40)
    assert [p.text for p in pieces if not p.text.endswith(sentence[-1])] == []

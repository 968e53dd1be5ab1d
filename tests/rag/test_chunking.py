"""Chunking with the real all-MiniLM-L6-v2 tokenizer."""

from __future__ import annotations

import hashlib
import itertools

import pytest

from rag.knowledge import chunking
from rag.knowledge.chunking import (
    DEFAULT_MAX_TOKENS,
    MAX_CHARS_PER_TOKEN,
    chunk_document,
    chunk_sections,
    count_tokens,
    count_tokens_batch,
)
from rag.knowledge.parsing import ParsedDocument, Section, sha256_text

SENTENCE = "The refund window for annual plans is thirty days from the purchase date."


def _paragraph(n_sentences: int, tag: str = "") -> str:
    return " ".join(f"{tag}{SENTENCE}" for _ in range(n_sentences))


def test_short_sections_make_one_chunk_each_and_never_merge() -> None:
    sections = [
        Section("Intro text.", ["Guide"]),
        Section("Install it.", ["Guide", "Install"]),
        Section("Page two text.", [], page=2),
    ]
    chunks = chunk_sections(sections)
    assert [c.text for c in chunks] == ["Intro text.", "Install it.", "Page two text."]
    assert [c.heading_path for c in chunks] == [["Guide"], ["Guide", "Install"], []]
    assert [c.page for c in chunks] == [None, None, 2]
    assert [c.position for c in chunks] == [0, 1, 2]
    assert all(c.content_hash == sha256_text(f"2\n{c.embed_text}") for c in chunks)
    assert chunks[0].token_count == count_tokens("Intro text.") == 3


def test_long_section_respects_limits_and_stays_in_section() -> None:
    long_text = "\n\n".join(_paragraph(6, f"P{i} ") for i in range(12))
    sections = [Section(long_text, ["A"], page=1), Section(_paragraph(40), ["B"], page=2)]
    chunks = chunk_sections(sections, max_tokens=120, overlap=20)
    assert len(chunks) > 10
    assert [c.position for c in chunks] == list(range(len(chunks)))
    for chunk in chunks:
        assert 0 < chunk.token_count <= 120
        # Cuts fall between words: the stored count is what the tokenizer says.
        assert chunk.token_count == count_tokens(chunk.text)
        source = sections[0] if chunk.page == 1 else sections[1]
        assert chunk.text in source.text
        assert chunk.heading_path == source.heading_path
    # Every word of each section is covered, in order, by its chunks.
    for section in sections:
        own = [c for c in chunks if c.page == section.page]
        assert own[0].text == section.text[: len(own[0].text)]
        assert section.text.endswith(own[-1].text)


def test_paragraph_boundaries_are_preferred() -> None:
    paras = [_paragraph(3, f"Para{i} ") for i in range(4)]
    each = count_tokens(paras[0])
    assert 40 < each < 80
    chunks = chunk_sections([Section("\n\n".join(paras))], max_tokens=2 * each + 10, overlap=0)
    assert [c.text for c in chunks] == ["\n\n".join(paras[:2]), "\n\n".join(paras[2:])]


def test_sentence_boundaries_used_inside_a_long_paragraph() -> None:
    text = _paragraph(20)
    chunks = chunk_sections([Section(text)], max_tokens=50, overlap=0)
    assert len(chunks) > 3
    assert all(c.text.endswith("purchase date.") for c in chunks)
    assert " ".join(c.text for c in chunks) == text


def test_overlap_repeats_the_tail_of_the_previous_chunk() -> None:
    words = " ".join(f"word{i}" for i in range(400))  # no sentence or paragraph breaks
    chunks = chunk_sections([Section(words)], max_tokens=100, overlap=20)
    assert len(chunks) >= 5
    for prev, nxt in itertools.pairwise(chunks):
        prev_words, next_words = prev.text.split(), nxt.text.split()
        shared = [w for w in next_words if w in set(prev_words)]
        assert shared
        assert count_tokens(" ".join(shared)) <= 20
        assert next_words[: len(shared)] == prev_words[-len(shared) :]


def test_hard_split_inside_one_long_word() -> None:
    blob = "antidisestablishmentarianism" * 3  # one word, many word pieces
    assert count_tokens(blob) > 10
    chunks = chunk_sections([Section(blob)], max_tokens=4, overlap=0)
    assert len(chunks) >= 3
    assert all(c.token_count <= 4 for c in chunks)
    assert "".join(c.text for c in chunks) == blob


def test_parameters_are_validated() -> None:
    with pytest.raises(ValueError, match="overlap"):
        chunk_sections([Section("x")], max_tokens=10, overlap=10)
    with pytest.raises(ValueError, match="max_tokens"):
        chunk_sections([Section("x")], max_tokens=0, overlap=0)
    assert chunk_sections([Section("   ")]) == []


def test_default_sizes_and_document_entry_point() -> None:
    doc = ParsedDocument(title="t", sections=[Section(_paragraph(60), ["H"])])
    chunks = chunk_document(doc)
    assert len(chunks) >= 3
    # The window is the model's: 256 word pieces less [CLS], [SEP] and the "t > H" header.
    assert max(c.token_count for c in chunks) <= 256 - 2 - count_tokens("t > H")
    assert max(c.token_count for c in chunks) > 220  # windows are filled, not tiny
    assert count_tokens_batch([c.text for c in chunks]) == [c.token_count for c in chunks]
    bare = chunk_document(doc, header=False, max_tokens=300)
    assert max(c.token_count for c in bare) > 250


def test_a_long_document_is_chunked_within_the_limit() -> None:
    # Speed is measured by bench.ingestion (chunking against the embedder), not asserted here.
    text = "\n\n".join(_paragraph(8, f"Section {i}. ") for i in range(600))
    chunks = chunk_sections([Section(text)], max_tokens=300, overlap=40)
    assert len(chunks) > 300
    assert max(count_tokens(c.text) for c in chunks) <= 300


def _blob(n: int, seed: str) -> str:
    """``n`` characters of one word that never repeats itself (hex digits)."""
    out, i = [], 0
    while sum(map(len, out)) < n:
        out.append(hashlib.sha256(f"{seed}-{i}".encode()).hexdigest())
        i += 1
    return "".join(out)[:n]


@pytest.mark.parametrize(
    "text",
    [
        _blob(50_000, "one"),  # one word the tokenizer cannot split: a single unknown token
        "Prose before it. " + _blob(9_000, "mid") + " and prose after it, which stays readable.",
        " ".join(_blob(150, f"w{i}") for i in range(300)),  # many such words
    ],
)
def test_a_word_the_tokenizer_cannot_split_does_not_make_a_chunk_of_any_length(text: str) -> None:
    """A word over 100 characters is one unknown token: the window of 250 tokens that holds
    it could hold the whole document. Windows are bounded in characters too, every character
    stays in some chunk, and the counts are the pieces' own."""
    pieces = chunk_sections([Section(heading_path=["H"], text=text, page=None)], title="T")
    assert len(pieces) > 1
    assert max(len(p.text) for p in pieces) <= MAX_CHARS_PER_TOKEN * DEFAULT_MAX_TOKENS
    covered = 0  # the pieces, in order, leave no character of the text out
    for piece in pieces:
        start = text.find(piece.text)
        assert start >= 0
        assert not text[covered:start].strip(), (covered, start)
        covered = max(covered, start + len(piece.text))
    assert not text[covered:].strip()
    assert [p.token_count for p in pieces] == count_tokens_batch([p.text for p in pieces])


def test_ordinary_text_is_never_cut_by_the_character_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The bound changes nothing where every word has word pieces: the same chunks as without
    it (on the Python and git manuals, 22,044 chunks, none was cut: their longest has 1,450
    characters)."""
    text = "\n\n".join(
        " ".join(f"Sentence {i}.{j} says something ordinary about refunds." for j in range(9))
        for i in range(60)
    )
    sections = [Section(heading_path=["H"], text=text, page=None)]
    bounded = chunk_sections(sections, title="T")
    monkeypatch.setattr(chunking, "_MAX_WINDOW_CHARS", 10**9)
    assert chunk_sections(sections, title="T") == bounded

"""bench.levers_corpus encodes with one model per process, however many calls ask."""

from __future__ import annotations

import numpy as np
import pytest

from bench import levers_corpus
from rag.knowledge import embedders


def test_questions_encoded_one_at_a_time_load_the_model_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made: list[object] = []
    original = embedders.LocalEmbedder.__init__

    def counting_init(self: embedders.LocalEmbedder, **kwargs: object) -> None:
        made.append(self)
        original(self, **kwargs)  # type: ignore[arg-type]

    def encode(self: embedders.LocalEmbedder, texts: list[str]) -> np.ndarray:
        return np.zeros((len(texts), 384), dtype=np.float32)

    monkeypatch.setattr(embedders.LocalEmbedder, "__init__", counting_init)
    monkeypatch.setattr(embedders.LocalEmbedder, "_encode", encode)
    clear = getattr(levers_corpus, "_local_embedder", None)  # absent before the fix
    if clear is not None:
        clear.cache_clear()
    try:
        for question in ("How do I cancel?", "and per year?", "does it work on Mac?"):
            assert levers_corpus.local_encode([question]).shape == (1, 384)
    finally:
        if clear is not None:
            clear.cache_clear()
    assert len(made) == 1


def _page() -> levers_corpus.parsed_module.ParsedDocument:
    section = levers_corpus.parsed_module.Section
    return levers_corpus.parsed_module.ParsedDocument(
        "git-reset - Reset current HEAD",
        [
            section("NAME\n\ngit-reset - Reset current HEAD", ["NAME"]),
            section("SYNOPSIS\n\ngit reset [-q] [<commit>]", ["SYNOPSIS"]),
            section("DESCRIPTION\n\n" + "Reset the index to the commit. " * 80, ["DESCRIPTION"]),
        ],
        kind="html",
    )


def test_flat_windows_cross_headings_after_the_title_alone() -> None:
    pieces = levers_corpus.flat_pieces(_page(), levers_corpus.VARIANTS["flat"])
    first = pieces[0].embed_text
    assert first.startswith("git-reset - Reset current HEAD\n\nNAME\n\n")
    assert "SYNOPSIS" in first
    assert "DESCRIPTION" in first
    assert len(pieces) > 1
    assert all(p.embed_text.startswith("git-reset - Reset current HEAD\n\n") for p in pieces)
    counts = levers_corpus.chunking.count_tokens_batch([p.embed_text for p in pieces])
    assert max(counts) + levers_corpus.chunking.SPECIAL_TOKENS <= 256


def test_flat_path_heads_each_window_with_its_first_line_s_heading() -> None:
    pieces = levers_corpus.flat_pieces(_page(), levers_corpus.VARIANTS["flat+path"])
    headers = [p.embed_text.split("\n\n")[0] for p in pieces]
    assert headers[0] == "git-reset - Reset current HEAD > NAME"
    assert headers[1:]
    assert set(headers[1:]) == {"git-reset - Reset current HEAD > DESCRIPTION"}
    counts = levers_corpus.chunking.count_tokens_batch([p.embed_text for p in pieces])
    assert max(counts) + levers_corpus.chunking.SPECIAL_TOKENS <= 256

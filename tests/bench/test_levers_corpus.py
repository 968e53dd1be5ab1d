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

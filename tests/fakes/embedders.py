"""Embedders for tests that count what the app asks of the model."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rag.knowledge.embedders import HashEmbedder


class CountingEmbedder(HashEmbedder):
    """The hash embedder, keeping every document text it embedded (``embedded``), in order."""

    def __init__(self) -> None:
        super().__init__(dimensions=384)
        self.embedded: list[str] = []

    async def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        self.embedded.extend(texts)
        return await super().embed_documents(texts)

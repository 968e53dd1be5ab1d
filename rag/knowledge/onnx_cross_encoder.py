"""A cross-encoder exported to ONNX: a directory with ``model.onnx`` and ``tokenizer.json``.

What ``RERANKER=<directory>`` loads when the directory holds those two files (anything else is
loaded as a sentence-transformers ``CrossEncoder``). The graph takes the tokenized (question,
passage) pair (``input_ids``, ``attention_mask`` and, when it has that input,
``token_type_ids``) and gives one relevance logit per pair: the shape of the MS MARCO MiniLM
cross-encoders, which ``trulybot fetch-reranker`` installs (docs/retrieval.md).

Pairs are cut to ``max_tokens`` word pieces, the longer of the two sides first (what
sentence-transformers does with ``truncation=True``); the cost of a pair grows with its length,
and a chunk is at most ``chunking.CHUNK_TOKENS`` pieces plus its header.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag.knowledge.onnx_minilm import cpu_session, token_feed

GRAPH = "model.onnx"
TOKENIZER = "tokenizer.json"

MAX_TOKENS = 320
"""Word pieces per (question, passage) pair: a 250-piece chunk, its header and a question."""


def is_onnx_dir(path: Path) -> bool:
    """Whether ``path`` holds an ONNX cross-encoder (``model.onnx`` and ``tokenizer.json``)."""
    return (path / GRAPH).is_file() and (path / TOKENIZER).is_file()


class OnnxCrossEncoder:
    """Scores (question, passage) pairs; one call at a time (the tokenizer pads in place)."""

    def __init__(self, path: Path, *, threads: int = 1, max_tokens: int = MAX_TOKENS) -> None:
        from tokenizers import Tokenizer

        self.path = path
        self._session = cpu_session(path / GRAPH, threads)
        self._inputs = {i.name for i in self._session.get_inputs()}
        missing = {"input_ids", "attention_mask"} - self._inputs
        if missing:
            raise ValueError(f"{path / GRAPH} has no input {', '.join(sorted(missing))}")
        tokenizer: Any = Tokenizer.from_file(str(path / TOKENIZER))
        tokenizer.enable_truncation(max_length=max_tokens, strategy="longest_first")
        tokenizer.enable_padding(pad_id=0, pad_type_id=0, pad_token="[PAD]")  # noqa: S106
        self._tokenizer = tokenizer
        self._lock = threading.Lock()

    def predict(self, pairs: Sequence[tuple[str, str]], batch_size: int = 1) -> np.ndarray:
        """One logit per pair (higher: more relevant), float32, in batches of ``batch_size``
        (longest first). One pair at a time by default: an int8 graph quantizes its activations
        with one scale per batch, so a pair scored beside others moved by up to 0.3 (of a range
        of about -11..10), and it was no faster on this CPU (no padding to compute)."""
        items = list(pairs)
        out = np.zeros(len(items), dtype=np.float32)
        order = sorted(range(len(items)), key=lambda i: -len(items[i][1]))
        with self._lock:
            for start in range(0, len(order), max(batch_size, 1)):
                rows = order[start : start + batch_size]
                encodings = self._tokenizer.encode_batch([items[i] for i in rows])
                feed = token_feed(encodings)
                wanted = {k: v for k, v in feed.items() if k in self._inputs}
                scores = np.asarray(self._session.run(None, wanted)[0], dtype=np.float32)
                out[rows] = scores[:, -1] if scores.ndim == 2 else scores.ravel()
        return out

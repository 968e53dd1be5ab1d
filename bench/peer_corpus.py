"""The synthetic, seeded corpus of bench.peer_langchain: tenants' sentences drawn from topic
vocabularies, and their HashEmbedder vectors (the same for both systems)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import numpy as np

DIM = 384
DOC_CHUNKS = 500
COMMON = (
    "the",
    "a",
    "of",
    "to",
    "and",
    "in",
    "is",
    "for",
    "on",
    "with",
    "as",
    "by",
    "this",
    "that",
    "from",
    "it",
    "be",
    "are",
    "at",
    "or",
    "your",
    "can",
    "will",
)


def topic_vocabularies(rng: np.random.Generator, topics: int, size: int) -> list[list[str]]:
    syll = [
        "ka",
        "lo",
        "mi",
        "re",
        "su",
        "ta",
        "ne",
        "vo",
        "pi",
        "ga",
        "do",
        "ru",
        "fe",
        "zi",
        "ba",
        "ho",
        "ly",
        "wen",
        "qua",
        "tor",
    ]
    vocab = []
    for t in range(topics):
        words = set()
        while len(words) < size:
            n = int(rng.integers(2, 4))
            words.add("".join(syll[int(i)] for i in rng.integers(0, len(syll), n)) + str(t % 7))
        vocab.append(sorted(words))
    return vocab


def make_texts(
    rng: np.random.Generator, vocab: list[list[str]], topics: list[int], n: int, tag: str
) -> list[str]:
    out = []
    for i in range(n):
        topic = vocab[topics[int(rng.integers(0, len(topics)))]]
        k = int(rng.integers(25, 45))
        words = [
            topic[int(rng.zipf(1.3) - 1) % len(topic)]
            if rng.random() < 0.6
            else str(COMMON[int(rng.integers(0, len(COMMON)))])
            for _ in range(k)
        ]
        out.append(" ".join(words) + f" {tag}{i}")
    return out


@dataclass
class Tenant:
    name: str
    texts: list[str]
    vectors: np.ndarray
    workspace_id: uuid.UUID = field(default_factory=uuid.uuid4)


def embed(texts: list[str]) -> np.ndarray:
    from rag.knowledge.embeddings import HashEmbedder

    return HashEmbedder(dimensions=DIM).embed_sync(texts)

"""Would chat answer these questions over the demo workspace, or say "I don't know"?

The product's decision (``rag.chat.stages.retrieve``: a passage among the ``RETRIEVAL_K`` best
pages whose cosine to the question reaches ``RETRIEVAL_MIN_SIMILARITY``, or reaches
``RETRIEVAL_WORD_MATCH_SIMILARITY`` and holds ``RETRIEVAL_WORD_MATCH_SHARE`` of the question's
content words), computed offline with ``bench.dont_know``'s harness over the demo's four
documents (api/demo/*.md): product parsing and chunking, the local MiniLM, the product's page
ranking. Used by ``python -m bench.chat_questions``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bench.dont_know import decision_scores, lexical
from bench.embed_cache import DEFAULT_DIR
from bench.levers_corpus import DEFAULT_VARIANT, VARIANTS, build_corpus, local_encode
from core.config import Settings
from rag.chat.normalize import content_terms


@dataclass(frozen=True)
class Decision:
    question: str
    similarity: float  # the largest cosine to the question among its pages' best chunks
    words: float  # the largest share of its content words in one of those chunks
    page: str  # the best page
    answered: bool  # False: "I don't know"


def fallbacks(questions: Sequence[str], settings: Settings | None = None) -> list[Decision]:
    settings = settings or Settings()
    corpus = build_corpus("demo", VARIANTS[DEFAULT_VARIANT], cache_dir=DEFAULT_DIR)
    vectors = local_encode(list(corpus.texts))
    vocabulary: set[str] = set()
    for text in corpus.texts:
        vocabulary |= content_terms(text)
    asked = local_encode(list(questions))
    scored = decision_scores(asked, vectors, corpus.sources, settings.retrieval_k)
    out = []
    for question, (sims, pages, chunks) in zip(questions, scored, strict=True):
        _, shares = lexical(question, vocabulary, [corpus.texts[i] for i in chunks])
        answered = any(
            sim >= settings.retrieval_min_similarity
            or (
                sim >= settings.retrieval_word_match_similarity
                and share >= settings.retrieval_word_match_share
            )
            for sim, share in zip(sims, shares, strict=True)
        )
        out.append(Decision(question, max(sims), max(shares), pages[0], answered))
    return out

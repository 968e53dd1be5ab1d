"""bench.chat_db's read ranks pages as the pipeline does unless told otherwise: with the
RETRIEVAL_* settings' weights by default (it ranked with ``retrieval.Weights()``, BM25 off, and
so measured a read the product no longer does); ``--weights defaults`` keeps that old read, the
one docs/benchmarks.md's figures measured."""

from __future__ import annotations

from bench.chat_db import build_parser, weights_of
from rag.knowledge import retrieval
from tests.conftest import make_settings


def test_the_read_ranks_with_the_settings_weights_unless_told_defaults() -> None:
    settings = make_settings(
        retrieval_second_chunk_weight=0.7,
        retrieval_feedback_weight=0.5,
        retrieval_lexical_weight=0.4,
        retrieval_lexical_postings=123,
        retrieval_lead_weight=0.2,
    )
    default = build_parser().parse_args([]).weights
    assert weights_of(default, settings) == retrieval.Weights(0.7, 0.5, 0.4, 123, 0.2)
    old = build_parser().parse_args(["--weights", "defaults"]).weights
    assert weights_of(old, settings) == retrieval.Weights()
    assert retrieval.Weights().bm25 == 0.0

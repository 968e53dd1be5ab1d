"""What pseudo-relevance feedback (RETRIEVAL_FEEDBACK_WEIGHT) costs one grouped vector search:
``retrieval.search`` timed in-process over an existing workspace, the same question vectors
with the weight at 0 (one search) and at the setting (the mean of the 10 best candidates and a
second vector scan, in one statement), alternating, each in its own transaction with
``hnsw.ef_search`` set as the product sets it. The query embedding is not timed (feedback adds
none).

    python -m bench.eval_quality --sets python-docs --data-dir DIR --no-write  # prints the id
    DATA_DIR=DIR python -m bench.feedback_cost --workspace ID --questions python-docs
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid

import numpy as np

from api.runtime import operator_runtime
from bench.embed_cache import DEFAULT_DIR, EmbeddingCache
from bench.levers_corpus import local_encode
from core.config import get_settings
from rag.knowledge import eval as rag_eval
from rag.knowledge import retrieval


async def run(args: argparse.Namespace) -> None:
    questions = rag_eval.load_questions(rag_eval.question_file(args.questions))
    cache = EmbeddingCache(DEFAULT_DIR / "embeddings.sqlite")
    vectors = cache.embed([q.question for q in questions], local_encode)
    settings = get_settings()
    weights = (0.0, settings.retrieval_feedback_weight)
    times: dict[float, list[float]] = {w: [] for w in weights}
    workspace = uuid.UUID(args.workspace)
    async with operator_runtime(settings) as runtime:
        for n in range(args.rounds):
            for question, vector in zip(questions, vectors, strict=True):
                for weight in weights if n % 2 == 0 else weights[::-1]:
                    started = time.perf_counter()
                    async with runtime.db.transaction(workspace_id=workspace) as session:
                        await retrieval.search(
                            session,
                            workspace_id=workspace,
                            query=question.question,
                            query_embedding=vector,
                            k=rag_eval.DEPTH,
                            mode="vector",
                            # Feedback's cost alone: the other weights at Weights' defaults
                            # (BM25 and the lead off), as docs/retrieval.md measured it.
                            weights=retrieval.Weights(feedback=weight),
                        )
                    times[weight].append((time.perf_counter() - started) * 1000)
    print("| RETRIEVAL_FEEDBACK_WEIGHT | searches | mean ms | p50 ms | p95 ms |")
    print("|---|---|---|---|---|")
    for weight, ms in times.items():
        a = np.asarray(ms[len(questions) :] or ms)  # the first round warms the caches
        print(
            f"| {weight:g} | {len(a)} | {a.mean():.1f} | {np.percentile(a, 50):.1f} |"
            f" {np.percentile(a, 95):.1f} |"
        )
    print(f"(load average {os.getloadavg()[0]:.1f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workspace", required=True, help="workspace id")
    parser.add_argument("--questions", default="python-docs", help="a shipped set or a file")
    parser.add_argument("--rounds", type=int, default=3)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()

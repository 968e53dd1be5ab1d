"""CPU of RERANKER=maxsim per question, the rerank alone, over a workspace ``bench.eval_quality``
ingested (docs/retrieval.md, twentieth session).

For each question of the set, the candidates come from the product's search as /search and
the eval fetch them (``reranker.pool(10)`` pages, the settings' weights); then the reranker's
own work is timed on this thread: the question's and the first ``candidates`` pages' chunks'
token states (each page's hit chunk and its second, ``maxsim_rerank.page_texts``) through the
token-state graph (one ONNX Runtime thread) and their MaxSims
(``MaxSimReranker.similarities``). CPU time of this thread (``time.thread_time``) and wall time
are reported per question, with the word pieces encoded.

    RERANKER=maxsim python -m bench.eval_quality --sets git-docs --no-write \\
        --data-dir /tmp/eval-db                       # prints the workspace
    RERANKER=maxsim python -m bench.maxsim_cost --data-dir /tmp/eval-db --set git-docs=UUID
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from pathlib import Path

import numpy as np

from bench.common import ROOT

sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


async def measure(args: argparse.Namespace) -> None:
    os.environ["DATA_DIR"] = str(args.data_dir)
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("MIGRATION_DATABASE_URL", None)
    from api.runtime import build_runtime
    from bench.embed_cache import DEFAULT_DIR, CachedEmbedder, EmbeddingCache
    from bench.eval_quality import CORPORA
    from core.config import Settings
    from rag.knowledge import eval as rag_eval
    from rag.knowledge import retrieval
    from rag.knowledge.embeddings import build_embedder
    from rag.knowledge.maxsim_rerank import MaxSimReranker, page_texts

    settings = Settings(_env_file=None, reranker="maxsim")  # type: ignore[call-arg]
    embedder = CachedEmbedder(
        build_embedder(settings), EmbeddingCache(DEFAULT_DIR / "embeddings.sqlite")
    )
    name, _, workspace = args.set.partition("=")
    ws = uuid.UUID(workspace)
    questions = rag_eval.load_questions(CORPORA[name][1])[: args.questions]
    async with build_runtime(
        settings, apply_migrations=True, statement_timeout_ms=0, embedder=embedder
    ) as runtime:
        reranker = runtime.reranker
        assert isinstance(reranker, MaxSimReranker)
        cpu, wall, pieces, chunks = [], [], [], []
        for question in questions:
            vector = await runtime.embedder.embed_query(question.question)
            async with runtime.db.transaction(workspace_id=ws) as session:
                hits = await retrieval.search(
                    session,
                    workspace_id=ws,
                    query=question.question,
                    query_embedding=vector,
                    k=reranker.pool(rag_eval.DEPTH),
                    mode="vector",
                    weights=retrieval.Weights.of(runtime.settings),
                )
            texts = [t for h in hits[: reranker.candidates] for t in page_texts(h)]
            chunks.append(len(texts))
            assert reranker.model is not None
            pieces.append(
                sum(sum(e.attention_mask) for e in reranker.model.tokenizer.encode_batch(texts))
            )
            started, clock = time.thread_time(), time.perf_counter()
            reranker.similarities(question.question, texts)
            cpu.append(1000 * (time.thread_time() - started))
            wall.append(1000 * (time.perf_counter() - clock))
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"{name}: {len(questions)} questions, {reranker.candidates} pages reranked,"
        f" {np.mean(chunks):.1f} chunks and {np.mean(pieces):.0f} word pieces a question:"
        f" CPU {np.mean(cpu):.0f} ms a question"
        f" (median {np.median(cpu):.0f}, p95 {np.percentile(cpu, 95):.0f}), wall"
        f" {np.mean(wall):.0f} ms (median {np.median(wall):.0f}, p95"
        f" {np.percentile(wall, 95):.0f}); load average at the end {load}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--set", required=True, help="NAME=WORKSPACE_UUID")
    parser.add_argument("--questions", type=int, default=None, help="only the first N")
    asyncio.run(measure(parser.parse_args(argv)))


if __name__ == "__main__":
    main()

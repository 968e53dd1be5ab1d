"""The HNSW index's share of an eval's gap: one existing workspace, the real search call
(``retrieval.search``, vector mode with the settings' fusion), at several ``hnsw.ef_search``
values and with no index scan at all (``enable_indexscan`` off in each search transaction:
the vector statements then scan the workspace's rows exactly). Prints recall@1/5/10 and MRR
per half, and p50/p95 of the search calls (in-process, one at a time).

    python -m bench.hnsw_ef --data-dir /tmp/hnswef-db --workspace UUID --set python-docs \
        --ef 100 --ef 200 --ef 400 --exact

The data directory is an eval's (``bench.eval_quality --data-dir``); work on a copy. Note
``retrieval.ef_search_for``: the search sets max(ef, 4 x candidates), so ef below 160 is 160
for k = 10 documents.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.common import ROOT


async def eval_pass(
    runtime: Any,
    workspace_id: uuid.UUID,
    questions: Sequence[Any],
    vectors: Sequence[Any],
    *,
    ef: int | None,
    local: dict[str, str],
    timings: list[float],
) -> list[int | None]:
    """One pass of the real search call (grouped vector mode, the settings' weights) over the
    questions, one transaction each with ``local`` settings: each question's rank of its
    expected page; each call's seconds are appended to ``timings``."""
    from rag.knowledge import eval as rag_eval
    from rag.knowledge import retrieval
    from rag.knowledge.repository import documents as document_repo

    weights = retrieval.Weights.of(runtime.settings)
    ranks: list[int | None] = []
    for question, vector in zip(questions, vectors, strict=True):
        async with runtime.db.transaction(workspace_id=workspace_id, local=local) as session:
            started = time.perf_counter()
            hits = await retrieval.search(
                session,
                workspace_id=workspace_id,
                query=question.question,
                query_embedding=vector,
                k=rag_eval.DEPTH,
                mode="vector",
                ef_search=ef,
                weights=weights,
            )
            timings.append(time.perf_counter() - started)
            docs = rag_eval._documents(hits)
            sources = await document_repo.document_sources(session, workspace_id, docs)
        ordered = [sources[d] for d in docs if d in sources]
        ranks.append(rag_eval.first_rank(ordered, question.expected))
    return ranks


def use_data_dir(data_dir: Path) -> None:
    """This process's runtime on the embedded cluster in ``data_dir`` (an eval's copy)."""
    os.environ["DATA_DIR"] = str(data_dir)
    os.environ.pop("DATABASE_URL", None)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.path.insert(0, str(ROOT))


async def run(args: argparse.Namespace) -> None:
    use_data_dir(args.data_dir)
    from api.runtime import build_runtime
    from core.config import Settings
    from rag.knowledge import eval as rag_eval

    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    workspace_id = uuid.UUID(args.workspace)
    questions = rag_eval.load_questions(rag_eval.question_file(args.set))
    configs: list[tuple[str, int, dict[str, str]]] = [(f"ef {e}", e, {}) for e in args.ef]
    if args.exact:
        configs.append(("exact (no index scan)", 100, {"enable_indexscan": "off"}))
    async with build_runtime(
        settings, apply_migrations=False, statement_timeout_ms=0, jobs="in-process"
    ) as runtime:
        vectors = [await runtime.embedder.embed_query(q.question) for q in questions]
        results = []
        for name, ef, local in configs:
            result = rag_eval.ModeResult(mode=name)
            timings: list[float] = []
            for _ in range(args.rounds):
                result.ranks = await eval_pass(
                    runtime, workspace_id, questions, vectors, ef=ef, local=local, timings=timings
                )
            ms = sorted(t * 1000 for t in timings)
            p95 = ms[min(len(ms) - 1, int(0.95 * len(ms)))]
            print(
                f"{name}: {len(ms)} searches, p50 {statistics.median(ms):.1f} ms,"
                f" p95 {p95:.1f} ms, MRR {result.mrr:.3f}",
                flush=True,
            )
            results.append(result)
    print(rag_eval.format_halves([(args.set, questions, results)]))
    last = results[-1]
    for result in results[:-1]:  # the questions whose rank differs from the last configuration's
        moved = [
            f"{q.id} {a}->{b}"
            for q, a, b in zip(questions, result.ranks, last.ranks, strict=True)
            if a != b
        ]
        print(f"{result.mode} vs {last.mode}: {', '.join(moved) or 'same ranks'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--workspace", required=True)
    parser.add_argument("--set", default="python-docs")
    parser.add_argument("--ef", type=int, action="append", default=[])
    parser.add_argument("--exact", action="store_true", help="also with index scans off")
    parser.add_argument("--rounds", type=int, default=1, help="passes over the questions")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()

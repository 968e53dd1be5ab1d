"""HNSW build parameters judged on several rebuilt graphs: one existing workspace (an eval's,
on a copy of its database), its partial HNSW index dropped and rebuilt ``--builds`` times per
setting (pgvector draws each element's level at random, so every build is another graph),
through the product's own DDL (``indexes.build_concurrently``, the owner path).

For each build: the build's seconds and the index's size; the ANN recall of the search's two
index scans against exact (index scans off), for every question of the set, per half: the
feedback scan (the question's ``FEEDBACK_CHUNKS`` nearest chunks) and the candidate scan (the
``candidate_count(k)`` chunks the grouped search ranks, for the moved vector; end to end, so a
feedback scan that missed a chunk moves it too); then the eval through the real
``retrieval.search`` (vector mode, the settings' weights, today's ``EF_SEARCH``): recall@1/5/10
and MRR per half, p50/p95 of the search call in-process and PostgreSQL's CPU per search (the
cluster's processes). The builds are interleaved (build 1 of every setting, then build 2...),
so the host's load drifts over all settings alike. The exact row (index scans off) is the
reference.

    python -m bench.eval_quality --sets python-docs --lexical-weight 0.3 --no-write \\
        --data-dir /tmp/hnswbuild-evalpy            # prints the workspace id
    cp -a /tmp/hnswbuild-evalpy /tmp/hnswbuild-db   # the cluster is stopped once it ends
    python -m bench.hnsw_build --data-dir /tmp/hnswbuild-db --workspace UUID \\
        --setting 16,64 --setting 16,128 --setting 16,200 --setting 24,128 --setting 32,200

docs/retrieval.md, "Fifteenth session: HNSW build parameters on several graphs".
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import hashlib
import os
import statistics
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.chat_workload import cpu_seconds
from bench.common import pct
from bench.hnsw_ef import eval_pass, use_data_dir

HALVES = ("tune", "heldout", "all")


@dataclass
class Build:
    setting: tuple[int, int]
    number: int
    seconds: float = 0.0
    size_mb: float = 0.0
    feedback_recall: dict[str, float] = field(default_factory=dict)
    candidate_recall: dict[str, float] = field(default_factory=dict)
    ranks: list[int | None] = field(default_factory=list)
    timings: list[float] = field(default_factory=list)
    pg_cpu_ms: float = float("nan")
    digest: str = ""
    """Of every id the two scans returned, in order: equal digests, the same results."""
    load: tuple[float, float] = (float("nan"), float("nan"))


def recall(
    found: Sequence[Sequence[uuid.UUID]], exact: Sequence[Sequence[uuid.UUID]]
) -> list[float]:
    """Per question: the share of the exact ids the ANN scan returned."""
    return [len(set(f) & set(e)) / max(1, len(e)) for f, e in zip(found, exact, strict=True)]


def by_half(values: Sequence[float], halves: Sequence[str]) -> dict[str, float]:
    out = {
        h: statistics.fmean([v for v, q in zip(values, halves, strict=True) if q == h])
        for h in HALVES[:2]
    }
    out["all"] = statistics.fmean(values)
    return out


async def scans(
    runtime: Any, workspace_id: uuid.UUID, vectors: Sequence[Any], local: dict[str, str]
) -> tuple[list[list[uuid.UUID]], list[list[uuid.UUID]]]:
    """Each question's feedback scan (its FEEDBACK_CHUNKS nearest chunks) and candidate scan
    (the feedback statement's candidate_count(DEPTH) chunks), at the ef_search the search sets."""
    from rag.knowledge import eval as rag_eval
    from rag.knowledge import retrieval
    from rag.knowledge.repository import search as search_repo

    n = retrieval.candidate_count(rag_eval.DEPTH)
    weight = runtime.settings.retrieval_feedback_weight
    feedback, candidates = [], []
    async with runtime.db.transaction(workspace_id=workspace_id, local=local) as session:
        await search_repo.set_ef_search(session, retrieval.ef_search_for(rag_eval.DEPTH, "vector"))
        for vector in vectors:
            rows = await search_repo.vector_search(
                session, workspace_id, vector, retrieval.FEEDBACK_CHUNKS
            )
            feedback.append([r[0] for r in rows])
            rows = await search_repo.feedback_search(
                session,
                workspace_id,
                vector,
                n,
                weight=weight,
                feedback_chunks=retrieval.FEEDBACK_CHUNKS,
            )
            candidates.append([r[0] for r in rows])
    return feedback, candidates


async def rebuild(owner_url: str, workspace_id: uuid.UUID, m: int, efc: int) -> tuple[float, float]:
    """The workspace's index dropped and built again with (m, efc): seconds, MB."""
    from sqlalchemy import text

    from rag.knowledge.repository import indexes

    await indexes.drop_concurrently(owner_url, workspace_id)
    started = time.perf_counter()
    await indexes.build_concurrently(owner_url, workspace_id, m=m, ef_construction=efc)
    seconds = time.perf_counter() - started
    async with indexes.owner_connection(owner_url, autocommit=True) as conn:
        name = indexes.index_name(workspace_id)
        row = (
            await conn.execute(
                text(
                    "SELECT pg_relation_size(c.oid), c.reloptions FROM pg_class c"
                    " WHERE c.relname = :n"
                ),
                {"n": name},
            )
        ).one()
        wanted = {f"m={m}", f"ef_construction={efc}"}
        if not wanted <= set(row[1] or ()):
            raise SystemExit(f"{name} was built with {row[1]}, not {sorted(wanted)}")
        await conn.execute(text("ANALYZE chunks"))
    return seconds, row[0] / 2**20


async def uses_index(owner_url: str, workspace_id: uuid.UUID, vector: Any) -> bool:
    """Whether the candidate scan's plan reads the workspace's partial HNSW index."""
    from sqlalchemy import text

    from rag.knowledge.repository import indexes
    from rag.knowledge.repository.chunks import vector_text, workspace_literal

    async with indexes.owner_connection(owner_url, autocommit=False) as conn:
        plan = (
            await conn.execute(
                text(
                    "EXPLAIN SELECT id FROM chunks"
                    f" WHERE workspace_id = {workspace_literal(workspace_id)}"
                    f" ORDER BY embedding <=> '{vector_text(vector)}'::vector LIMIT 40"
                )
            )
        ).scalars()
        return indexes.index_name(workspace_id) in "\n".join(plan)


def postgres_pid(data_dir: Path) -> list[int]:
    try:
        return [int((data_dir / "pgdata" / "postmaster.pid").read_text().split()[0])]
    except (OSError, ValueError):
        return []


async def measure(
    runtime: Any,
    workspace_id: uuid.UUID,
    questions: Sequence[Any],
    vectors: Sequence[Any],
    exact: tuple[list[list[uuid.UUID]], list[list[uuid.UUID]]],
    build: Build,
    *,
    rounds: int,
    local: dict[str, str],
    pids: list[int],
) -> None:
    from eval.splits import split_of
    from rag.knowledge.indexing import EF_SEARCH

    halves = [split_of(q.id) for q in questions]
    feedback, candidates = await scans(runtime, workspace_id, vectors, local)
    ids = "".join(str(i) for found in (*feedback, *candidates) for i in found)
    build.digest = hashlib.sha256(ids.encode()).hexdigest()[:8]
    build.feedback_recall = by_half(recall(feedback, exact[0]), halves)
    build.candidate_recall = by_half(recall(candidates, exact[1]), halves)
    load = os.getloadavg()[0]
    before = cpu_seconds({"postgres": pids})["postgres"] if pids else None
    for _ in range(rounds):
        build.ranks = await eval_pass(
            runtime,
            workspace_id,
            questions,
            vectors,
            ef=EF_SEARCH,
            local=local,
            timings=build.timings,
        )
    if before is not None:
        used = cpu_seconds({"postgres": pids})["postgres"] - before
        build.pg_cpu_ms = used * 1000 / len(build.timings)
    build.load = (load, os.getloadavg()[0])


def rows(
    builds: Sequence[Build], questions: Sequence[Any], exact_ranks: Sequence[int | None]
) -> list[str]:
    from rag.knowledge import eval as rag_eval

    out = [
        "| setting (m, efc) | build | half | candidates recall (40) | feedback recall (10) |"
        " recall@1 | recall@5 | recall@10 | MRR | build s | index MB | search p50 / p95 ms |"
        " PG CPU ms / search | scans' digest | ranks unlike exact |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for b in builds:
        result = rag_eval.ModeResult(mode="", ranks=list(b.ranks))
        split = rag_eval.by_half(result, questions)
        ms = [t * 1000 for t in b.timings]
        moved = [
            f"{q.id} {e}->{a}"
            for q, a, e in zip(questions, b.ranks, exact_ranks, strict=True)
            if a != e
        ]
        for half in HALVES:
            r = split[half]
            label = "exact" if b.number == 0 else f"{b.setting[0]}, {b.setting[1]}"
            last = half == "all"
            out.append(
                f"| {label if half == 'tune' else ''} | {b.number or ''} |"
                f" {'held-out' if half == 'heldout' else half} |"
                f" {b.candidate_recall[half]:.4f} | {b.feedback_recall[half]:.4f} |"
                f" {r.recall(1):.3f} | {r.recall(5):.3f} | {r.recall(10):.3f} | {r.mrr:.3f} |"
                + (
                    f" {f'{b.seconds:.1f}' if b.number else '-'} |"
                    f" {f'{b.size_mb:.1f}' if b.number else '-'} |"
                    f" {pct(ms, 0.5):.1f} / {pct(ms, 0.95):.1f} |"
                    f" {b.pg_cpu_ms:.1f} | {b.digest} | {', '.join(moved) or 'none'} |"
                    if last
                    else " | | | | | |"
                )
            )
    return out


async def run(args: argparse.Namespace) -> None:
    use_data_dir(args.data_dir)
    from api.runtime import build_runtime
    from core.config import Settings
    from rag.knowledge import eval as rag_eval

    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    workspace_id = uuid.UUID(args.workspace)
    questions = rag_eval.load_questions(rag_eval.question_file(args.set))
    off = {"enable_indexscan": "off"}
    started_load = os.getloadavg()
    async with build_runtime(
        settings, apply_migrations=False, statement_timeout_ms=0, jobs="in-process"
    ) as runtime:
        owner_url = runtime.owner_url
        pids = postgres_pid(args.data_dir)  # the cluster runs now
        if owner_url is None:
            raise SystemExit("needs the owner connection (the embedded cluster's)")
        vectors = [await runtime.embedder.embed_query(q.question) for q in questions]
        exact = await scans(runtime, workspace_id, vectors, off)
        measured = functools.partial(
            measure, runtime, workspace_id, questions, vectors, exact, rounds=args.rounds, pids=pids
        )
        reference = Build(setting=(0, 0), number=0)
        await measured(reference, local=off)
        print(f"exact: MRR {rag_eval.ModeResult('', list(reference.ranks)).mrr:.3f}", flush=True)
        builds: list[Build] = []
        for number in range(1, args.builds + 1):
            for m, efc in args.settings:
                build = Build(setting=(m, efc), number=number)
                build.seconds, build.size_mb = await rebuild(owner_url, workspace_id, m, efc)
                if not await uses_index(owner_url, workspace_id, vectors[0]):
                    raise SystemExit("the candidate scan does not use the partial HNSW index")
                await measured(build, local={})
                builds.append(build)
                mrr = rag_eval.ModeResult("", list(build.ranks)).mrr
                print(
                    f"m {m} efc {efc} build {number}: {build.seconds:.1f} s,"
                    f" {build.size_mb:.1f} MB, digest {build.digest}, candidates recall"
                    f" {build.candidate_recall['all']:.4f}, MRR {mrr:.3f},"
                    f" load {build.load[0]:.2f}-{build.load[1]:.2f}",
                    flush=True,
                )
    ordered = sorted(builds, key=lambda b: (args.settings.index(b.setting), b.number))
    print(f"load average {started_load[0]:.2f} at the start, {os.getloadavg()[0]:.2f} at the end")
    print("\n".join(rows([reference, *ordered], questions, reference.ranks)))
    print("\n".join(summary(ordered, args.settings, questions)))


def summary(
    builds: Sequence[Build], settings: Sequence[tuple[int, int]], questions: Sequence[Any]
) -> list[str]:
    """Per setting, over its builds: the lowest and highest of each figure (median times)."""
    from rag.knowledge import eval as rag_eval

    out = [
        "| setting (m, efc) | builds | candidates recall tune / held-out (min-max) |"
        " feedback recall tune / held-out (min-max) | MRR tune / held-out / all (min-max) |"
        " build s (median) | index MB | search p50 / p95 ms (all builds) | PG CPU ms / search |",
        "|---|---|---|---|---|---|---|---|---|",
    ]

    def span(values: Sequence[float], digits: int) -> str:
        return f"{min(values):.{digits}f}-{max(values):.{digits}f}"

    for setting in settings:
        own = [b for b in builds if b.setting == setting]
        halves = [
            rag_eval.by_half(rag_eval.ModeResult(mode="", ranks=list(b.ranks)), questions)
            for b in own
        ]
        mrr = " / ".join(span([h[half].mrr for h in halves], 3) for half in HALVES)
        ms = [t * 1000 for b in own for t in b.timings]
        out.append(
            f"| {setting[0]}, {setting[1]} | {len(own)} |"
            f" {span([b.candidate_recall['tune'] for b in own], 4)} /"
            f" {span([b.candidate_recall['heldout'] for b in own], 4)} |"
            f" {span([b.feedback_recall['tune'] for b in own], 4)} /"
            f" {span([b.feedback_recall['heldout'] for b in own], 4)} | {mrr} |"
            f" {statistics.median(b.seconds for b in own):.1f} |"
            f" {statistics.median(b.size_mb for b in own):.1f} |"
            f" {pct(ms, 0.5):.1f} / {pct(ms, 0.95):.1f} |"
            f" {statistics.median(b.pg_cpu_ms for b in own):.1f} |"
        )
    return out


def setting(value: str) -> tuple[int, int]:
    m, efc = (int(v) for v in value.split(","))
    return m, efc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--workspace", required=True)
    parser.add_argument("--set", default="python-docs")
    parser.add_argument(
        "--setting",
        dest="settings",
        type=setting,
        action="append",
        default=[],
        help="M,EF_CONSTRUCTION (repeatable)",
    )
    parser.add_argument("--builds", type=int, default=3, help="graphs built per setting")
    parser.add_argument("--rounds", type=int, default=2, help="eval passes per graph (timing)")
    args = parser.parse_args()
    if not args.settings:
        args.settings = [(16, 64)]
    asyncio.run(run(args))


if __name__ == "__main__":
    main()

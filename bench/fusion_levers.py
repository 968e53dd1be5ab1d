"""Full-text and fusion levers over workspaces ``bench.eval_quality`` ingested (lever 6 and 7).

For every question the product's own statements fetch the vector candidates (cosine) and the
full-text candidates (``ts_rank_cd`` over the weighted tsv: title A, headings B, text C) of one
workspace once; the fusions are computed from those two lists in Python, then grouped by
document (one hit per page) and scored like ``rag.knowledge.eval``:

- ``vector``, ``fulltext``: each list alone; ``rrf``: reciprocal rank fusion, k = 60 (the
  product's hybrid mode); ``wrrf-W``: RRF with the full-text list weighted W;
- ``gate-T``: the vector order, except that the full-text list's best page goes first when its
  ``ts_rank_cd`` is at least T (a strong title/heading match);
- ``+question``: short keyword queries (<= 4 words, no question mark) rewritten as
  "how do I ...?" before they are embedded (lever 7); the full-text query is unchanged.

    python -m bench.eval_quality --no-write --data-dir .cache/eval-db   # prints the workspaces
    python -m bench.fusion_levers --data-dir .cache/eval-db \\
        --set python-docs=UUID --set git-docs=UUID

Vectors come from ``bench.embed_cache`` (the local MiniLM). Choose on the tune halves only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.common import ROOT

sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from eval.splits import SPLITS, split_of
from rag.knowledge import eval as rag_eval
from rag.knowledge import retrieval
from rag.knowledge.repository import documents as document_repo

QUESTION_WORDS = {"how", "what", "why", "when", "where", "which", "who", "can", "is", "does", "do"}
Lists = tuple[list[retrieval.Hit], list[retrieval.Hit]]


def as_question(query: str) -> str:
    """A short keyword query ("rebase abort") as the question a visitor would type."""
    words = query.split()
    if len(words) > 4 or "?" in query or words[0].casefold() in QUESTION_WORDS:
        return query
    return f"How do I {query}?"


def rrf(v: Sequence[retrieval.Hit], f: Sequence[retrieval.Hit], w: float) -> list[Any]:
    scores: dict[uuid.UUID, float] = {}
    by_id: dict[uuid.UUID, retrieval.Hit] = {}
    for weight, hits in ((1.0, v), (w, f)):
        for rank, hit in enumerate(hits, start=1):
            scores[hit.chunk_id] = scores.get(hit.chunk_id, 0.0) + weight / (60 + rank)
            by_id[hit.chunk_id] = hit
    return [by_id[i] for i in sorted(scores, key=lambda i: -scores[i])]


def gate(v: Sequence[retrieval.Hit], f: Sequence[retrieval.Hit], t: float) -> list[Any]:
    if f and f[0].score >= t:
        return [f[0], *v]
    return list(v)


FUSIONS: dict[str, Callable[[Sequence[retrieval.Hit], Sequence[retrieval.Hit]], list[Any]]] = {
    "vector": lambda v, f: list(v),
    "fulltext": lambda v, f: list(f),
    "rrf": lambda v, f: rrf(v, f, 1.0),
    "wrrf-0.5": lambda v, f: rrf(v, f, 0.5),
    "wrrf-0.25": lambda v, f: rrf(v, f, 0.25),
    "gate-1": lambda v, f: gate(v, f, 1.0),
    "gate-4": lambda v, f: gate(v, f, 4.0),
    "gate-8": lambda v, f: gate(v, f, 8.0),
    "gate-16": lambda v, f: gate(v, f, 16.0),
    "gate-32": lambda v, f: gate(v, f, 32.0),
}
STOP = {"the", "and", "for", "with", "from", "that", "this", "how", "what", "can", "does", "into"}


def content_words(text: str) -> set[str]:
    words = "".join(c if c.isalnum() else " " for c in text.casefold()).split()
    return {w for w in words if len(w) >= 3 and w not in STOP}


def title_gate(query: str, v: Sequence[retrieval.Hit], f: Sequence[retrieval.Hit]) -> list[Any]:
    """The full-text list's best page first when its title holds the query's content words
    (all of them for one or two, two or more otherwise): a strong title match."""
    if not f:
        return list(v)
    wanted = content_words(query)
    shared = wanted & content_words(f[0].title)
    if wanted and len(shared) >= min(2, len(wanted)):
        return [f[0], *v]
    return list(v)


async def lists(runtime: Any, ws: uuid.UUID, query: str, vector: Any, n: int) -> Lists:
    out = []
    for mode in ("vector", "fulltext"):
        async with runtime.db.transaction(workspace_id=ws) as session:
            out.append(
                await retrieval.candidates(
                    session, workspace_id=ws, query=query, query_embedding=vector, n=n, mode=mode
                )
            )
    return out[0], out[1]


async def run_set(runtime: Any, name: str, ws: uuid.UUID) -> list[dict[str, Any]]:
    questions = rag_eval.load_questions(rag_eval.question_file(name))
    n = retrieval.candidate_count(rag_eval.DEPTH)
    texts = [q.question for q in questions]
    rewritten = [as_question(t) for t in texts]
    vectors = await runtime.embedder.embed_documents(texts)
    rvectors = await runtime.embedder.embed_documents(rewritten)
    ranks: dict[str, dict[str, list[int | None]]] = {}
    top_scores: list[float] = []
    for i, question in enumerate(questions):
        base = await lists(runtime, ws, question.question, vectors[i], n)
        variants = {"": base}
        if rewritten[i] != texts[i]:
            variants["+question"] = (
                (await lists(runtime, ws, question.question, rvectors[i], n))[0],
                base[1],
            )
        else:
            variants["+question"] = base
        docs: set[uuid.UUID] = {h.document_id for v, f in variants.values() for h in [*v, *f]}
        top_scores.append(base[1][0].score if base[1] else 0.0)
        async with runtime.db.transaction(workspace_id=ws) as session:
            sources = await document_repo.document_sources(session, ws, list(docs))
        for suffix, (v, f) in variants.items():
            q = question.question
            fusions = {**FUSIONS, "title-gate": lambda v, f, q=q: title_gate(q, v, f)}
            for fusion, fn in fusions.items():
                if suffix and fusion == "fulltext":
                    continue
                grouped = retrieval.group_by_document(fn(v, f), rag_eval.DEPTH)
                ordered = [sources[h.document_id] for h in grouped]
                half = split_of(question.id)
                ranks.setdefault(fusion + suffix, {h: [] for h in SPLITS})[half].append(
                    rag_eval.first_rank(ordered, question.expected)
                )
    top_scores.sort()
    quartiles = [
        round(top_scores[int(q * (len(top_scores) - 1))], 2) for q in (0, 0.25, 0.5, 0.75, 1)
    ]
    print(f"{name}: best full-text ts_rank_cd, min/quartiles/max: {quartiles}", file=sys.stderr)
    rows = []
    for variant, halves in ranks.items():
        for half, found in halves.items():
            result = rag_eval.ModeResult(mode=variant, ranks=found)
            rows.append(
                {
                    "set": name,
                    "half": half,
                    "variant": variant,
                    **{f"R@{k}": result.recall(k) for k in rag_eval.CUTOFFS},
                    "MRR": result.mrr,
                    "n": len(found),
                }
            )
    return rows


def table(rows: Sequence[dict[str, Any]]) -> str:
    lines = [
        "| set | half | variant | R@1 | R@5 | R@10 | MRR | n |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: (r["set"], r["half"] != "tune")):
        lines.append(
            f"| {r['set']} | {r['half']} | {r['variant']} | {r['R@1']:.3f} | {r['R@5']:.3f} |"
            f" {r['R@10']:.3f} | {r['MRR']:.3f} | {r['n']} |"
        )
    return "\n".join(lines)


async def run(args: argparse.Namespace) -> str:
    os.environ["DATA_DIR"] = str(args.data_dir)
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("MIGRATION_DATABASE_URL", None)
    from api.runtime import build_runtime
    from bench.embed_cache import DEFAULT_DIR, CachedEmbedder, EmbeddingCache
    from core.config import Settings
    from rag.knowledge.embeddings import build_embedder

    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    embedder = CachedEmbedder(
        build_embedder(settings), EmbeddingCache(DEFAULT_DIR / "embeddings.sqlite")
    )
    rows: list[dict[str, Any]] = []
    async with build_runtime(
        settings, apply_migrations=True, statement_timeout_ms=0, embedder=embedder
    ) as runtime:
        for pair in args.set:
            name, ws = pair.split("=", 1)
            rows += await run_set(runtime, name, uuid.UUID(ws))
    await embedder.aclose()
    return table(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--set", action="append", required=True, help="NAME=WORKSPACE_UUID")
    args = parser.parse_args(argv)
    print(asyncio.run(run(args)))


if __name__ == "__main__":
    main()

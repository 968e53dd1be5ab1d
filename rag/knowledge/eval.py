"""Retrieval quality on a question set: recall@1/5/10 and MRR per mode, by source document.

A question file is JSON lines ``{"id", "question", "expected": [source, ...]}``; a question
counts as found at rank r when the r-th distinct document among the retrieved chunks has one of
the expected sources (documents ingested from a folder keep their relative path as source).
Results are reported per half of the set (``eval.splits``: choose on "tune", report "heldout").

The shipped sets (``SHIPPED``) are installed with the package: ``python-docs`` over Debian's
python3-doc and ``git-docs`` over git-doc (eval/README.md).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from core.db import Database
from core.errors import ConfigError
from eval.splits import SPLITS, split_of
from rag.knowledge import retrieval
from rag.knowledge.embeddings import Embedder
from rag.knowledge.repository import documents as document_repo
from rag.knowledge.rerank import Reranker
from rag.knowledge.rerankers import describe

SHIPPED = ("python-docs", "git-docs")
CUTOFFS = (1, 5, 10)
DEPTH = 10  # distinct documents per question (retrieval.search groups by document)


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    expected: list[str]


@dataclass
class ModeResult:
    mode: str
    ranks: list[int | None] = field(default_factory=list)  # 1-based rank or None (not in top 10)
    fallbacks: dict[str, int] = field(default_factory=dict)  # reranks that kept the order, why

    def recall(self, k: int) -> float:
        return sum(1 for r in self.ranks if r is not None and r <= k) / max(1, len(self.ranks))

    @property
    def mrr(self) -> float:
        return sum(1.0 / r for r in self.ranks if r is not None) / max(1, len(self.ranks))


def question_file(name: str) -> Path:
    """A shipped set by name (``python-docs``, ``git-docs``) or a path to a JSON-lines file."""
    if name in SHIPPED:
        return Path(str(resources.files("eval").joinpath(f"{name}.jsonl")))
    return Path(name)


QUESTION_LINE = '{"id": ..., "question": "...", "expected": ["source", ...]}'


def load_questions(path: Path) -> list[Question]:
    """The questions of a JSON-lines file; ``ConfigError`` naming the file and line of the first
    one that is not a question (it was a traceback: a KeyError, a JSONDecodeError)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text (each line: {QUESTION_LINE})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    out = []
    for number, line in enumerate(lines, start=1):
        if line.strip():
            out.append(_question(line, f"{path}:{number}"))
    return out


def _question(line: str, where: str) -> Question:
    try:
        row = json.loads(line)
    except ValueError:
        raise ConfigError(f"{where}: not JSON (each line: {QUESTION_LINE})") from None
    missing = [
        key for key in ("id", "question", "expected") if not isinstance(row, dict) or key not in row
    ]
    if missing:
        raise ConfigError(f"{where}: no {', '.join(missing)} (each line: {QUESTION_LINE})")
    expected = row["expected"]
    if not isinstance(expected, list) or not all(isinstance(e, str) for e in expected):
        raise ConfigError(
            f"{where}: expected must be a list of sources (each line: {QUESTION_LINE})"
        )
    if not isinstance(row["question"], str) or not row["question"].strip():
        raise ConfigError(f"{where}: question must be a text (each line: {QUESTION_LINE})")
    return Question(str(row["id"]), row["question"], expected)


def first_rank(sources: Sequence[str], expected: Sequence[str], depth: int = 10) -> int | None:
    wanted = {e.strip("/") for e in expected}
    for rank, source in enumerate(sources[:depth], start=1):
        if source.strip("/") in wanted:
            return rank
    return None


async def evaluate(
    db: Database,
    embedder: Embedder,
    workspace_id: uuid.UUID,
    questions: Sequence[Question],
    modes: Sequence[retrieval.Mode],
    reranker: Reranker | None = None,
    *,
    weights: retrieval.Weights,
) -> list[ModeResult]:
    """One result per mode; with an active ``reranker`` also one per mode reranked
    (``vector+llm``...), over the same candidates. ``weights``: how vector mode ranks pages
    (``retrieval.Weights.of(settings)`` measures what chat and /search do)."""
    if reranker is not None and not reranker.available:
        reranker = None
    names = [n for m in modes for n in ([m, f"{m}+{reranker.name}"] if reranker else [m])]
    results = {n: ModeResult(mode=n) for n in names}
    # As chat embeds a visitor's question (the query path: EMBED_QUERY_PRECISION applies).
    asked = await asyncio.gather(*(embedder.embed_query(q.question) for q in questions))
    vectors = np.vstack(asked) if asked else np.zeros((0, embedder.dimensions), np.float32)
    for question, vector in zip(questions, vectors, strict=True):
        for mode in modes:
            async with db.transaction(workspace_id=workspace_id) as session:
                hits = await retrieval.search(
                    session,
                    workspace_id=workspace_id,
                    query=question.question,
                    query_embedding=vector,
                    k=reranker.pool(DEPTH) if reranker else DEPTH,
                    mode=mode,
                    weights=weights,
                )
                docs = _documents(hits)
                sources = await document_repo.document_sources(session, workspace_id, docs)
            ordered = [sources[d] for d in docs if d in sources]
            results[mode].ranks.append(first_rank(ordered, question.expected))
            if reranker is not None:
                result = results[f"{mode}+{reranker.name}"]
                ranked = await reranker.rerank(question.question, hits, len(hits))
                if ranked.fallback:
                    result.fallbacks[ranked.fallback] = result.fallbacks.get(ranked.fallback, 0) + 1
                ordered = [sources[d] for d in _documents(ranked.items) if d in sources]
                result.ranks.append(first_rank(ordered, question.expected))
    return [results[n] for n in names]


def _documents(hits: Sequence[retrieval.Hit]) -> list[uuid.UUID]:
    """The distinct documents of ``hits``, in order of their best hit."""
    docs: list[uuid.UUID] = []
    for hit in hits:
        if hit.document_id not in docs:
            docs.append(hit.document_id)
    return docs


NO_RERANKER = (
    "reranker: none available (RERANKER=none or no model reachable: no OPENAI_API_KEY or"
    " OPENAI_BASE_URL for `llm`, no local cross-encoder directory; this machine has no network)"
)


def reranker_line(reranker: Reranker | None, results: Sequence[ModeResult]) -> str:
    """What the eval says about the reranker: which one ran and how often it kept the order."""
    if reranker is None or not reranker.available:
        return NO_RERANKER
    fell = [
        f"{r.mode}: {', '.join(f'{n} {why}' for why, n in sorted(r.fallbacks.items()))}"
        for r in results
        if r.fallbacks
    ]
    return f"{describe(reranker)}; kept the retrieval order: {'; '.join(fell) or 'never'}"


def by_half(result: ModeResult, questions: Sequence[Question]) -> dict[str, ModeResult]:
    """The result split into the set's halves ("tune", "heldout") and "all"."""
    halves: dict[str, ModeResult] = {h: ModeResult(mode=result.mode) for h in SPLITS}
    for question, rank in zip(questions, result.ranks, strict=True):
        halves[split_of(question.id)].ranks.append(rank)
    halves["all"] = result
    return halves


def format_halves(named: Sequence[tuple[str, Sequence[Question], Sequence[ModeResult]]]) -> str:
    """One table: every set, every half and every mode."""
    lines = [
        "| set | half | mode | recall@1 | recall@5 | recall@10 | MRR | questions |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, questions, results in named:
        for half in (*SPLITS, "all"):
            for result in results:
                r = by_half(result, questions)[half]
                lines.append(
                    f"| {name} | {half} | {r.mode} | {r.recall(1):.3f} | {r.recall(5):.3f} |"
                    f" {r.recall(10):.3f} | {r.mrr:.3f} | {len(r.ranks)} |"
                )
    return "\n".join(lines)


def format_table(results: Sequence[ModeResult], questions: int) -> str:
    lines = [
        "| mode | recall@1 | recall@5 | recall@10 | MRR | questions |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.mode} | {r.recall(1):.3f} | {r.recall(5):.3f} | {r.recall(10):.3f} |"
            f" {r.mrr:.3f} | {questions} |"
        )
    return "\n".join(lines)

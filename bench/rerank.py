"""What a reranking stage costs per search: ``python -m bench.rerank [--queries 20]``.

Reranks 24 candidates of about 250 tokens (a chunk's size) for distinct questions, side by side:

* ``none``: the retrieval order (RERANKER=none, the default);
* ``llm``: the prompt built, sent over HTTP to the local fake OpenAI server answering at once,
  the answer parsed: TrulyBot's own overhead; a real model's latency comes on top, bounded by
  RERANKER_TIMEOUT_MS;
* ``cross-encoder``: a CrossEncoder with the shape of ms-marco-MiniLM-L-6-v2 (6 layers, 384
  hidden, MiniLM's tokenizer; random weights, no download: the cost, not the quality) on CPU;
* ``cross-encoder (ONNX ...)``: the model ``trulybot fetch-reranker`` installs
  (ms-marco-MiniLM-L-12-v2, int8), when it is installed; its quality is
  ``python -m bench.rerank_levers``';

and each again for a repeated question (the LRU cache). No database. Writes its section of
docs/benchmarks.md. Quality (recall, MRR) is `python -m bench.eval_quality`'s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import openai

from api.commands import fetch_reranker
from bench.common import Table, add_write_options, pct, write_section, writes_docs
from rag.knowledge.rerank import (
    CrossEncoderReranker,
    LLMReranker,
    NoReranker,
    Reranker,
    estimate_tokens,
)
from tests.fakes.cross_encoder import save_cross_encoder
from tests.fakes.openai_server import FakeOpenAI, ranking_reply

TEXT = (
    "the module returns a list of values when the iterator is exhausted and raises an error if "
    "the argument is not a valid path on this platform; see the section on configuration files "
    "for the default encoding, buffering, timeouts and how the standard library handles signals "
    "threads sockets subprocesses dictionaries generators decorators context managers"
)
WORDS = TEXT.split()


@dataclass(frozen=True)
class Chunk:
    chunk_id: uuid.UUID
    title: str
    heading_path: tuple[str, ...]
    text: str


def candidates(rng: random.Random, count: int = 24, words: int = 190) -> list[Chunk]:
    return [
        Chunk(
            uuid.uuid4(),
            f"Page {i}",
            ("Reference", f"Section {i}"),
            " ".join(rng.choice(WORDS) for _ in range(words)),
        )
        for i in range(count)
    ]


async def measure(
    reranker: Reranker, queries: list[str], items: list[Chunk]
) -> tuple[list[float], list[float]]:
    fresh: list[float] = []
    cached: list[float] = []
    for query in queries:
        for out in (fresh, cached):  # the second time: from the cache
            started = time.perf_counter()
            ranked = await reranker.rerank(query, items, 5)
            out.append((time.perf_counter() - started) * 1000)
            if reranker.active and ranked.fallback:
                raise SystemExit(f"{reranker.name} fell back: {ranked.fallback}")
    return fresh, cached


async def run(args: argparse.Namespace) -> str:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    rng = random.Random(12)
    items = candidates(rng)
    queries = [f"how does the module handle {rng.choice(WORDS)} #{n}" for n in range(args.queries)]
    table = Table(["reranker", "candidates", "p50 ms", "p95 ms", "cached p50 ms", "prompt tokens"])
    fake = FakeOpenAI(chat_reply=ranking_reply(lambda text: text.count("error"))).start()
    with tempfile.TemporaryDirectory() as tmp:
        llm = LLMReranker(
            client=openai.AsyncOpenAI(api_key="bench", base_url=fake.base_url),
            model="bench-model",
            timeout_ms=10_000,
        )
        # The shape of ms-marco-MiniLM-L-6-v2.
        shaped = save_cross_encoder(
            Path(tmp), hidden=384, layers=6, heads=12, intermediate=1536, max_positions=512
        )
        cross = CrossEncoderReranker(shaped, timeout_ms=60_000)
        await cross.start()
        rerankers: list[tuple[str, Reranker]] = [
            ("none", NoReranker()),
            ("llm (local fake answering at once)", llm),
            ("cross-encoder (MiniLM-L6 shape, CPU)", cross),
        ]
        if fetch_reranker.installed(fetch_reranker.default_dir()):
            onnx = CrossEncoderReranker(fetch_reranker.default_dir(), timeout_ms=60_000)
            await onnx.start()
            rerankers.append(("cross-encoder (ONNX MiniLM-L12 int8, 1 thread)", onnx))
        try:
            for label, reranker in rerankers:
                await measure(reranker, ["warm-up"], items)
                fresh, cached = await measure(reranker, queries, items)
                tokens = "-"
                if reranker is llm:
                    messages, _ = llm.prompt(queries[0], items)
                    tokens = str(sum(estimate_tokens(m["content"]) + 8 for m in messages))
                table.add(
                    label, len(items), pct(fresh, 0.5), pct(fresh, 0.95), pct(cached, 0.5), tokens
                )
        finally:
            await llm.aclose()
            fake.stop()
    table.print()
    return "\n".join(
        [
            f"`python -m bench.rerank --queries {args.queries}`: {args.queries} distinct questions,"
            f" {len(items)} candidates of about 250 MiniLM tokens each, the best 5 kept;"
            " milliseconds per rerank, one at a time, on a machine shared with other jobs (load"
            f" average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores at the end)."
            " `prompt tokens`: the llm reranker's estimate (3 UTF-8 bytes a token) at"
            " RERANKER_MAX_TOKENS=2500; a real model's latency adds to the llm row, bounded by"
            " RERANKER_TIMEOUT_MS (1500).",
            "",
            table.markdown(),
        ]
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="5 questions")
    add_write_options(parser)
    args = parser.parse_args(argv)
    if args.quick:
        args.queries = 5
    body = asyncio.run(run(args))
    if writes_docs(args):
        write_section("rerank", body)


if __name__ == "__main__":
    main()

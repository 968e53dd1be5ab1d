"""Queries waiting behind document slices: how long a visitor's question waits for the local
model while an upload is embedded, per slice setting (EMBED_DOCUMENT_SLICE texts and
EMBED_DOCUMENT_SLICE_CHARS characters), side by side in one run, for full-size and short chunks.

    .venv/bin/python -m bench.embed_slices        # 1 text, 4 texts, 4 texts / 1,200 chars; twice
    .venv/bin/python -m bench.embed_slices --quick --no-write

One process, the product's LocalEmbedder (one torch thread, EMBED_THREADS=1) and its scheduler.
A feeder embeds real chunks of the Python HTML documentation (parsed and chunked by the product,
the text it embeds: header + passage) in batches of 32, as an ingestion job does, without pause;
meanwhile questions arrive one at a time at random (exponential gaps, mean ``--gap-ms``) and
each question's wait is timed from ``embed_query`` to its vector. Two feeds: the chunks as the
product cuts them (most near the 256-token window) and short chunks (their first 200 characters,
like FAQ answers or short sections). Configurations alternate in rounds so a change of machine
load hits each alike. Reported: the question's wait p50/p95/max, the documents' chunks per
second, and the process's CPU per chunk (the questions' encodings included).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time
from dataclasses import dataclass, field

from bench.common import add_write_options, fmt, pct, print_table, write_section, writes_docs
from bench.ingestion import corpus_files
from rag.knowledge.batching import Batching
from rag.knowledge.chunking import chunk_document
from rag.knowledge.embeddings import LocalEmbedder
from rag.knowledge.parsing import parse

QUESTIONS = [
    "How do I read a file line by line?",
    "what does asyncio.gather do with exceptions",
    "Can I sort a dictionary by value?",
    "how to format a date as ISO 8601",
    "Why is my subprocess hanging when output is large?",
    "difference between list and tuple",
    "how do I make an HTTP request with the standard library",
    "what is a context manager",
]


@dataclass(frozen=True)
class Config:
    size: int
    chars: int  # 0: no character budget

    @property
    def label(self) -> str:
        return f"{self.size} texts" + (f" / {self.chars:,} chars" if self.chars else "")

    def batching(self) -> Batching:
        return Batching(slice_size=self.size, slice_chars=self.chars or 10**6)


@dataclass
class Result:
    config: Config
    feed: str
    waits_ms: list[float] = field(default_factory=list)
    chunks: int = 0
    seconds: float = 0.0
    cpu_s: float = 0.0


def chunk_texts(files: int) -> list[str]:
    texts: list[str] = []
    for path in corpus_files(files):
        parsed = parse(path.read_bytes(), filename=path.name, content_type="text/html")
        texts += [c.embed_text or c.text for c in chunk_document(parsed)]
    return texts


async def one_round(
    config: Config, feed_name: str, texts: list[str], seconds: float, gap_ms: float
) -> Result:
    embedder = LocalEmbedder(batch_size=32, batching=config.batching(), threads=1)
    result = Result(config, feed_name)
    rng = random.Random(config.size)
    stop = asyncio.Event()

    async def feed() -> None:
        i = 0
        while not stop.is_set():
            batch = [texts[(i + j) % len(texts)] for j in range(32)]
            await embedder.embed_documents(batch)
            result.chunks += len(batch)
            i += 32

    async def one_question(question: str) -> None:
        started = time.perf_counter()
        await embedder.embed_query(question)
        result.waits_ms.append((time.perf_counter() - started) * 1000)

    async def ask() -> None:
        # open loop: questions arrive on their own clock, whether or not earlier ones are answered
        asked: list[asyncio.Task[None]] = []
        n = 0
        while not stop.is_set():
            await asyncio.sleep(rng.expovariate(1000 / gap_ms))
            # never asked before in this run: the query cache is off anyway
            question = f"{QUESTIONS[n % len(QUESTIONS)]} ({n})"
            asked.append(asyncio.create_task(one_question(question)))
            n += 1
        await asyncio.gather(*asked)

    cpu0, wall0 = time.process_time(), time.perf_counter()
    feeder = asyncio.create_task(feed())
    asker = asyncio.create_task(ask())
    await asyncio.sleep(seconds)
    stop.set()
    await asyncio.gather(feeder, asker)
    result.seconds = time.perf_counter() - wall0
    result.cpu_s = time.process_time() - cpu0
    await embedder.aclose()
    return result


async def run(args: argparse.Namespace) -> None:
    texts = chunk_texts(args.files)
    print(f"{len(texts)} chunks from {args.files} pages; load {os.getloadavg()[0]:.1f}")
    warm = LocalEmbedder(batch_size=32, threads=1)
    await warm.embed_documents(texts[:8])
    feeds = {"full": texts, "short (200 chars)": [t[:200] for t in texts]}
    results: dict[tuple[str, Config], list[Result]] = {
        (f, c): [] for f in feeds for c in args.configs
    }
    for r in range(args.rounds):
        for feed_name, feed in feeds.items():
            for config in args.configs:
                res = await one_round(config, feed_name, feed, args.seconds, args.gap_ms)
                results[(feed_name, config)].append(res)
                print(
                    f"  round {r + 1} {feed_name} {config.label}: {len(res.waits_ms)} questions,"
                    f" p95 {pct(res.waits_ms, 0.95):.0f} ms,"
                    f" {res.chunks / res.seconds:.1f} chunks/s",
                    flush=True,
                )
    rows = []
    for (feed_name, config), runs in results.items():
        waits = [w for res in runs for w in res.waits_ms]
        chunks = sum(res.chunks for res in runs)
        seconds = sum(res.seconds for res in runs)
        cpu = sum(res.cpu_s for res in runs)
        rows.append(
            [
                feed_name,
                config.label,
                len(waits),
                fmt(pct(waits, 0.50), 0),
                fmt(pct(waits, 0.95), 0),
                fmt(max(waits), 0),
                fmt(chunks / seconds, 1),
                fmt(cpu * 1000 / chunks, 0),
            ]
        )
    headers = [
        "chunks fed",
        "slice",
        "questions",
        "question wait p50 ms",
        "p95 ms",
        "max ms",
        "documents: chunks/s",
        "process CPU ms per chunk",
    ]
    table = print_table(headers, rows, "questions asked while an upload is embedded")
    load = os.getloadavg()[0]
    command = f"python -m bench.embed_slices --seconds {args.seconds:g} --rounds {args.rounds}"
    if writes_docs(args):
        body = (
            f"`{command}` ({args.rounds} alternating rounds per setting, one torch thread, "
            f"a question every {args.gap_ms:.0f} ms on average; load average {load:.1f} at the "
            "end)\n\n" + table
        )
        write_section("embed_slices", body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--configs", default="1:0,4:0,4:1200", help="slices as TEXTS:CHARS (0: no char budget)"
    )
    parser.add_argument("--files", type=int, default=12, help="corpus pages to chunk")
    parser.add_argument("--seconds", type=float, default=12.0, help="per round and setting")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--gap-ms", type=float, default=60.0, help="mean gap between questions")
    parser.add_argument("--quick", action="store_true")
    add_write_options(parser)
    args = parser.parse_args()
    args.configs = [
        Config(*(int(x) for x in part.split(":"))) for part in str(args.configs).split(",")
    ]
    if args.quick:
        args.seconds, args.rounds = 5.0, 1
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()

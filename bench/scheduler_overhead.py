"""What the micro-batcher costs one lone question: the local embedder with EMBED_BATCHING on (the
``ModelScheduler`` in front of the model) against off (one model call per question), side by side.

    .venv/bin/python -m bench.scheduler_overhead              # 6 alternating rounds of 150

One process, one caller asking one question at a time (never concurrent, so the scheduler never
gathers a batch): each question's wall time from ``embed_query`` to its vector, and the process's
CPU per question. Distinct questions, so the query cache never answers. Prints a table; nothing is
written.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time

from bench.common import fmt, print_table
from rag.knowledge.embeddings import Batching, LocalEmbedder


async def run(rounds: int, per_round: int) -> None:
    embedders = {
        "on": LocalEmbedder(threads=1, batching=Batching()),
        "off": LocalEmbedder(threads=1),
    }
    for embedder in embedders.values():
        embedder.load()
    figures: dict[str, list[tuple[float, float]]] = {name: [] for name in embedders}
    n = 0
    for r in range(rounds):
        order = list(embedders) if r % 2 == 0 else list(reversed(embedders))
        for name in order:
            walls = []
            cpu0 = time.process_time()
            for _ in range(per_round):
                started = time.perf_counter()
                await embedders[name].embed_query(f"how do I set up the widget on page {n}")
                walls.append((time.perf_counter() - started) * 1000)
                n += 1
            cpu = (time.process_time() - cpu0) * 1000 / per_round
            figures[name].append((statistics.median(walls), cpu))
    for embedder in embedders.values():
        await embedder.aclose()
    rows = []
    for name, values in figures.items():
        rows.append(
            [
                name,
                fmt(statistics.median(w for w, _ in values), 2),
                fmt(statistics.median(c for _, c in values), 2),
                " ".join(f"{w:.2f}" for w, _ in values),
            ]
        )
    print_table(
        ["EMBED_BATCHING", "wall ms per question (median)", "CPU ms per question", "each round"],
        rows,
        f"one question at a time, {rounds} alternating rounds of {per_round}"
        f" (load {os.getloadavg()[0]:.1f})",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--per-round", type=int, default=150)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    asyncio.run(run(args.rounds, args.per_round))


if __name__ == "__main__":
    main()

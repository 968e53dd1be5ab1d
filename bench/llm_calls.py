"""CPU per model call on the server's side: the prompt, the output guard and the OpenAI client
(``LLMGenerator`` over ``OpenAIChatLLM``) against the local FakeOpenAI, per checkout.

    .venv/bin/python -m bench.llm_calls                                  # this checkout
    .venv/bin/python -m bench.llm_calls --roots before=/tmp/base,after=.  # side by side

Each checkout runs in its own process (one version of the code per interpreter), the checkouts
in turn for ``--rounds`` rounds; a round is ``--calls`` answers (``generate``) and as many
streamed answers (``stream``) of five retrieved passages each. The figure is the CPU time of the
calling thread per call (``time.thread_time``): the fake server runs in another thread and is
not counted, and other processes on the machine inflate it far less than wall time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import ROOT, Table

KINDS = ("generate", "stream")


async def _measure(calls: int, seed: int) -> dict[str, float]:
    from bench.chat_servers import fake_reply
    from rag.chat.generator import GenerationRequest
    from rag.chat.llm import LLMGenerator, OpenAIChatLLM
    from rag.chat.prompts import Passage
    from tests.fakes.openai_server import FakeOpenAI

    words = " ".join((ROOT / "api" / "demo" / n).read_text() for n in ("pricing.md", "refunds.md"))
    vocabulary = words.split()
    rng = random.Random(seed)

    def passages() -> list[Passage]:
        out = []
        for n in range(1, 6):
            start = rng.randrange(0, len(vocabulary) - 160)
            text = " ".join(vocabulary[start : start + 160])
            out.append(Passage(n, n, n, f"Doc {n}", None, None, text, 0.5))
        return out

    requests = [
        GenerationRequest(f"How do refunds work for plan {i}?", passages(), user=f"v{i}")
        for i in range(calls)
    ]
    fake = FakeOpenAI(chat_reply=fake_reply).start()
    generator = LLMGenerator(OpenAIChatLLM(api_key="bench", base_url=fake.base_url))

    async def call(kind: str, request: Any) -> None:
        if kind == "generate":
            await generator.generate(request)
        else:
            async for _ in generator.stream(request):
                pass

    out: dict[str, float] = {}
    try:
        for kind in KINDS:
            for request in requests[:20]:  # warm-up: connections, caches
                await call(kind, request)
            started = time.thread_time()
            for request in requests:
                await call(kind, request)
            out[kind] = (time.thread_time() - started) * 1000 / calls
    finally:
        await generator.aclose()
        fake.stop()
    return out


def _worker(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(args.root))
    for name in [m for m in sys.modules if m.split(".")[0] in ("rag", "core", "api")]:
        del sys.modules[name]
    print(json.dumps(asyncio.run(_measure(args.calls, args.seed))))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--roots", default="", help="LABEL=DIR,... (default: this checkout)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=200, help="calls of each kind per round")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _worker(args)
        return
    roots = [
        (label, Path(directory or ".").resolve())
        for label, _, directory in (p.partition("=") for p in args.roots.split(",") if p)
    ] or [("this checkout", ROOT)]
    figures: dict[tuple[str, str], list[float]] = {}
    load = os.getloadavg()[0]
    for _ in range(args.rounds):
        for label, root in roots:
            command = [sys.executable, "-m", "bench.llm_calls", "--worker", "--root", str(root)]
            command += ["--calls", str(args.calls), "--seed", str(args.seed)]
            result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
            for kind, ms in json.loads(result.stdout.strip().splitlines()[-1]).items():
                figures.setdefault((kind, label), []).append(ms)
    table = Table(["call", *(label for label, _ in roots)])
    for kind in KINDS:
        cells = []
        for label, _ in roots:
            values = figures[(kind, label)]
            each = " / ".join(f"{v:.2f}" for v in values)
            cells.append(f"{statistics.median(values):.2f} ({each})")
        table.add(kind, *cells)
    table.print(
        f"thread CPU ms per call, median of {args.rounds} rounds of {args.calls}"
        f" (load average {load:.1f} -> {os.getloadavg()[0]:.1f}, {os.cpu_count()} cores)"
    )


if __name__ == "__main__":
    main()

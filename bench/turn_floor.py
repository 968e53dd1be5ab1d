"""What a rag turn cannot go below: each kept part's CPU per turn, and the closed-loop arithmetic.

    .venv/bin/python -m bench.turn_floor                      # ~6 minutes, prints only
    .venv/bin/python -m bench.turn_floor --rag-requests 600 --cap 20 --rounds 1

Issue 15 asks, at 64 closed-loop visitors on 2 cores (local MiniLM, a zero-latency fake model),
for rag throughput with query batching on >= 5x off and a server overhead p95 <= 400 ms. This
bench measures, in one run, the CPU of each part a turn must keep:

- the model: the product's ``LocalEmbedder`` (ONNX Runtime, fp32, one thread, as shipped),
  questions of eval/*.jsonl encoded alone and in batches of 4, 16 and 64, in a fresh process of
  its own (process CPU time: nothing else runs in it), ``--model-rounds`` rounds;
- the OpenAI SDK's ``generate`` against FakeOpenAI (bench.llm_calls' worker: the calling
  thread's CPU per call, the fake in another thread);
- the served turn (bench.chat_http's rag scenario at 64 visitors, batching on, ``--clients``
  httpx and lean): CPU per answered request of the server (its event loop's thread apart from
  its other threads, where the model runs), of PostgreSQL (every backend: the turn's real
  statements), and of the bench (the load generator and the fake model); and the latencies'
  p95 / mean ratios.

Then the arithmetic (``floor``): by Little's law a closed loop of N visitors with no think time
serves X = N / mean latency; with p95 = r x mean, p95 <= G needs X >= N x r / G (less when part
of the latency is outside the overhead the goal counts: ``rest``), so the 2 cores allow at most
2 / X of CPU per turn. And the largest batching on / off ratio the model allows: with one model
thread, X <= 1 / model CPU per question, and the rest of the turn shares the cores.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import ROOT, Table, fmt

BATCHES = (1, 4, 16, 64)


@dataclass(frozen=True)
class Floor:
    needed_rps: float
    """Throughput the closed loop needs for the p95 goal."""
    cpu_budget_ms: float
    """CPU per turn (every process on the cores) that throughput allows."""
    model_bound_rps: float
    """The most one model thread serves with batching on (nothing else costing)."""
    best_ratio: float
    """Batching on / off with everything but the model at zero."""
    ratio_with_rest: float
    """Batching on / off with the rest of the turn at ``other_ms``."""


def throughput(model_ms: float, other_ms: float, cores: float) -> float:
    """Requests per second when one thread runs the model (``model_ms`` CPU per question) and
    the whole turn (model + ``other_ms``) shares ``cores``: the tighter of the two limits."""
    limits = [cores * 1000 / (model_ms + other_ms)] if model_ms + other_ms > 0 else []
    if model_ms > 0:
        limits.append(1000 / model_ms)
    return min(limits) if limits else float("inf")


def floor(
    *,
    visitors: int,
    p95_goal_ms: float,
    p95_to_mean: float,
    cores: float,
    model_alone_ms: float,
    model_batched_ms: float,
    other_ms: float = 0.0,
    rest_ms: float = 0.0,
) -> Floor:
    """The closed loop's arithmetic. ``p95_to_mean``: the overhead's p95 / mean; ``rest_ms``: the
    mean latency outside that overhead (client, model call); ``other_ms``: CPU per turn on the
    cores besides the model."""
    if visitors < 1 or p95_goal_ms <= 0 or p95_to_mean < 1 or cores <= 0:
        raise ValueError("visitors >= 1, goal > 0, p95 / mean >= 1, cores > 0")
    if model_alone_ms <= 0 or model_batched_ms <= 0 or other_ms < 0 or rest_ms < 0:
        raise ValueError("model costs > 0, other and rest >= 0")
    mean_s = p95_goal_ms / p95_to_mean / 1000 + rest_ms / 1000
    needed = visitors / mean_s
    on = throughput(model_batched_ms, 0.0, cores)
    off = throughput(model_alone_ms, 0.0, cores)
    with_rest = throughput(model_batched_ms, other_ms, cores) / throughput(
        model_alone_ms, other_ms, cores
    )
    return Floor(needed, cores * 1000 / needed, on, on / off, with_rest)


# --- the model, in a fresh process ----------------------------------------------------------


def eval_questions() -> list[str]:
    out = []
    for path in sorted((ROOT / "eval").glob("*.jsonl")):
        for line in path.read_text().splitlines():
            row = json.loads(line) if line.strip() else {}
            if isinstance(row.get("question"), str):
                out.append(row["question"])
    return out


def model_child(rounds: int) -> dict[str, Any]:
    from rag.knowledge.embeddings import LocalEmbedder

    questions = eval_questions()
    questions = questions[: len(questions) // max(BATCHES) * max(BATCHES)]
    embedder = LocalEmbedder(batch_size=64, threads=1, runtime="onnx", query_precision="fp32")
    runtime = embedder.load()
    encode = embedder._encode_queries
    for size in BATCHES:  # warm-up, one pass at each size: the first calls of a shape allocate
        for i in range(0, len(questions), size):
            encode(questions[i : i + size])
    figures: dict[str, list[float]] = {str(b): [] for b in BATCHES}
    for _ in range(rounds):
        for size in BATCHES:  # the sizes take turns, round after round
            t0 = time.process_time()
            for i in range(0, len(questions), size):
                encode(questions[i : i + size])
            figures[str(size)].append((time.process_time() - t0) * 1000 / len(questions))
    return {"runtime": runtime, "questions": len(questions), "ms": figures}


def measure_model(rounds: int) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.turn_floor", "--model-child", str(rounds)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def measure_sdk(rounds: int, calls: int) -> list[float]:
    out = []
    for _ in range(rounds):
        command = [sys.executable, "-m", "bench.llm_calls", "--worker", "--calls", str(calls)]
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
        out.append(float(json.loads(result.stdout.strip().splitlines()[-1])["generate"]))
    return out


# --- the served turn ------------------------------------------------------------------------


async def measure_served(args: argparse.Namespace) -> list[Any]:
    """bench.chat_http's rag cells at ``--visitors``, batching on, each load generator."""
    from bench import chat_args
    from bench.chat_http import run_config
    from bench.chat_servers import (
        fake_reply,
        open_database,
        server_env,
        start_servers,
        stop_servers,
    )
    from bench.chat_workload import create_workspace
    from bench.lean_fake_llm import LeanFakeLLM
    from tests.fakes.openai_server import FakeOpenAI

    served = chat_args.parse_args(
        [
            *("--configs", "1:memory", "--scenarios", "rag", "--levels", str(args.visitors)),
            *("--latencies", "0", "--batching", "on", "--clients", args.clients),
            *("--rag-requests", str(args.rag_requests), "--cap", str(args.cap)),
            *("--data-dir", str(args.data_dir), "--seed", str(args.seed), "--no-write"),
        ]
    )
    served.data_dir.mkdir(parents=True, exist_ok=True)
    db = await open_database(served.data_dir)
    fake = FakeOpenAI(chat_reply=fake_reply).start()
    lean = LeanFakeLLM(chat_reply=fake_reply).start()
    cells: list[Any] = []
    try:
        setup = await start_servers(1, server_env(served, db, fake.base_url, None), args.data_dir)
        try:
            ws = await create_workspace(setup[0].url)
        finally:
            stop_servers(setup)
        rng = random.Random(args.seed)
        for _ in range(args.rounds):
            for client in served.clients:
                config = chat_args.Config(1, False, True, client=client)
                print(f"config: {config.label}", flush=True)
                model = lean if client == "lean" else fake
                cells += await run_config(served, config, db, model, ws, rng, hits=False)
    finally:
        fake.stop()
        lean.stop()
    return cells


def latency_shape(cell: Any) -> dict[str, float]:
    from bench.common import pct

    overhead, client = cell.overhead_ms, cell.client_ms
    mean_overhead = statistics.fmean(overhead)
    return {
        "p95_to_mean": pct(overhead, 0.95) / mean_overhead,
        "client_p95_to_mean": pct(client, 0.95) / statistics.fmean(client),
        "rest_ms": max(0.0, statistics.fmean(client) - mean_overhead),
    }


# --- report ---------------------------------------------------------------------------------


def _cells(values: list[float], digits: int = 2) -> str:
    each = " / ".join(f"{v:.{digits}f}" for v in values)
    return f"{statistics.median(values):.{digits}f} ({each})" if len(values) > 1 else each


def report(
    args: argparse.Namespace, model: dict[str, Any], sdk: list[float], cells: list[Any]
) -> None:
    ms = {int(k): v for k, v in model["ms"].items()}
    alone = statistics.median(ms[1])
    batched = min(statistics.median(v) for k, v in ms.items() if k > 1)
    parts = Table(["part", "CPU ms per turn: median (rounds)", "how"])
    for size in BATCHES:
        how = "alone" if size == 1 else f"in batches of {size}"
        parts.add(
            f"model, {how}",
            _cells(ms[size]),
            f"{model['questions']} eval questions, {model['runtime']} fp32, 1 thread, a process",
        )
    best = min((k for k in ms if k > 1), key=lambda k: statistics.median(ms[k]))
    per_round = [a / b for a, b in zip(ms[1], ms[best], strict=True)]
    parts.add(
        f"model, alone / in batches of {best} (x)",
        _cells(per_round),
        "each round's own ratio: the load moves both",
    )
    parts.add("OpenAI SDK generate", _cells(sdk), "calling thread, FakeOpenAI in another thread")
    by_client: dict[str, list[Any]] = {}
    for cell in cells:
        by_client.setdefault("lean" if "lean bench" in cell.config else "httpx", []).append(cell)
    rows = (
        ("server, all threads", lambda c: c.cpu_ms["server"]),
        ("server, event loop thread (with the SDK)", lambda c: c.cpu_ms["server loop"]),
        ("server, other threads (model)", lambda c: c.cpu_ms["server"] - c.cpu_ms["server loop"]),
        ("PostgreSQL", lambda c: c.cpu_ms["postgres"]),
        ("bench: client + fake model", lambda c: c.cpu_ms["bench"]),
        ("bench: client alone", lambda c: c.cpu_ms["bench"] - c.cpu_ms.get("fake llm", 0.0)),
        ("bench: fake model", lambda c: c.cpu_ms.get("fake llm", 0.0)),
    )
    for client, group in by_client.items():
        served = f"served, {client} bench, {args.visitors} visitors, batching on"
        for name, value in rows:
            parts.add(f"{name} ({client})", _cells([value(c) for c in group]), served)
        parts.add(
            f"req/s; overhead p95 / mean ({client})",
            " / ".join(f"{c.rps:.1f}; {latency_shape(c)['p95_to_mean']:.2f}" for c in group),
            "each round",
        )
    load = os.getloadavg()
    parts.print(
        f"what a rag turn costs, part by part (load average {args.load_before:.1f} at the start,"
        f" {load[0]:.1f} at the end, {os.cpu_count()} cores)"
    )
    shapes = [latency_shape(c) for c in cells]
    ratio = statistics.median(s["p95_to_mean"] for s in shapes)
    rest = statistics.median(s["rest_ms"] for s in shapes)
    lean = by_client.get("lean") or cells

    def med(group: list[Any], key: Any) -> float:
        return statistics.median(key(c) for c in group)

    loop = med(cells, lambda c: c.cpu_ms["server loop"])
    server = med(cells, lambda c: c.cpu_ms["server"])
    postgres = med(cells, lambda c: c.cpu_ms["postgres"])
    bench = med(lean, lambda c: c.cpu_ms["bench"])  # the lean load generator and fake model
    sdk_ms = statistics.median(sdk)
    kept = postgres + sdk_ms + bench  # besides the model: what the product must keep
    now = server + postgres + bench
    table = Table(["closed loop", "value", "from"])
    for label, p95_to_mean, rest_ms in (
        ("measured p95 / mean, nothing outside the overhead", ratio, 0.0),
        ("measured p95 / mean and time outside the overhead", ratio, rest),
        ("p95 = mean (every turn alike)", 1.0, 0.0),
    ):
        f = floor(
            visitors=args.visitors,
            p95_goal_ms=args.goal_ms,
            p95_to_mean=p95_to_mean,
            cores=args.cores,
            model_alone_ms=alone,
            model_batched_ms=batched,
            other_ms=kept,
            rest_ms=rest_ms,
        )
        table.add(
            f"{label}: req/s needed; CPU ms per turn allowed",
            f"{f.needed_rps:.1f}; {f.cpu_budget_ms:.2f}",
            f"{args.visitors} x {p95_to_mean:.2f} / ({args.goal_ms:g} + {rest_ms:.0f} x"
            f" {p95_to_mean:.2f}) ms; {args.cores:g} cores / req/s",
        )
    table.add(
        "floor: CPU ms per turn with the kept parts only",
        fmt(batched + kept, 2),
        f"model batched {batched:.2f} + PostgreSQL {postgres:.2f} + SDK {sdk_ms:.2f} + lean"
        f" bench {bench:.2f}",
    )
    table.add(
        "as served: CPU ms per turn (lean bench)",
        fmt(now, 2),
        f"server {server:.2f} (event loop {loop:.2f}, of which the SDK's call ~{sdk_ms:.2f})"
        f" + PostgreSQL {postgres:.2f} + lean bench {bench:.2f}",
    )
    table.add(
        "the server's own Python beside the model and the SDK",
        fmt(server - batched - sdk_ms, 2),
        "server - model batched - SDK: what code could still remove",
    )
    table.add("model: alone / best batch, ms", f"{alone:.2f} / {batched:.2f}", "the parts table")
    table.add(
        "most req/s of one model thread, batched", fmt(f.model_bound_rps, 0), "1000 / batched"
    )
    table.add("largest on / off: the rest at zero", fmt(f.best_ratio, 2) + "x", "alone / batched")
    table.add(
        "on / off with the kept parts",
        fmt(f.ratio_with_rest, 2) + "x",
        f"the rest {kept:.2f} ms of the {args.cores:g} cores",
    )
    f = floor(
        visitors=args.visitors,
        p95_goal_ms=args.goal_ms,
        p95_to_mean=1.0,
        cores=args.cores,
        model_alone_ms=alone,
        model_batched_ms=batched,
        other_ms=now - batched,
    )
    table.add(
        "on / off as served", fmt(f.ratio_with_rest, 2) + "x", f"the rest {now - batched:.2f} ms"
    )
    table.print(f"the arithmetic: {args.visitors} visitors, p95 <= {args.goal_ms:g} ms")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-rounds", type=int, default=5)
    parser.add_argument("--sdk-rounds", type=int, default=3)
    parser.add_argument("--sdk-calls", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2, help="served rounds, the clients in turn")
    parser.add_argument("--clients", default="httpx,lean")
    parser.add_argument("--visitors", type=int, default=64)
    parser.add_argument("--rag-requests", type=int, default=1500)
    parser.add_argument("--cap", type=float, default=30.0, help="seconds per served cell at most")
    parser.add_argument("--goal-ms", type=float, default=400.0)
    parser.add_argument("--cores", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/tb-bench-turn-floor"))
    parser.add_argument("--model-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.model_child:
        print(json.dumps(model_child(args.model_child)))
        return
    args.load_before = os.getloadavg()[0]
    print("the model ...", flush=True)
    model = measure_model(args.model_rounds)
    print("the OpenAI SDK ...", flush=True)
    sdk = measure_sdk(args.sdk_rounds, args.sdk_calls)
    print("the served turn ...", flush=True)
    sys.path.insert(0, str(ROOT))
    cells = asyncio.run(measure_served(args))
    report(args, model, sdk, cells)


if __name__ == "__main__":
    main()

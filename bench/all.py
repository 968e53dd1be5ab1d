"""Run every benchmark at its default size, one process each: ``python -m bench.all`` (make bench).

    .venv/bin/python -m bench.all                 # every benchmark, default sizes
    .venv/bin/python -m bench.all --quick         # each with --quick (a smoke run), no writing
    .venv/bin/python -m bench.all --only chat_http,peer_langchain

Each script prints its table and rewrites its own section of docs/benchmarks.md, except on a
``--quick`` run (every script gets ``--no-write`` then, also the ones without a ``--quick`` of
their own) or with ``--no-write``; ``--write`` passes ``--write`` on. A script that is not there
yet (or fails) is reported and the others still run; the exit code is non-zero when any failed.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import time

from bench.common import ROOT, add_write_options, writes_docs

# Order: the cheap, self-contained ones first.
BENCHMARKS = (
    "guards",
    "rerank",
    "limiter_memory",
    "dashboard_pages",
    "unanswered_groups",
    "peer_langchain",
    "chat_http",
    "chat_wrk",
    "analytics",
    "pooler",
    "retrieval",
    "search_http",
    "ingestion",
    "eval_quality",
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="pass --quick to every benchmark")
    parser.add_argument("--only", default=",".join(BENCHMARKS))
    add_write_options(parser)
    args = parser.parse_args(argv)
    write = ["--write"] if args.write else [] if writes_docs(args) else ["--no-write"]
    failed: list[str] = []
    summary: list[tuple[str, str, float]] = []
    for name in args.only.split(","):
        module = f"bench.{name.strip()}"
        if importlib.util.find_spec(module) is None:
            summary.append((name, "missing", 0.0))
            continue
        source = (ROOT / "bench" / f"{name.strip()}.py").read_text()
        quick = ["--quick"] if args.quick and "--quick" in source else []
        command = [sys.executable, "-m", module, *quick, *write]
        print(f"\n=== {' '.join(command[1:])}", flush=True)
        started = time.perf_counter()
        code = subprocess.call(command, cwd=ROOT)
        elapsed = time.perf_counter() - started
        summary.append((name, "ok" if code == 0 else f"failed ({code})", elapsed))
        if code != 0:
            failed.append(name)
    print("\nbenchmark        result        minutes")
    for name, result, elapsed in summary:
        print(f"{name:16} {result:13} {elapsed / 60:7.1f}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

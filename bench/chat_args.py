"""bench.chat_http's command line: its options, what --quick makes smaller, the server
configurations (``--configs``) and the checkouts they run from (``--server-roots``).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.common import ROOT, add_write_options


@dataclass
class Config:
    servers: int
    redis: bool
    batching: bool = True
    checkout: str = ""
    """The label of the checkout the servers run from (``--server-roots``); "" for this one."""
    root: Path = ROOT
    env: tuple[tuple[str, str], ...] = ()
    """Settings the servers get on top of the bench's (``--server-roots LABEL=DIR@KEY=VALUE``)."""
    client: str = "httpx"
    """The bench's load generator (``--clients``): ``httpx`` (httpx2 visitors, FakeOpenAI) or
    ``lean`` (bench.chat_raw_client's visitors, bench.lean_fake_llm's model)."""

    @property
    def label(self) -> str:
        store = "Redis" if self.redis else "memory"
        label = f"{self.servers} proc, {store}, batching {'on' if self.batching else 'off'}"
        if self.client != "httpx":
            label += f", {self.client} bench"
        return f"{label}, {self.checkout}" if self.checkout else label


def parse_configs(text: str) -> list[Config]:
    out = []
    for part in text.split(","):
        count, _, store = part.strip().partition(":")
        out.append(Config(int(count), store == "redis"))
    return out


def parse_roots(text: str) -> list[tuple[str, Path, tuple[tuple[str, str], ...]]]:
    """``LABEL=DIR[@KEY=VALUE...],...`` -> [(label, checkout directory, server settings)];
    empty: this checkout, unlabelled. ``share=.@EMBED_DOCUMENT_SHARE=0.5`` runs this checkout's
    servers with that setting."""
    roots = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        label, _, rest = part.partition("=")
        directory, *settings = rest.split("@")
        root = Path(directory or ".").resolve()
        if not (root / "api" / "cli.py").is_file():
            raise SystemExit(f"--server-roots: {root} is not a TrulyBot checkout")
        env = []
        for setting in settings:
            key, sep, value = setting.partition("=")
            if not sep or not key:
                raise SystemExit(f"--server-roots: {setting!r} is not KEY=VALUE")
            env.append((key, value))
        roots.append((label, root, tuple(env)))
    return roots or [("", ROOT, ())]


QUICK = {"levels": "1,16", "requests": 100, "rag_requests": 60, "cap": 6.0}
"""What --quick sets, for each option not given on the command line."""


def parse_args(argv: list[str] | None = None, *, description: str = "") -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description or __doc__.split("\n\n")[0])
    parser.add_argument("--embedder", choices=["local", "hash"], default="local")
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/tb-bench-chat"))
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/10")
    parser.add_argument(
        "--configs",
        default="1:memory,2:redis",
        help="comma-separated PROCESSES:memory|redis (default %(default)s)",
    )
    parser.add_argument("--levels", default="1,16,64")
    parser.add_argument("--latencies", default="0.5,0", help="fake LLM latencies for rag, s")
    parser.add_argument("--scenarios", default="faq,cache,rag")
    parser.add_argument("--requests", type=int, default=400, help="per level, faq and cache")
    parser.add_argument("--rag-requests", type=int, default=200, help="per level, rag")
    parser.add_argument("--cap", type=float, default=8.0, help="seconds per level at most")
    parser.add_argument("--rag-multi", action="store_true", help="rag also with >1 process")
    parser.add_argument(
        "--batching", default="on,off", help="EMBED_BATCHING modes, each a server run (on,off)"
    )
    parser.add_argument(
        "--server-roots",
        default="",
        help="LABEL=DIR,...: run every config's servers from each of these checkouts in turn"
        " (e.g. before=/tmp/base,after=.), side by side in one run",
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="run the configs this many times, in turn"
    )
    parser.add_argument(
        "--clients",
        default="httpx",
        help="the bench's load generators, each a server run: httpx (httpx2 visitors and"
        " FakeOpenAI, the default measurement) and/or lean (bench.chat_raw_client's visitors and"
        " bench.lean_fake_llm's model: less of the shared cores)",
    )
    parser.add_argument("--sse-levels", default="16", help="visitors for the sse scenario")
    parser.add_argument("--ingest-levels", default="16", help="visitors for the ingest scenario")
    parser.add_argument("--ingest-files", type=int, default=200, help="corpus pages to cycle")
    parser.add_argument(
        "--section", default=None, help="docs/benchmarks.md section (default chat_http_EMBEDDER)"
    )
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--log-level", default="WARNING")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--async-commit",
        action="store_true",
        help="experiment (embedded database only): the app role's synchronous_commit = off",
    )
    add_write_options(parser)
    parser.add_argument(
        "--profile", action="store_true", help="cProfile one path (--profile-scenario)"
    )
    parser.add_argument("--profile-redis", action="store_true")
    parser.add_argument("--profile-scenario", choices=["cache", "rag"], default="cache")
    parser.add_argument("--profile-requests", type=int, default=500)
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.quick:  # smaller, but what the command line asks for stays (--configs, --levels)
        for name, value in QUICK.items():
            if getattr(args, name) == parser.get_default(name):
                setattr(args, name, value)
    args.levels = [int(x) for x in str(args.levels).split(",")]
    args.sse_levels = [int(x) for x in str(args.sse_levels).split(",")]
    args.ingest_levels = [int(x) for x in str(args.ingest_levels).split(",")]
    args.batching = [x.strip() == "on" for x in str(args.batching).split(",")]
    args.latencies = [float(x) for x in str(args.latencies).split(",")]
    args.clients = [x.strip() for x in str(args.clients).split(",")]
    if not set(args.clients) <= {"httpx", "lean"}:
        parser.error("--clients: httpx and/or lean")
    args.scenarios = set(str(args.scenarios).split(","))
    args.configs = parse_configs(str(args.configs))
    args.server_roots = parse_roots(str(args.server_roots))
    return args

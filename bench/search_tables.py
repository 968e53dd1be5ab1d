"""The cells of bench.search_http (one workspace, grouping, query kind and client count each),
the lines it prints per cell and the tables and goal line it writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.common import Table, pct

GOAL_MS = 50.0


# --- the cells -------------------------------------------------------------------------------


@dataclass
class Target:
    label: str
    workspace_id: str
    key: str
    chunks: int
    plan: str


@dataclass
class Cell:
    target: str
    chunks: int
    plan: str
    grouping: str
    clients: int
    queries: str = "unique"
    wall: float = 0.0
    client_ms: list[float] = field(default_factory=list)
    server_ms: list[float] = field(default_factory=list)
    cpu_ms: dict[str, float] = field(default_factory=dict)
    embed_ms: float = float("nan")
    embed_calls: float = 0.0
    load: tuple[float, float] = (float("nan"), float("nan"))
    errors: int = 0

    @property
    def rps(self) -> float:
        return len(self.client_ms) / self.wall if self.wall else 0.0


# --- the report -------------------------------------------------------------------------------


def describe(cell: Cell) -> str:
    server = cell.cpu_ms.get("server", float("nan"))
    return (
        f"  {cell.target:<16} {cell.grouping:<12} {cell.queries:<8} x{cell.clients:<3}"
        f" {len(cell.client_ms):4d} req {cell.rps:6.1f}/s  client p50/p95 "
        f"{pct(cell.client_ms, 0.5):6.1f}/{pct(cell.client_ms, 0.95):6.1f} ms  server p95 "
        f"{pct(cell.server_ms, 0.95):6.1f} ms  CPU server {server:5.1f} ms/req  "
        f"embed {cell.embed_ms:5.1f} ms/req  load {cell.load[0]:.2f}-{cell.load[1]:.2f}"
        + (f"  errors {cell.errors}" if cell.errors else "")
    )


def results_table(cells: Sequence[Cell]) -> Table:
    table = Table(
        [
            "workspace",
            "plan",
            "results",
            "questions",
            "clients",
            "requests",
            "req/s",
            "client p50 / p95 / p99 ms",
            "server p50 / p95 / p99 ms",
            "CPU ms/req server / postgres",
            "query embedding: model ms/req (calls)",
            "load 1m",
        ],
        digits=1,
    )
    for c in cells:
        server_cpu = c.cpu_ms.get("server", float("nan"))
        table.add(
            f"{c.chunks:,} chunks",
            c.plan,
            c.grouping,
            c.queries,
            c.clients,
            len(c.client_ms),
            c.rps,
            " / ".join(f"{pct(c.client_ms, q):.1f}" for q in (0.5, 0.95, 0.99)),
            " / ".join(f"{pct(c.server_ms, q):.1f}" for q in (0.5, 0.95, 0.99)),
            f"{server_cpu:.1f} / {c.cpu_ms.get('postgres', float('nan')):.1f}",
            f"{c.embed_ms:.1f} ({c.embed_calls:.0f})",
            f"{c.load[0]:.2f}-{c.load[1]:.2f}",
        )
    return table


def find(cells: Sequence[Cell], **match: Any) -> Cell | None:
    """The first cell whose attributes equal ``match``."""
    return next((c for c in cells if all(getattr(c, k) == v for k, v in match.items())), None)


def embedding_share(cells: Sequence[Cell]) -> str:
    """The query embedding's share of the server's CPU per default request at 10k chunks: what
    the repeated questions (query-cache hits, no model call) save against unique ones."""
    unique = find(cells, target="10k", grouping="per document", clients=1, queries="unique")
    repeated = find(cells, target="10k", queries="repeated")
    if unique is None or repeated is None:
        return "query embedding's share: not measured"
    full, rest = unique.cpu_ms.get("server", 0.0), repeated.cpu_ms.get("server", 0.0)
    if not full:
        return "query embedding's share: not measured"
    return (
        f"query embedding's share of the server's CPU per default request at 10k chunks:"
        f" {full - rest:.1f} of {full:.1f} ms ({(full - rest) / full:.0%}; the same request on"
        f" a query-cache hit costs {rest:.1f} ms); its model time is {unique.embed_ms:.1f} ms"
        f" of the {pct(unique.server_ms, 0.5):.1f} ms server p50 (wall, on the shared cores)"
    )


def goal_line(cells: Sequence[Cell]) -> str:
    """The issue's goal on the default request (one client, per document) at 10k chunks."""
    c = find(cells, target="10k", grouping="per document", clients=1, queries="unique")
    if c is None:
        return "search p95 < 50 ms over HTTP at 10k chunks: not measured"
    if c.chunks < 10_000:
        return f"search p95 < {GOAL_MS:.0f} ms over HTTP at 10k chunks: not measured ({c.chunks:,})"
    p95 = pct(c.client_ms, 0.95)
    return (
        f"search p95 < {GOAL_MS:.0f} ms over HTTP at 10k chunks ({c.chunks:,}, {c.plan}, default"
        f" request, 1 client): {p95:.1f} ms, {'yes' if p95 < GOAL_MS else 'no'}"
        f" (load average {c.load[0]:.2f}-{c.load[1]:.2f})"
    )

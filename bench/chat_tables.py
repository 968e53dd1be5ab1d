"""The tables bench.chat_http prints and records: per cell, per stage, batching on vs off, while
ingesting, streamed first token, and the issue-15 goals with the Dify anchor.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable

from bench.chat_workload import Cell
from bench.common import Table, pct


def report_cell(c: Cell) -> None:
    lat = "-" if c.latency is None else f"{c.latency:g}s"
    print(
        f"  {c.config:16} {c.scenario:5} llm={lat:5} c={c.concurrency:<3} n={len(c.client_ms):<4}"
        f" {c.rps:7.1f} req/s  client p50/p95 {pct(c.client_ms, 0.5):7.1f}/"
        f"{pct(c.client_ms, 0.95):7.1f} ms  server-overhead p50/p95 {pct(c.overhead_ms, 0.5):6.2f}/"
        f"{pct(c.overhead_ms, 0.95):6.2f} ms  sources {dict(c.sources)}"
        + (f" errors {dict(c.errors)}" if c.errors else ""),
        flush=True,
    )
    stages = sorted({k for t in c.stages for k in t})
    medians = {k: pct([t[k] for t in c.stages if k in t], 0.5) for k in stages}
    print("    stage p50 ms: " + ", ".join(f"{k} {v:.1f}" for k, v in medians.items()), flush=True)
    if c.metrics:
        print(f"    /metrics: {c.metrics}", flush=True)
    if c.cpu_ms:
        print(f"    CPU per request: {cpu_text(c)}", flush=True)


def cpu_text(c: Cell) -> str:
    """``server 12.3 / postgres 4.5 / bench 6.7`` ms of CPU per request ("-" if not measured)."""
    return " / ".join(f"{k} {v:.1f}" for k, v in c.cpu_ms.items()) or "-"


# --- profiling (in-process, ASGI transport, no network) ----------------------------------------


def stage_breakdown(cells: list[Cell]) -> Table:
    """Median per-stage server time (ms) at concurrency 1, per config and scenario."""
    stages = ["validate", "record", "intent", "faq", "cache", "embed", "faq_semantic"]
    stages += ["cache_semantic", "retrieval", "generation", "record_answer", "total"]
    table = Table(["config", "scenario", *stages])
    for c in cells:
        if c.concurrency != 1 or not c.stages or (c.scenario == "rag" and c.latency):
            continue
        row = []
        for s in stages:
            values = [t[s] for t in c.stages if s in t]
            row.append(pct(values, 0.5) if values else None)
        table.add(c.config, c.scenario, *row)
    return table


def results_table(cells: list[Cell]) -> Table:
    table = Table(
        [
            "config",
            "scenario",
            "LLM latency",
            "visitors",
            "requests",
            "req/s",
            "client p50",
            "client p95",
            "client p99",
            "overhead p50",
            "overhead p95",
            "overhead p99",
            "CPU ms/request: server / postgres / bench",
            "answered from",
        ]
    )
    for c in cells:
        sources = ", ".join(f"{k} {v}" for k, v in c.sources.most_common())
        if c.errors:
            sources += "; errors " + ", ".join(f"{k} {v}" for k, v in c.errors.items())
        table.add(
            c.config,
            c.scenario,
            "-" if c.latency is None else f"{c.latency:g} s",
            c.concurrency,
            len(c.client_ms),
            round(c.rps, 1),
            pct(c.client_ms, 0.5),
            pct(c.client_ms, 0.95),
            pct(c.client_ms, 0.99),
            pct(c.overhead_ms, 0.5),
            pct(c.overhead_ms, 0.95),
            pct(c.overhead_ms, 0.99),
            " / ".join(
                f"{c.cpu_ms[k]:.1f}" if k in c.cpu_ms else "-"
                for k in ("server", "postgres", "bench")
            )
            if c.cpu_ms
            else "-",
            sources,
        )
    return table


def goals_table(cells: list[Cell]) -> Table:
    table = Table(["goal", "best measured", "where", "met"])
    for scenario in ("faq", "cache"):
        own = [c for c in cells if c.scenario == scenario and c.overhead_ms]
        if own:
            best = min(own, key=lambda c: pct(c.overhead_ms, 0.95))
            p95 = pct(best.overhead_ms, 0.95)
            table.add(
                f"{scenario} hit: server p95 <= 5 ms",
                f"{p95:.2f} ms",
                f"{best.config}, {best.concurrency} visitor(s)",
                "yes" if p95 <= 5 else f"no (+{p95 - 5:.1f} ms)",
            )
    hits = [c for c in cells if c.scenario == "cache" and c.client_ms]
    if hits:
        best = max(hits, key=lambda c: c.rps)
        table.add(
            ">= 300 cache-hit req/s (2 cores)",
            f"{best.rps:.0f} req/s",
            f"{best.config}, {best.concurrency} visitors",
            "yes" if best.rps >= 300 else f"no ({best.rps / 300:.0%} of it)",
        )
    return table


DIFY_ANCHOR = (2.37, 38.0)  # req/s and median ms at 10 users, Dify's own load test, mock LLM


def zero_latency_cell(
    cells: list[Cell], level: int, batching: bool, scenario: str = "rag"
) -> Cell | None:
    """The run's cell of ``scenario`` at zero LLM latency, ``level`` visitors and this batching
    mode, if it answered anything."""
    return next(
        (
            c
            for c in cells
            if c.scenario == scenario
            and not c.latency
            and c.concurrency == level
            and c.batching == batching
            and c.client_ms
        ),
        None,
    )


def batching_table(cells: list[Cell]) -> Table:
    """rag at zero LLM latency, batching off vs on at each level, from the same run: a row per
    round (``--rounds``), off and on from the same round."""
    table = Table(
        [
            "round",
            "visitors",
            "req/s off",
            "req/s on",
            "ratio",
            "overhead p50 off / on",
            "overhead p95 off / on",
            "CPU ms per request off / on (server)",
        ]
    )
    levels = sorted({c.concurrency for c in cells if c.scenario == "rag"})
    for number, round_cells in enumerate(rounds_of(cells), 1):
        for level in levels:
            add_batching_row(table, round_cells, number, level)
    return table


def add_batching_row(table: Table, cells: list[Cell], number: int, level: int) -> None:
    """One round's off/on pair at ``level`` visitors, when both answered."""
    off, on = zero_latency_cell(cells, level, False), zero_latency_cell(cells, level, True)
    if off is not None and on is not None:
        table.add(
            number,
            level,
            round(off.rps, 1),
            round(on.rps, 1),
            f"{on.rps / off.rps:.2f}x" if off.rps else "-",
            f"{pct(off.overhead_ms, 0.5):.0f} / {pct(on.overhead_ms, 0.5):.0f}",
            f"{pct(off.overhead_ms, 0.95):.0f} / {pct(on.overhead_ms, 0.95):.0f}",
            f"{off.cpu_ms.get('server', 0):.1f} / {on.cpu_ms.get('server', 0):.1f}",
        )


def ingest_table(cells: list[Cell]) -> Table:
    """rag p95 at the ingest levels, alone and while documents are ingested, per batching mode:
    each ingest cell against the rag cell its own servers ran just before it (same config, same
    round), so rounds and side-by-side settings are compared pairwise."""
    table = Table(
        [
            "config",
            "batching",
            "visitors",
            "rag p95 alone",
            "rag p95 while ingesting",
            "growth",
            "req/s alone / ingesting",
            "ingested meanwhile",
        ]
    )
    for index, cell in enumerate(cells):
        if cell.scenario != "ingest" or not cell.overhead_ms:
            continue
        alone = next(
            (
                c
                for c in reversed(cells[:index])
                if c.scenario == "rag"
                and not c.latency
                and c.config == cell.config
                and c.batching == cell.batching
                and c.concurrency == cell.concurrency
            ),
            None,
        )
        base = pct(alone.overhead_ms, 0.95) if alone else math.nan
        p95 = pct(cell.overhead_ms, 0.95)
        table.add(
            cell.config,
            "on" if cell.batching else "off",
            cell.concurrency,
            round(base) if alone else "-",
            round(p95),
            f"{p95 - base:+.0f} ms",
            f"{alone.rps if alone else math.nan:.1f} / {cell.rps:.1f}",
            cell.note,
        )
    return table


def sse_table(cells: list[Cell]) -> Table:
    table = Table(
        [
            "batching",
            "visitors",
            "streams",
            "client to first delta p50 / p95",
            "server overhead before the first token p50 / p95",
        ]
    )
    for c in cells:
        if c.scenario == "sse" and c.client_ms:
            table.add(
                "on" if c.batching else "off",
                c.concurrency,
                len(c.client_ms),
                f"{pct(c.client_ms, 0.5):.0f} / {pct(c.client_ms, 0.95):.0f}",
                f"{pct(c.overhead_ms, 0.5):.1f} / {pct(c.overhead_ms, 0.95):.1f}",
            )
    return table


def rounds_of(cells: list[Cell]) -> list[list[Cell]]:
    """The run's cells split by round (``--rounds``): a cell's round is how many cells of the
    same config, scenario, latency and level came before it."""
    seen: dict[tuple[object, ...], int] = {}
    rounds: list[list[Cell]] = []
    for cell in cells:
        key = (cell.config, cell.scenario, cell.latency, cell.concurrency, cell.batching)
        index = seen.get(key, 0)
        seen[key] = index + 1
        while len(rounds) <= index:
            rounds.append([])
        rounds[index].append(cell)
    return rounds


def _goal_figures(cells: list[Cell]) -> dict[str, tuple[float, ...]]:
    """One round's figures for each of issue 15's goals (rag at zero LLM latency)."""

    def rag(level: int, batching: bool, scenario: str = "rag") -> Cell | None:
        return zero_latency_cell(cells, level, batching, scenario)

    out: dict[str, tuple[float, ...]] = {}
    on64, off64 = rag(64, True), rag(64, False)
    if on64 and off64 and off64.rps:
        out["ratio"] = (on64.rps / off64.rps, on64.rps, off64.rps)
    if on64:
        out["p95_64"] = (pct(on64.overhead_ms, 0.95),)
    on1, off1 = rag(1, True), rag(1, False)
    if on1 and off1:
        a, b = pct(on1.overhead_ms, 0.5), pct(off1.overhead_ms, 0.5)
        out["one"] = (a / b - 1, a, b)
    alone16, ingest16 = rag(16, True), rag(16, True, "ingest")
    if alone16 and ingest16:
        out["ingest"] = (pct(ingest16.overhead_ms, 0.95) - pct(alone16.overhead_ms, 0.95),)
    sse16 = rag(16, True, "sse")
    if sse16:
        out["sse"] = (pct(sse16.overhead_ms, 0.95),)
    on10 = rag(10, True)
    if on10:
        out["anchor"] = (on10.rps, pct(on10.client_ms, 0.5), pct(on10.overhead_ms, 0.5))
    return out


def load_goals(cells: list[Cell]) -> Table:
    """Issue 15's goals against this run's cells (rag at zero LLM latency): with several rounds,
    the median of the rounds decides, and each round's figure is listed."""
    table = Table(["goal", "measured", "met"])
    per_round = [_goal_figures(r) for r in rounds_of(cells)]

    def figures(name: str) -> list[tuple[float, ...]]:
        return [f[name] for f in per_round if name in f]

    def goal(
        name: str,
        title: str,
        value: Callable[[float], str],
        each: Callable[[tuple[float, ...]], str],
        met: Callable[[float], bool],
    ) -> None:
        """A goal's row: the median of the rounds' first figure decides."""
        rows = figures(name)
        if not rows:
            return
        middle = statistics.median(r[0] for r in rows)
        note = f" (rounds: {', '.join(each(r) for r in rows)})" if len(rows) > 1 else ""
        table.add(title, value(middle) + note, yes_no(met(middle)))

    goal(
        "ratio",
        "rag at 64 visitors: >= 5x the req/s of batching off",
        lambda v: f"{v:.2f}x",
        lambda r: f"{r[1]:.1f} vs {r[2]:.1f}",
        lambda v: v >= 5,
    )
    goal(
        "p95_64",
        "rag overhead p95 at 64 <= 400 ms",
        lambda v: f"{v:.0f} ms",
        lambda r: f"{r[0]:.0f}",
        lambda v: v <= 400,
    )
    goal(
        "one",
        "1 visitor: overhead p50 within 10% of batching off",
        lambda v: f"{v:+.0%}",
        lambda r: f"{r[1]:.1f} vs {r[2]:.1f} ms",
        lambda v: v <= 0.10,
    )
    goal(
        "ingest",
        "rag p95 at 16 grows <= 100 ms while ingesting",
        lambda v: f"{v:+.0f} ms",
        lambda r: f"{r[0]:+.0f}",
        lambda v: v <= 100,
    )
    goal(
        "sse",
        "SSE overhead before the first token p95 <= 60 ms at 16",
        lambda v: f"{v:.1f} ms",
        lambda r: f"{r[0]:.0f}",
        lambda v: v <= 60,
    )
    if rows := figures("anchor"):
        rps, client, overhead = (statistics.median(r[i] for r in rows) for i in range(3))
        note = f" (rounds: {', '.join(f'{r[0]:.1f}' for r in rows)})" if len(rows) > 1 else ""
        table.add(
            "anchor: Dify's load test, mock LLM, 10 users: 2.37 req/s, median 38 ms",
            f"ours at 10 visitors: {rps:.1f} req/s, client median {client:.0f} ms"
            f" (overhead median {overhead:.0f} ms){note}",
            "-",
        )
    return table


def yes_no(ok: bool) -> str:
    return "yes" if ok else "no"


def checkouts_table(cells: list[Cell], checkouts: list[str]) -> Table:
    """Server CPU per request of each checkout, per scenario and level, over the rounds."""
    table = Table(["scenario", "visitors", "batching", *checkouts])
    keys = dict.fromkeys((c.scenario, c.latency, c.concurrency, c.batching) for c in cells)
    for scenario, latency, level, batching in keys:
        row = []
        for checkout in checkouts:
            figures = [
                c.cpu_ms.get("server", 0.0)
                for c in cells
                if (c.scenario, c.latency, c.concurrency, c.batching)
                == (scenario, latency, level, batching)
                and c.config.endswith(f", {checkout}")
            ]
            each = " / ".join(f"{x:.1f}" for x in figures)
            row.append(f"{statistics.median(figures):.1f} ({each})" if figures else "-")
        name = scenario if latency in (None, 0.0) else f"{scenario} {latency:g} s"
        table.add(name, level, "on" if batching else "off", *row)
    return table

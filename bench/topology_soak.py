"""The soak and the throughput runs on the topology of bench/topology.py.

Soak (``python -m bench.topology soak --seconds 120 [--write]``): the topology comes up with the
fakes in this process; six owners sign up through the balancer; for ``--seconds`` visitors chat,
owners upload documents and read their lists, and each owner pays once, the webhook delivered
twice (bench.topology_load). Meanwhile one API process, one worker, the replica and Redis are each
SIGKILLed and started again, one after the other. HAProxy's own view of its servers is polled
(its stats page) to measure how long the dead API process took to leave the balancer. Afterwards
(bench.topology_checks): no 5xx outside the seconds from the API process's death to its leaving
the balancer; every document ready or failed with a reason; counters equal to their rows; each
payment applied once; no owner's list showing another tenant's ids.

Throughput (``python -m bench.topology throughput --seconds 5``): wrk at 16 connections, cache
hits (one question asked again and again) and full answers (a new question each request: retrieval
and the fake LLM at zero latency), sent straight to one API process and to the balancer in front
of two, in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import io
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from bench import topology_checks as checks
from bench.backup_drill import Restored, restore_and_check, rls_state
from bench.common import Table, write_section, writes_docs
from bench.topology_load import Tally, drive, new_tenant

if TYPE_CHECKING:
    from bench.topology import Topology

TENANTS = 6
GRACE_SECONDS = 240.0
"""How long the documents may take to settle after the load: a job a killed worker held runs
again after the job timeout (60 s), its workspace's lease expires 60 s later."""


@dataclass
class Fault:
    name: str
    target: str
    at: float  # fraction of the run
    down_for: float  # seconds between the kill and the restart
    killed_s: float = 0.0
    restarted_s: float = 0.0
    left_s: float | None = None  # API only: when HAProxy marked it DOWN
    back_s: float | None = None  # API only: when HAProxy marked it UP again
    note: str = ""


@dataclass
class BalancerWatch:
    """HAProxy's status of each API server over time, from its stats page."""

    url: str
    started: float
    changes: list[tuple[float, str, str]] = field(default_factory=list)

    async def run(self, stop: asyncio.Event) -> None:
        last: dict[str, str] = {}
        async with httpx.AsyncClient(timeout=2) as client:
            while not stop.is_set():
                with contextlib.suppress(httpx.HTTPError):
                    text = (await client.get(self.url)).text.lstrip("# ")
                    for row in csv.DictReader(io.StringIO(text)):
                        name, status = row["svname"], row["status"].split()[0]
                        if name in ("api0", "api1") and last.get(name) != status:
                            last[name] = status
                            self.changes.append((time.monotonic() - self.started, name, status))
                await asyncio.sleep(0.2)

    def first(self, server: str, status: str, after: float) -> float | None:
        return next(
            (t for t, n, s in self.changes if n == server and s == status and t >= after), None
        )


async def run_faults(
    top: Topology, faults: list[Fault], tally: Tally, seconds: float, held: set[str]
) -> None:
    for fault in faults:
        if not fault.target:
            continue
        await asyncio.sleep(max(0.0, tally.started + fault.at * seconds - time.monotonic()))
        held.add(fault.target)  # the supervisor leaves it down for ``down_for``
        fault.killed_s = time.monotonic() - tally.started
        top.kill(fault.target)
        print(f"  {fault.killed_s:5.1f} s  killed {fault.name}", flush=True)
        await asyncio.sleep(fault.down_for / 2)
        fault.note = await readiness(top.state["balancer"])
        await asyncio.sleep(fault.down_for / 2)
        await asyncio.to_thread(top.restart, fault.target)
        held.discard(fault.target)
        fault.restarted_s = time.monotonic() - tally.started
        print(f"  {fault.restarted_s:5.1f} s  restarted {fault.name}", flush=True)


async def dump_midway(top: Topology, tally: Tally, seconds: float, out: dict[str, Any]) -> None:
    """``pg_dump`` of the primary at 80% of the run, while the load goes on (bench/backup_drill:
    an exported snapshot, its row counts taken in the same snapshot)."""
    from bench.backup_drill import Cluster, dump_during_load

    await asyncio.sleep(max(0.0, tally.started + 0.8 * seconds - time.monotonic()))
    out["at_s"] = time.monotonic() - tally.started
    out["path"] = top.dir / "soak.dump"
    primary = Cluster(None, top.state["primary"]["socket_dir"])
    out["snap"] = await dump_during_load(primary, out["path"])
    print(f"  {out['at_s']:5.1f} s  pg_dump done in {out['snap'].dump_seconds:.1f} s", flush=True)


def backup_table(dumped: dict[str, Any], restored: Restored) -> Table:
    snap = dumped["snap"]
    table = Table(["measure", "value"])
    table.add(
        "recovery point (the dump's snapshot)", f"{snap.taken_at} (at {dumped['at_s']:.0f} s)"
    )
    table.add("pg_dump -Fc under load s", snap.dump_seconds)
    table.add("dump size MB", snap.size_bytes / 1e6)
    table.add("rows in the snapshot", sum(snap.counts.values()))
    table.add("pg_restore s", restored.restore_seconds)
    table.add("trulybot serve ready on the restore s", restored.serve_seconds)
    table.add("recovery time s", restored.restore_seconds + restored.serve_seconds)
    return table


async def readiness(base: str) -> str:
    """What /readyz says through the balancer (the replica's state, Redis)."""
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            r = await client.get(base + "/readyz")
    except httpx.HTTPError as exc:
        return f"/readyz: {type(exc).__name__}"
    body = r.json()
    checks = body.get("checks") or body.get("error", {}).get("details") or {}
    shown = ", ".join(f"{k} {str(v).split(':')[0]}" for k, v in checks.items())
    return f"/readyz {r.status_code}: {shown}"


SUPERVISED = ("api0", "api1", "worker0", "worker1")


async def supervise(
    top: Topology, tally: Tally, held: set[str], stop: asyncio.Event, restarts: list[str]
) -> None:
    """What systemd's ``Restart=always`` (or a container orchestrator) does for the app's
    processes: start again one that exited by itself."""
    while not stop.is_set():
        for name in SUPERVISED:
            if name in held or top.alive(name):
                continue
            pid = top.pid(name)
            with contextlib.suppress(ChildProcessError, TypeError):
                os.waitpid(pid, os.WNOHANG)  # type: ignore[arg-type]  # noqa: ASYNC222 - WNOHANG
            restarts.append(f"{name} at {time.monotonic() - tally.started:.1f} s")
            print(f"  supervisor: {name} had exited; started again", flush=True)
            top.restart(name)
        await asyncio.sleep(0.5)


def five_xx_outside(tally: Tally, windows: list[tuple[int, int]]) -> tuple[int, int, list[int]]:
    """(5xx and failed connections inside the allowed windows, outside them, the seconds
    outside that had any)."""
    inside = outside = 0
    bad_seconds = []
    for second, counts in tally.seconds.items():
        n = counts["5xx"] + counts["error"]
        if not n:
            continue
        if any(lo <= second <= hi for lo, hi in windows):
            inside += n
        else:
            outside += n
            bad_seconds.append(second)
    return inside, outside, sorted(bad_seconds)


async def soak(top: Topology, args: argparse.Namespace) -> bool:
    from bench.topology import WEBHOOK_SECRET, start_fakes

    fakes = start_fakes()
    try:
        print("bringing the topology up ...", flush=True)
        await top.up(fakes)
        base = top.state["balancer"]
        owner_url = top.state["primary"]["owner_url"]
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            tenants = [await new_tenant(client, f"Soak{i}", owner_url) for i in range(TENANTS)]
        faults = [
            Fault("API process (api0)", "api0", 0.15, 0.0),
            Fault("worker (worker0)", "worker0", 0.35, 2.0),
            Fault("replica", "replica", 0.50, 5.0),
            Fault("Redis", "redis", 0.70, 2.0),
        ]
        if args.no_faults:  # the same load with nothing killed: what the faults change
            faults = [Fault("nothing (--no-faults)", "", 2.0, 0.0)]
        tally = Tally()
        watch = BalancerWatch(top.state["stats"], tally.started)
        stop = asyncio.Event()
        watcher = asyncio.create_task(watch.run(stop))
        held: set[str] = set()
        restarts: list[str] = []
        supervisor = asyncio.create_task(supervise(top, tally, held, stop, restarts))
        print(f"soak: {args.seconds:.0f} s, {TENANTS} owners, 4 visitors", flush=True)
        load = drive(
            base,
            tenants,
            args.seconds,
            visitors=4,
            razorpay=fakes.razorpay,
            webhook_secret=WEBHOOK_SECRET,
            tally=tally,
        )
        dumped: dict[str, Any] = {}
        await asyncio.gather(
            load,
            run_faults(top, faults, tally, args.seconds, held),
            dump_midway(top, tally, args.seconds, dumped),
        )
        api = faults[0]
        api.left_s = watch.first("api0", "DOWN", api.killed_s)
        api.back_s = watch.first("api0", "UP", api.restarted_s)
        print(f"load done; waiting up to {GRACE_SECONDS:.0f} s for documents ...", flush=True)
        ids = [t.workspace_id for t in tenants]
        results = [
            await checks.documents_settle(owner_url, ids, GRACE_SECONDS),
            await checks.counters_match(owner_url, ids),
            await checks.payments_once(owner_url, tenants),
            await checks.no_cross_tenant(owner_url, tenants),
        ]
        stop.set()
        await asyncio.gather(watcher, supervisor)
        before = await rls_state(owner_url)
        if not args.keep:
            top.down()
        print("restoring the dump taken during the soak ...", flush=True)
        restored = await restore_and_check(
            top.dir / "drill", dumped["path"], dumped["snap"], before, tenants, fakes.openai_url
        )
        results += [
            checks.Check(f"restore of the mid-soak dump: {name}", ok, detail)
            for name, ok, detail in restored.checks
        ]
    finally:
        if not args.keep:
            top.down()
        fakes.stop()
    window_end = int((api.left_s if api.left_s is not None else api.killed_s + 10) + 1)
    inside, outside, bad = five_xx_outside(tally, [(int(api.killed_s), window_end)])
    results.insert(
        0,
        checks.Check(
            "no 5xx beyond the dead API's exit from the balancer",
            outside == 0,
            f"{inside} 5xx/failed in s {int(api.killed_s)}-{window_end}; {outside} outside"
            + (f" (seconds {bad[:12]})" if bad else ""),
        ),
    )
    report(args, tally, faults, results, watch, restarts, backup_table(dumped, restored))
    return all(c.ok for c in results)


def report(
    args: argparse.Namespace,
    tally: Tally,
    faults: list[Fault],
    results: list[checks.Check],
    watch: BalancerWatch,
    restarts: list[str],
    backup: Table,
) -> None:
    events = Table(
        ["killed (SIGKILL)", "at s", "restarted at s", "left the balancer", "back in", "meanwhile"]
    )
    for f in faults:
        left = f"after {f.left_s - f.killed_s:.1f} s" if f.left_s is not None else "-"
        back = f"at {f.back_s:.1f} s" if f.back_s is not None else "-"
        events.add(f.name, f.killed_s, f.restarted_s, left, back, f.note or "-")
    load = Table(["request", "2xx", "4xx", "5xx", "failed"])
    for op, counts in sorted(tally.by_op.items()):
        load.add(op, counts["2xx"], counts["4xx"], counts["5xx"], counts["error"])
    verdicts = Table(["check", "ok", "detail"])
    for c in results:
        verdicts.add(c.name, "yes" if c.ok else "NO", c.detail)
    per_second = ", ".join(
        f"{s}: {c['5xx'] + c['error']}"
        for s, c in sorted(tally.seconds.items())
        if c["5xx"] + c["error"]
    )
    downs = ", ".join(f"{n} {s} at {t:.1f} s" for t, n, s in watch.changes[2:])
    events.print("faults")
    load.print("load through the balancer")
    verdicts.print("checks")
    backup.print("pg_dump during the soak, restored into a fresh cluster")
    print(f"5xx or failed per second: {per_second or 'none'}")
    print(f"HAProxy's view: {downs or 'no change'}")
    print(f"supervisor restarts: {', '.join(restarts) or 'none'}")
    if tally.samples:
        print("samples: " + " | ".join(tally.samples[:4]))
    if writes_docs(args):
        write_section(
            "topology_soak",
            "\n".join(
                [
                    f"`python -m bench.topology soak --seconds {args.seconds:.0f} --write` "
                    f"(load average at the end {os.getloadavg()[0]:.1f} on 2 shared cores).",
                    "",
                    events.markdown(),
                    "",
                    load.markdown(),
                    "",
                    verdicts.markdown(),
                    "",
                    "pg_dump of the primary during the soak (after the Redis restart), restored"
                    " into a fresh cluster that `trulybot serve` then served:",
                    "",
                    backup.markdown(),
                    "",
                    f"5xx or failed requests per second of the run: {per_second or 'none'}. "
                    f"HAProxy's view of the API servers: {downs or 'no change'}. "
                    f"Processes the supervisor started again after they exited by themselves: "
                    f"{', '.join(restarts) or 'none'}.",
                ]
            ),
        )


# --- throughput ------------------------------------------------------------------------------

LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Widget-Key"] = "%(key)s"
local threads = {}
local questions = {%(questions)s}
function setup(thread) table.insert(threads, thread) end
function init(args) n = 0; rag = 0; other = 0; math.randomseed(os.time() + os.clock() * 1e6) end
function request()
  n = n + 1
  local message = "%(message)s"
  if %(unique)s then
    message = questions[(n - 1) %% #questions + 1]
  end
  local body = string.format('{"message": "%%s", "session_id": "wrk-%%d-%%d"}',
                             message, math.random(1000000000), n)
  return wrk.format(nil, nil, nil, body)
end
function response(status, headers, body)
  if string.find(body, '"source":"rag"', 1, true) then rag = rag + 1 else other = other + 1 end
end
function done(summary, latency, requests)
  for _, t in ipairs(threads) do
    io.write(string.format("SOURCES rag=%%d other=%%d\\n", t:get("rag"), t:get("other")))
  end
end
"""


def wrk(url: str, key: str, message: str, unique: bool, seconds: int) -> dict[str, Any]:
    import random

    from bench.chat_questions import unique_questions
    from bench.chat_wrk import _LATENCY, _NON2XX, _RPS, _ms

    # New questions for each run (bench.chat_workload's: retrieval finds passages for them).
    fresh = unique_questions(3000, random.Random(time.time_ns()))
    questions = ",".join(f"[[{q}]]" for q in fresh) if unique else ""
    script = LUA % {
        "key": key,
        "message": message,
        "unique": "true" if unique else "false",
        "questions": questions,
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    try:
        out = subprocess.run(
            [
                "wrk",
                "-t1",
                "-c16",
                f"-d{seconds}s",
                "--latency",
                "-s",
                f.name,
                url + "/api/v1/chat",
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=seconds + 60,
        ).stdout
    finally:
        Path(f.name).unlink()
    latency = {f"p{m[0]}": _ms(m[1], m[2]) for m in _LATENCY.findall(out)}
    rps = float(m.group(1)) if (m := _RPS.search(out)) else 0.0
    sources = dict(kv.split("=") for kv in out.split("SOURCES ", 1)[-1].split()[:2])
    return {
        "rps": rps,
        "p50": latency.get("p50"),
        "p99": latency.get("p99"),
        "non2xx": int(m.group(1)) if (m := _NON2XX.search(out)) else 0,
        "rag": int(sources.get("rag", 0)),
    }


async def throughput(top: Topology, args: argparse.Namespace) -> None:
    from bench.chat_workload import create_workspace
    from bench.topology import start_fakes

    fakes = start_fakes()
    try:
        print("bringing the topology up ...", flush=True)
        await top.up(fakes)
        base = top.state["balancer"]
        direct = f"http://127.0.0.1:{top.state['api_ports'][0]}"
        ws = await create_workspace(base)
        question = "How do I install the widget on my website?"
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            for _ in range(4):  # into the cache (shared in Redis by both processes)
                await client.post(
                    "/api/v1/chat",
                    json={"message": question, "session_id": "warm"},
                    headers={"X-Widget-Key": ws.public_key},
                )
        seconds = int(args.seconds)
        table = Table(["scenario", "where", "req/s", "p50 ms", "p99 ms", "non-2xx", "rag answers"])
        for scenario, unique in (("cache hit", False), ("full answer", True)):
            for where, url in (("1 API process (direct)", direct), ("2 behind HAProxy", base)):
                r = await asyncio.to_thread(wrk, url, ws.public_key, question, unique, seconds)
                table.add(scenario, where, r["rps"], r["p50"], r["p99"], r["non2xx"], r["rag"])
                print(f"  {scenario}, {where}: {r['rps']:.1f} req/s", flush=True)
    finally:
        if not args.keep:
            top.down()
        fakes.stop()
    table.print("POST /api/v1/chat with wrk, 16 connections, through PgBouncer")
    if writes_docs(args):
        write_section(
            "topology_throughput",
            "\n".join(
                [
                    f"`python -m bench.topology throughput --seconds {seconds} --write`: wrk (1"
                    " thread, 16 connections) on the topology (PgBouncer, Redis, hash embedder,"
                    f" fake LLM at zero latency); load average at the end "
                    f"{os.getloadavg()[0]:.1f} on 2 shared cores. Straight to one API process and"
                    " through HAProxy to two, in the same run. A full answer is a new question"
                    " each request (retrieval and generation; some still come from the semantic"
                    " cache or the don't-know answer: 'rag answers' counts the generated ones).",
                    "",
                    table.markdown(),
                ]
            ),
        )


def main(top: Topology, args: argparse.Namespace) -> None:
    if args.command == "soak":
        ok = asyncio.run(soak(top, args))
        if not ok:
            raise SystemExit("the soak failed a check")
    else:
        asyncio.run(throughput(top, args))

"""What bench.chat_http sends: the questions, the workspace it creates through the API, the visitors
that chat (plain and streamed), the documents fed in while they do, and /metrics scrapes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import re
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import httpx2
import psutil

from bench.chat_raw_client import RawClient, RawHTTPError, StreamedAnswer
from bench.chat_servers import (
    DEMO,
    DOCUMENTS,
    METRICS_TOKEN,
    WATCHED,
    Server,
)


@dataclass
class Workspace:
    id: str
    public_key: str
    token: str
    faq_questions: list[str]


async def verification_token(owner_url: str, email: str) -> str:
    """The token of the newest verify_email mail to ``email``, read from the mail outbox (as the
    tests do) with the database owner's URL."""
    import asyncpg

    conn = await asyncpg.connect(owner_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        body = await conn.fetchval(
            "SELECT text_body FROM mail_outbox WHERE lower(recipient) = lower($1)"
            " AND template = 'verify_email' ORDER BY created_at DESC LIMIT 1",
            email,
        )
    finally:
        await conn.close()
    match = re.search(r"[?&]token=([A-Za-z0-9_.\-]+)", body or "")
    if match is None:
        raise RuntimeError(f"no verification mail for {email}")
    return match.group(1)


async def _signup(
    client: httpx.AsyncClient, email: str, name: str, *, verify_with: str = ""
) -> tuple[str, dict[str, Any]]:
    """Sign up (202), sign in (an unverified owner may set up documents and FAQs), and return
    the access token and the workspace. With ``verify_with`` (the database owner's URL) the
    email is verified first, by the link of the mail in the outbox: API keys need it."""
    password = "bench password 123"
    r = await client.post(
        "/api/v1/auth/signup",
        json={"email": email, "password": password, "workspace_name": name},
    )
    r.raise_for_status()
    if verify_with:
        token = await verification_token(verify_with, email)
        r = await client.post(
            "/api/v1/auth/verify-email", json={"token": token, "password": password}
        )
        r.raise_for_status()
    r = await client.post("/api/v1/auth/login", json={"email": email, "password": password})
    r.raise_for_status()
    token = r.json()["access_token"]
    r = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    r.raise_for_status()
    workspace: dict[str, Any] = r.json()["workspaces"][0]
    return token, workspace


async def workspace_with_key(
    client: httpx.AsyncClient, name: str, owner_url: str
) -> tuple[str, str]:
    """A new owner's workspace and an API key: (workspace id, key). A key needs a verified
    email: the link is read from the mail outbox with ``owner_url``."""
    email = f"bench-{uuid.uuid4().hex[:10]}@example.com"
    token, ws = await _signup(client, email, name, verify_with=owner_url)
    r = await client.post(
        f"/api/v1/workspaces/{ws['id']}/api-keys",
        json={"name": "bench"},
        headers={"Authorization": f"Bearer {token}"},
    )
    r.raise_for_status()
    return str(ws["id"]), str(r.json()["key"])


async def create_workspace(base: str) -> Workspace:
    async with httpx.AsyncClient(base_url=base, timeout=120) as client:
        token, ws = await _signup(
            client, f"bench-{uuid.uuid4().hex[:10]}@example.com", "Bench Backup"
        )
        headers = {"Authorization": f"Bearer {token}"}
        prefix = f"/api/v1/workspaces/{ws['id']}"
        faqs = json.loads((DEMO / "faqs.json").read_text())
        questions: list[str] = []
        for item in faqs:
            r = await client.post(f"{prefix}/faqs", json=item, headers=headers)
            r.raise_for_status()
            questions += [item["question"], *item.get("alt_questions", [])]
        for name in DOCUMENTS:
            r = await client.post(
                f"{prefix}/documents",
                files={"file": (name, (DEMO / name).read_bytes(), "text/markdown")},
                headers=headers,
            )
            r.raise_for_status()
        deadline = time.monotonic() + 300
        while True:
            r = await client.get(f"{prefix}/documents", headers=headers)
            r.raise_for_status()
            statuses = [d["status"] for d in r.json()["items"]]
            if statuses and all(s == "ready" for s in statuses):
                break
            if any(s == "failed" for s in statuses):
                raise RuntimeError(f"a demo document failed: {r.text}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"documents not ready: {statuses}")
            await asyncio.sleep(0.5)
    return Workspace(ws["id"], ws["public_key"], token, questions)


# --- the load --------------------------------------------------------------------------------


async def scrape(client: httpx2.AsyncClient, servers: list[Server]) -> dict[str, float]:
    """Sums and counts of the watched histograms, and the loop-lag maximum, over the servers."""
    out: dict[str, float] = {}
    for server in servers:
        r = await client.get(
            server.url + "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
        )
        for line in r.text.splitlines():
            if line.startswith("#") or " " not in line:
                continue
            key, _, value = line.rpartition(" ")
            if key == "trulybot_event_loop_lag_max_seconds":
                out["lag max"] = max(out.get("lag max", 0.0), float(value))
            for name, (metric, labels) in WATCHED.items():
                for part in ("sum", "count"):
                    wanted = f"{metric}_{part}" + (f"{{{labels}}}" if labels else "")
                    if key == wanted:
                        out[f"{name} {part}"] = out.get(f"{name} {part}", 0.0) + float(value)
    return out


def describe_metrics(before: dict[str, float], after: dict[str, float]) -> str:
    """What the servers' /metrics say about one cell: mean loop lag and its recent maximum, mean
    pool wait, mean texts per model call and a query batch's mean wall time in the model (its
    thread's time on the CPU and its waits for it: the stretch a question waits behind)."""
    parts = []
    for name in WATCHED:
        count = after.get(f"{name} count", 0.0) - before.get(f"{name} count", 0.0)
        total = after.get(f"{name} sum", 0.0) - before.get(f"{name} sum", 0.0)
        if count:
            scale = 1000 if name.endswith("ms") else 1
            parts.append(f"{name} mean {total / count * scale:.1f} ({count:.0f})")
    if "lag max" in after:
        parts.append(f"loop lag max {after['lag max'] * 1000:.0f} ms")
    return ", ".join(parts)


def cpu_seconds(pids: dict[str, list[int]]) -> dict[str, float]:
    """User + system CPU seconds so far of each group of processes (and, for a group whose
    first pid is a parent such as PostgreSQL's postmaster, of its children: the live ones, and
    those that exited, which the parent reaped, e.g. a pool's overflow connections closed)."""
    out: dict[str, float] = {}
    for name, group in pids.items():
        total = 0.0
        if name == "fake llm":  # thread ids of this process
            times = {t.id: t.user_time + t.system_time for t in psutil.Process().threads()}
            out[name] = sum(times.get(tid, 0.0) for tid in group)
            continue
        for pid in group:
            with contextlib.suppress(psutil.Error):
                proc = psutil.Process(pid)
                procs = [proc, *proc.children(recursive=True)] if name == "postgres" else [proc]
                for p in procs:
                    with contextlib.suppress(psutil.Error):
                        t = p.cpu_times()
                        total += t.user + t.system
                if name == "postgres":
                    t = proc.cpu_times()
                    total += t.children_user + t.children_system
                if name == "server":  # its event loop: the main thread, whose id is the pid's
                    loop = sum(t.user_time + t.system_time for t in proc.threads() if t.id == pid)
                    out["server loop"] = out.get("server loop", 0.0) + loop
        out[name] = total
    return out


def cpu_per_request(
    before: dict[str, float], after: dict[str, float], requests: int
) -> dict[str, float]:
    if not requests:
        return {}
    return {k: (after[k] - before.get(k, 0.0)) * 1000 / requests for k in after}


@dataclass
class Cell:
    config: str
    scenario: str
    latency: float | None
    concurrency: int
    wall: float = 0.0
    client_ms: list[float] = field(default_factory=list)
    server_ms: list[float] = field(default_factory=list)
    overhead_ms: list[float] = field(default_factory=list)
    stages: list[dict[str, float]] = field(default_factory=list)
    sources: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    batching: bool = True
    note: str = ""
    metrics: str = ""
    cpu_ms: dict[str, float] = field(default_factory=dict)
    """CPU time per answered request: ``server`` (every thread of the server processes),
    ``server loop`` (their main threads, where the event loop runs), ``postgres`` (the
    database's processes), ``bench`` (this process: the load generator and the fake LLM),
    ``fake llm`` (the fake LLM's thread of it). Unlike wall times, not inflated
    when other processes share the cores."""

    @property
    def rps(self) -> float:
        return len(self.client_ms) / self.wall if self.wall else 0.0


async def chat(
    client: httpx.AsyncClient | httpx2.AsyncClient | RawClient,
    base: str,
    key: str,
    message: str,
    session: str,
) -> tuple[int, dict[str, Any]]:
    if isinstance(client, RawClient):
        status, headers, content = await client.post_json(
            base, "/api/v1/chat", {"message": message, "session_id": session}, {"x-widget-key": key}
        )
        kind = headers.get("content-type", "")
        return status, (json.loads(content) if kind.startswith("app") else {})
    r = await client.post(
        base + "/api/v1/chat",
        json={"message": message, "session_id": session},
        headers={"X-Widget-Key": key},
    )
    return r.status_code, (r.json() if r.headers.get("content-type", "").startswith("app") else {})


async def chat_stream(
    client: httpx2.AsyncClient | RawClient, base: str, key: str, message: str, session: str
) -> tuple[int, float, dict[str, Any]]:
    """POST /chat as a stream: (status, ms to the first ``delta`` event, the ``done`` data)."""
    if isinstance(client, RawClient):
        return await client.post_stream(
            base,
            "/api/v1/chat",
            {"message": message, "session_id": session},
            {"x-widget-key": key, "accept": "text/event-stream"},
        )
    answer = StreamedAnswer(time.perf_counter())
    async with client.stream(
        "POST",
        base + "/api/v1/chat",
        json={"message": message, "session_id": session},
        headers={"X-Widget-Key": key, "Accept": "text/event-stream"},
    ) as r:
        if r.status_code != 200:
            await r.aread()
            return r.status_code, answer.first, answer.done
        async for line in r.aiter_lines():
            answer.line(line)
    return 200, answer.first, answer.done


async def drive(
    cell: Cell,
    client: httpx2.AsyncClient | RawClient,
    servers: list[Server],
    key: str,
    messages: list[str],
    total: int,
    cap: float,
) -> Cell:
    counter = iter(range(total))
    started = time.perf_counter()
    deadline = started + cap

    async def visitor(v: int) -> None:
        session = f"bench-{cell.scenario}-{cell.concurrency}-{v}-{uuid.uuid4().hex[:8]}"
        for i in counter:
            if time.perf_counter() > deadline:
                return
            base = servers[i % len(servers)].url
            t0 = time.perf_counter()
            message = messages[i % len(messages)]
            try:
                if cell.scenario == "sse":
                    status, first_ms, body = await chat_stream(client, base, key, message, session)
                else:
                    status, body = await chat(client, base, key, message, session)
            except (httpx2.HTTPError, RawHTTPError) as exc:
                cell.errors[type(exc).__name__] += 1
                continue
            elapsed = (time.perf_counter() - t0) * 1000
            if status != 200:
                cell.errors[str(status)] += 1
                continue
            timings = body.get("timings_ms", {})
            total_ms = float(timings.get("total", 0.0))
            if cell.scenario == "sse":  # time to the first token, not to the whole answer
                first_token = float(timings.get("first_token", math.nan))
                cell.client_ms.append(first_ms)
                cell.server_ms.append(first_token)
                cell.overhead_ms.append(first_token - float(timings.get("model_first_token", 0)))
            else:
                cell.client_ms.append(elapsed)
                cell.server_ms.append(total_ms)
                cell.overhead_ms.append(total_ms - float(timings.get("generation", 0.0)))
            cell.stages.append(timings)
            cell.sources[str(body.get("source"))] += 1

    await asyncio.gather(*(visitor(v) for v in range(cell.concurrency)))
    cell.wall = time.perf_counter() - started
    return cell


async def warm_cache(
    client: httpx2.AsyncClient, servers: list[Server], key: str, questions: list[str]
) -> list[str]:
    """Ask each question once per server (memory caches are per process); keep those that hit."""
    cached = []
    for q in questions:
        hits = 0
        for server in servers:
            await chat(client, server.url, key, q, f"warm-{uuid.uuid4().hex[:8]}")
            _, body = await chat(client, server.url, key, q, f"warm-{uuid.uuid4().hex[:8]}")
            hits += body.get("source") == "cache"
        if hits == len(servers):
            cached.append(q)
    if not cached:
        raise RuntimeError("no question produced a cache hit (is the fake LLM citing [1]?)")
    return cached


# --- a configuration: N server processes, with or without Redis --------------------------------


@dataclass
class Feed:
    uploaded: int = 0
    ready: int = 0
    failed: int = 0
    chunks: int = 0
    seconds: float = 0.0

    def describe(self) -> str:
        return (
            f"{self.uploaded} documents uploaded, {self.ready} ready ({self.chunks} chunks)"
            f" in {self.seconds:.1f} s"
        )


@contextlib.asynccontextmanager
async def feeding_documents(base: str, limit: int) -> AsyncIterator[Feed]:
    """Uploads the Python HTML docs (``bench.ingestion``'s corpus) into a workspace of its own on
    this server, two documents in flight, until the block ends; the first is being ingested
    when the block starts."""
    from bench.ingestion import corpus_files

    files = [(path.name, path.read_bytes()) for path in corpus_files(limit)]
    if not files:
        raise RuntimeError("no corpus: apt-get install python3-doc")
    feed = Feed()
    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=base, timeout=120) as client:
        owner = await signup_owner(client, "Bench ingest")
        prefix = f"/api/v1/workspaces/{owner['workspace']['id']}/documents"
        headers = {"Authorization": f"Bearer {owner['access_token']}"}

        async def upload(page: tuple[str, bytes]) -> str:
            name, data = page
            r = await client.post(
                prefix,
                files={"file": (f"{feed.uploaded}-{name}", data, "text/html")},
                headers=headers,
            )
            r.raise_for_status()
            feed.uploaded += 1
            return str(r.json()["id"])

        async def loop() -> None:
            pending = [await upload(files[0])]
            index = 1
            while True:
                while len(pending) < 2:
                    pending.append(await upload(files[index % len(files)]))
                    index += 1
                await asyncio.sleep(0.25)
                for doc in list(pending):
                    r = await client.get(f"{prefix}/{doc}", headers=headers)
                    status = r.json().get("status")
                    if status in ("ready", "failed"):
                        pending.remove(doc)
                        feed.ready += status == "ready"
                        feed.failed += status == "failed"
                        feed.chunks += int(r.json().get("chunk_count") or 0)

        task = asyncio.create_task(loop())
        try:
            await asyncio.sleep(1.5)  # the first document is being parsed and embedded
            if task.done():
                task.result()  # an upload failed: say why
            yield feed
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            feed.seconds = time.perf_counter() - started


async def signup_owner(client: httpx.AsyncClient, name: str) -> dict[str, Any]:
    token, workspace = await _signup(client, f"bench-{uuid.uuid4().hex[:10]}@example.com", name)
    return {"access_token": token, "workspace": workspace}

"""The load the topology soak and the backup drill drive through the HTTP API: owners (sign up,
upload documents, read their lists, pay), visitors (widget chat) and Razorpay webhooks, each
delivered twice. Every response is counted per second; the ids each owner saw are kept so that
the checks afterwards (``bench.topology_checks``) can prove no list showed another tenant's rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.chat_workload import verification_token

PASSWORD = "soak password 123"
WEBHOOK_URL = "/api/v1/billing/webhooks/razorpay"


@dataclass
class Tenant:
    name: str
    email: str
    token: str
    workspace_id: str
    public_key: str
    uploaded: set[str] = field(default_factory=set)
    listed: set[str] = field(default_factory=set)  # document and conversation ids its lists showed
    payments: list[str] = field(default_factory=list)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def url(self, path: str) -> str:
        return f"/api/v1/workspaces/{self.workspace_id}{path}"


@dataclass
class Tally:
    """Responses per (second since the start, class): 2xx, 4xx, 5xx, or ``error`` for a
    connection that failed (the balancer refused or dropped it)."""

    started: float = field(default_factory=time.monotonic)
    seconds: dict[int, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    by_op: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    samples: list[str] = field(default_factory=list)  # a few 5xx bodies, for the report

    def record(self, op: str, response: httpx.Response | None, error: str = "") -> None:
        second = int(time.monotonic() - self.started)
        if response is None:
            kind = "error"
        else:
            kind = f"{response.status_code // 100}xx"
            if response.status_code >= 500 and len(self.samples) < 8:
                self.samples.append(f"{op} {response.status_code} {response.text[:160]}")
        if error and len(self.samples) < 8:
            self.samples.append(f"{op} {error}")
        self.seconds[second][kind] += 1
        self.by_op[op][kind] += 1

    def total(self, kind: str) -> int:
        return sum(counts[kind] for counts in self.seconds.values())

    def seconds_with(self, kind: str) -> list[int]:
        return sorted(s for s, counts in self.seconds.items() if counts[kind])


async def call(
    client: httpx.AsyncClient, tally: Tally, op: str, method: str, url: str, **kwargs: Any
) -> httpx.Response | None:
    try:
        response = await client.request(method, url, **kwargs)
    except httpx.HTTPError as exc:
        tally.record(op, None, f"{type(exc).__name__}")
        return None
    tally.record(op, response)
    return response


async def new_tenant(client: httpx.AsyncClient, name: str, owner_url: str = "") -> Tenant:
    """Sign up and sign in; with ``owner_url`` also verify the email (the link read from the
    mail outbox, as the tests do), which buying a plan needs."""
    email = f"soak-{uuid.uuid4().hex[:12]}@example.com"
    body = {"email": email, "password": PASSWORD, "workspace_name": name}
    (await client.post("/api/v1/auth/signup", json=body)).raise_for_status()
    if owner_url:
        token = await verification_token(owner_url, email)
        r = await client.post(
            "/api/v1/auth/verify-email", json={"token": token, "password": PASSWORD}
        )
        r.raise_for_status()
    r = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    r.raise_for_status()
    token = r.json()["access_token"]
    r = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    r.raise_for_status()
    workspace = r.json()["workspaces"][0]
    return Tenant(name, email, token, workspace["id"], workspace["public_key"])


def document_text(tenant: Tenant, n: int) -> bytes:
    """A small document of its own words (no two documents of the run are the same bytes)."""
    tag = uuid.uuid4().hex[:8]
    lines = [f"# {tenant.name} note {n} ({tag})", ""]
    lines += [
        f"Section {i}: the {tenant.name} team answers question {n}-{i} within {i + 1} days."
        for i in range(12)
    ]
    return "\n".join(lines).encode()


# --- the actors --------------------------------------------------------------------------------


async def visitor(
    client: httpx.AsyncClient, tally: Tally, tenant: Tenant, rng: random.Random
) -> None:
    """One visitor's conversation of two or three turns; a repeated question hits the cache."""
    session = f"v-{uuid.uuid4().hex[:12]}"
    conversation: str | None = None
    for turn in range(rng.randint(2, 3)):
        question = rng.choice(
            [f"How fast does the {tenant.name} team answer?", f"What is in note {turn}?"]
        )
        body: dict[str, Any] = {"message": question, "session_id": session}
        if conversation:
            body["conversation_id"] = conversation
        r = await call(
            client, tally, "chat", "POST", "/api/v1/chat", json=body,
            headers={"X-Widget-Key": tenant.public_key},
        )  # fmt: skip
        if r is None or r.status_code != 200:
            return
        conversation = r.json().get("conversation_id") or conversation


async def owner_round(client: httpx.AsyncClient, tally: Tally, tenant: Tenant, n: int) -> None:
    """Upload a document, then read the documents and conversations lists."""
    r = await call(
        client, tally, "upload", "POST", tenant.url("/documents"),
        files={"file": (f"note-{n}.md", document_text(tenant, n), "text/markdown")},
        headers=tenant.headers,
    )  # fmt: skip
    if r is not None and r.status_code in (200, 201, 202):
        tenant.uploaded.add(str(r.json()["id"]))
    for path, op in (("/documents?limit=100", "list documents"), ("/conversations", "list chats")):
        r = await call(client, tally, op, "GET", tenant.url(path), headers=tenant.headers)
        if r is not None and r.status_code == 200:
            tenant.listed.update(str(item["id"]) for item in r.json().get("items", []))


async def pay_twice(
    client: httpx.AsyncClient, tally: Tally, tenant: Tenant, razorpay: Any, secret: str
) -> None:
    """Order a plan, the customer pays at the fake Razorpay, and its ``payment.captured``
    webhook arrives twice with the same event id (Razorpay delivers at least once)."""
    from tests.fakes.razorpay_server import sign_webhook, webhook_payload

    r = await call(
        client, tally, "order", "POST", tenant.url("/billing/orders"),
        json={"plan": "starter", "period": "monthly"}, headers=tenant.headers,
    )  # fmt: skip
    if r is None or r.status_code != 201:
        return
    payment = razorpay.capture_payment(r.json()["razorpay_order_id"])
    body = json.dumps(webhook_payload("payment.captured", payment=payment)).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Razorpay-Signature": sign_webhook(body, secret),
        "X-Razorpay-Event-Id": f"evt_soak{uuid.uuid4().hex[:16]}",
    }
    tenant.payments.append(payment["id"])
    for _ in range(2):
        # Razorpay retries until it gets a 2xx: so does this sender, for a bounded time.
        for _attempt in range(60):
            r = await call(
                client, tally, "webhook", "POST", WEBHOOK_URL, content=body, headers=headers
            )
            if r is not None and r.status_code == 200:
                break
            await asyncio.sleep(1.0)


async def drive(
    base_url: str,
    tenants: list[Tenant],
    seconds: float,
    *,
    visitors: int = 4,
    razorpay: Any = None,
    webhook_secret: str = "",
    seed: int = 7,
    tally: Tally | None = None,
) -> Tally:
    """Run the load for ``seconds``: ``visitors`` concurrent visitor loops, one owner loop per
    tenant (an upload and two lists every ~2 s), and, with a fake Razorpay, one paid order per
    tenant spread over the run."""
    tally = tally or Tally()
    rng = random.Random(seed)
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=0)

    async with httpx.AsyncClient(base_url=base_url, timeout=20, limits=limits) as client:

        async def visitors_loop(i: int) -> None:
            local = random.Random(seed * 1000 + i)
            while time.monotonic() < deadline:
                await visitor(client, tally, local.choice(tenants), local)
                await asyncio.sleep(local.uniform(0.05, 0.2))

        async def owner_loop(tenant: Tenant) -> None:
            n = 0
            while time.monotonic() < deadline:
                n += 1
                await owner_round(client, tally, tenant, n)
                await asyncio.sleep(rng.uniform(1.5, 2.5))

        async def payments_loop() -> None:
            if razorpay is None:
                return
            gap = seconds / (len(tenants) + 1)
            for tenant in tenants:
                await asyncio.sleep(gap)
                await pay_twice(client, tally, tenant, razorpay, webhook_secret)

        tasks = [asyncio.create_task(visitors_loop(i)) for i in range(visitors)]
        tasks += [asyncio.create_task(owner_loop(t)) for t in tenants]
        tasks.append(asyncio.create_task(payments_loop()))
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    return tally

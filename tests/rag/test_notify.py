"""Owner webhooks: signed, retried with backoff, refused towards private addresses."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import socket
import threading
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from api.runtime import Runtime
from core.db import Database
from rag.chat import notify
from rag.chat.repository import deliveries as delivery_repo
from tests.conftest import Owner, RuntimeFactory, client_for, signup
from tests.fakes.dns import REBIND_HOST, RebindingResolver
from tests.fakes.receiver import receiver
from workspaces import repository as workspace_repo


async def _setup(db: Database, owner: Owner, url: str) -> tuple[uuid.UUID, str]:
    workspace_id = uuid.UUID(owner.workspace_id)
    secret = notify.new_webhook_secret()
    async with db.transaction(workspace_id=workspace_id) as session:
        workspace = await workspace_repo.update_workspace(
            session, workspace_id, {"webhook_url": url, "webhook_secret": secret}
        )
        assert workspace is not None
        delivery_id = await notify.enqueue(
            session, workspace, "conversation.handoff", {"conversation_id": "c1"}
        )
    assert delivery_id is not None
    return delivery_id, secret


async def _delivery(db: Database, owner: Owner, delivery_id: uuid.UUID) -> Any:
    async with db.transaction(workspace_id=owner.workspace_id) as session:
        rows = await delivery_repo.list_deliveries(
            session, workspace_id=uuid.UUID(owner.workspace_id), limit=50
        )
    return next(r for r in rows if r.id == delivery_id)


async def _no_sleep(seconds: float) -> None:
    return None


async def test_delivery_is_signed_and_retried_until_it_succeeds(db: Database, owner: Owner) -> None:
    with receiver([500, 503]) as hook:
        delivery_id, secret = await _setup(db, owner, hook.url())
        sleeps: list[float] = []

        async def record_sleep(seconds: float) -> None:
            sleeps.append(seconds)

        notifier = notify.Notifier(db, allow_private=True, sleep=record_sleep)
        await notifier.run(uuid.UUID(owner.workspace_id), delivery_id)
    assert len(hook.received) == 3
    assert sleeps == [2.0, 4.0]  # exponential backoff between attempts
    last = hook.received[-1]
    timestamp, mac = (
        part.split("=", 1)[1] for part in last.headers["x-trulybot-signature"].split(",")
    )
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + last.body, hashlib.sha256)
    assert hmac.compare_digest(mac, expected.hexdigest())
    assert json.loads(last.body)["event"] == "conversation.handoff"
    row = await _delivery(db, owner, delivery_id)
    assert row.status == "delivered"
    assert row.attempts == 3


async def test_delivery_gives_up_after_the_last_attempt(db: Database, owner: Owner) -> None:
    with receiver([500] * 10) as hook:
        delivery_id, _ = await _setup(db, owner, hook.url())
        await notify.Notifier(db, allow_private=True, sleep=_no_sleep).run(
            uuid.UUID(owner.workspace_id), delivery_id
        )
    assert len(hook.received) == notify.MAX_ATTEMPTS
    row = await _delivery(db, owner, delivery_id)
    assert row.status == "failed"
    assert row.last_status_code == 500


async def test_private_targets_are_refused_unless_allowed(db: Database, owner: Owner) -> None:
    with receiver() as hook:
        delivery_id, _ = await _setup(db, owner, hook.url())
        await notify.Notifier(db, allow_private=False, sleep=_no_sleep).run(
            uuid.UUID(owner.workspace_id), delivery_id
        )
    assert hook.received == []
    row = await _delivery(db, owner, delivery_id)
    assert row.status == "failed"
    assert "UrlNotAllowed" in (row.last_error or "")


async def test_handoff_reaches_the_owner_end_to_end(runtime_factory: RuntimeFactory) -> None:
    async with (
        runtime_factory(allow_private_urls=True) as runtime,
        client_for(runtime) as client,
    ):
        owner = await signup(client)
        await _handoff_reaches(client, owner, runtime)


async def _handoff_reaches(client: httpx.AsyncClient, owner: Owner, runtime: Runtime) -> None:
    with receiver() as hook:
        await client.patch(owner.url(""), json={"webhook_url": hook.url()}, headers=owner.headers)
        response = await client.post(
            "/api/v1/chat",
            json={"message": "I want to speak to a human", "session_id": "v-h"},
            headers={"X-Widget-Key": owner.workspace["public_key"]},
        )
        assert response.json()["source"] == "handoff"
        await runtime.notifier.drain()
    assert len(hook.received) == 1
    payload = json.loads(hook.received[0].body)
    assert payload["data"]["conversation_id"] == response.json()["conversation_id"]
    secret = (await client.get(owner.url("/webhook"), headers=owner.headers)).json()["secret"]
    assert secret.startswith("whsec_")
    timestamp, mac = (
        part.split("=", 1)[1]
        for part in hook.received[0].headers["x-trulybot-signature"].split(",")
    )
    body = hook.received[0].body
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    assert mac == expected.hexdigest()


async def test_delivery_connects_to_the_address_that_was_checked(
    db: Database, owner: Owner, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The name resolves to the checked receiver first and to an "internal" service on another
    # loopback address afterwards (DNS rebinding): the post must reach the checked one.
    with receiver() as checked, receiver(host="127.0.0.2", port=checked.port) as internal:
        resolver = RebindingResolver(["127.0.0.1", "127.0.0.2"])
        monkeypatch.setattr(socket, "getaddrinfo", resolver)
        delivery_id, _ = await _setup(db, owner, f"http://{REBIND_HOST}:{checked.port}/hook")
        await notify.Notifier(db, allow_private=True, sleep=_no_sleep).run(
            uuid.UUID(owner.workspace_id), delivery_id
        )
    assert internal.received == []
    assert len(checked.received) == 1
    assert resolver.asked == ["127.0.0.1"]
    assert checked.received[0].headers["host"] == f"{REBIND_HOST}:{checked.port}"
    assert (await _delivery(db, owner, delivery_id)).status == "delivered"


async def test_the_receivers_answer_body_is_never_read(db: Database, owner: Owner) -> None:
    # A receiver that announces a gigabyte and never sends it: only the status matters.
    done = threading.Event()

    class Endless(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Length", str(1 << 30))
            self.end_headers()
            self.wfile.write(b"x" * 1024)
            self.wfile.flush()
            done.wait(30)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Endless)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        delivery_id, _ = await _setup(db, owner, url)
        notifier = notify.Notifier(db, allow_private=True, sleep=_no_sleep)
        assert await notifier.attempt(uuid.UUID(owner.workspace_id), delivery_id)
    finally:
        done.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    row = await _delivery(db, owner, delivery_id)
    assert (row.status, row.attempts) == ("delivered", 1)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8142/hook",
        "http://2130706433/hook",  # 127.0.0.1 as one number
        "http://127.1/hook",
        "http://[::1]/hook",
        "http://[::ffff:10.0.0.1]/hook",
        "http://169.254.169.254/latest",
        "http://localhost:9000/hook",
        "http://api.localhost/hook",
        "ftp://hooks.example.com/x",
        "https://user:pw@hooks.example.com/x",
        # Hosts no request can reach: they were saved (200) and failed at every delivery.
        "https://exa mple.com/hook",
        "https://hooks.exa<mple.com/hook",
        "https://hooks..example.com/hook",
        "https://-hooks.example.com/hook",
        # A link-local address with its zone (read by no check: refused at delivery only), and
        # a host that is not valid IDNA (a 500).
        "http://[fe80::1%25eth0]/hook",
        "http://[fe80::1%25nosuchif7]/hook",
        "http://[fe80::a9fe:a9fe%251]:8080/hook",
        "https://xn--ls8h.la/hook",
    ],
)
async def test_a_webhook_url_that_can_never_be_delivered_to_is_refused_when_saved(
    client: httpx.AsyncClient, owner: Owner, url: str
) -> None:
    """It was accepted (200) and refused at every delivery, where the owner never saw why (a
    red-team note); names that resolve privately are still refused at delivery (above)."""
    response = await client.patch(owner.url(""), json={"webhook_url": url}, headers=owner.headers)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "url_not_allowed"
    assert response.json()["error"]["details"]["field"] == "webhook_url"
    webhook = await client.get(owner.url("/webhook"), headers=owner.headers)
    assert webhook.json()["url"] is None  # nothing stored


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/trulybot",
        "https://my_hooks.example.com.:8443/trulybot?x=1",  # an underscore, a final dot
        "https://bücher.example/hook",  # an internationalised name
        "https://[2606:4700:4700::1111]/hook",
    ],
)
async def test_a_public_webhook_url_is_saved(
    client: httpx.AsyncClient, owner: Owner, url: str
) -> None:
    response = await client.patch(owner.url(""), json={"webhook_url": url}, headers=owner.headers)
    assert response.status_code == 200, response.text
    assert (await client.get(owner.url("/webhook"), headers=owner.headers)).json()["url"] == url


def _signed_by(received: Any, secret: str) -> bool:
    timestamp, mac = (
        part.split("=", 1)[1] for part in received.headers["x-trulybot-signature"].split(",")
    )
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + received.body, hashlib.sha256)
    return hmac.compare_digest(mac, expected.hexdigest())


async def test_a_delivery_left_pending_is_sent_by_the_scheduled_retry(
    runtime_factory: RuntimeFactory,
) -> None:
    """The process that wrote the delivery tried once and stopped (its background task gone):
    the delivery stayed pending for good. The scheduled job ``webhook_retry`` sends it."""
    async with (
        runtime_factory(allow_private_urls=True) as runtime,
        client_for(runtime) as client,
    ):
        owner = await signup(client, f"Retry {uuid.uuid4().hex[:8]}")
        with receiver([500]) as hook:
            delivery_id, secret = await _setup(runtime.db, owner, hook.url())
            workspace_id = uuid.UUID(owner.workspace_id)
            assert not await runtime.notifier.attempt(workspace_id, delivery_id)  # 500
            [job] = [j for j in runtime.scheduler.jobs if j.name == "webhook_retry"]
            await job.run(datetime.now(UTC) + timedelta(hours=1))  # past the backoff
            await runtime.jobs.drain()  # the workspace's retry job
            await job.run(datetime.now(UTC) + timedelta(hours=2))  # nothing left to send
            await runtime.jobs.drain()
        assert len(hook.received) == 2
        assert all(_signed_by(r, secret) for r in hook.received)
        assert {r.headers["x-trulybot-delivery"] for r in hook.received} == {str(delivery_id)}
        row = await _delivery(runtime.db, owner, delivery_id)
        assert (row.status, row.attempts, row.last_status_code) == ("delivered", 2, 200)


async def test_the_retry_waits_out_the_backoff_and_gives_up_after_the_last_attempt(
    db: Database, owner: Owner
) -> None:
    workspace_id = uuid.UUID(owner.workspace_id)
    notifier = notify.Notifier(db, allow_private=True, sleep=_no_sleep)
    with receiver([500] * 10) as hook:
        delivery_id, _ = await _setup(db, owner, hook.url())
        assert not await notifier.attempt(workspace_id, delivery_id)
        assert await notifier.retry_due(workspace_id, datetime.now(UTC)) == 0  # backing off
        later = datetime.now(UTC)
        for _ in range(notify.MAX_ATTEMPTS):
            later += timedelta(hours=1)
            await notifier.retry_due(workspace_id, later)
    assert len(hook.received) == notify.MAX_ATTEMPTS
    row = await _delivery(db, owner, delivery_id)
    assert (row.status, row.attempts) == ("failed", notify.MAX_ATTEMPTS)


async def test_an_attempt_that_never_finished_is_retried_after_its_lease(
    db: Database, owner: Owner
) -> None:
    """A process died while it posted: the claimed delivery is left alone until the claim runs
    out, then the retry sends it (no other process posts it meanwhile)."""
    workspace_id = uuid.UUID(owner.workspace_id)
    notifier = notify.Notifier(db, allow_private=True, sleep=_no_sleep)
    with receiver() as hook:
        delivery_id, secret = await _setup(db, owner, hook.url())
        now = datetime.now(UTC)
        async with db.transaction(workspace_id=workspace_id) as session:
            claimed = await delivery_repo.claim_delivery(
                session,
                workspace_id=workspace_id,
                delivery_id=delivery_id,
                now=now,
                lease_until=now + timedelta(seconds=notify.CLAIM_SECONDS),
                max_attempts=notify.MAX_ATTEMPTS,
                held=None,
                url=hook.url(),
            )
        assert claimed is not None
        assert await notifier.retry_due(workspace_id, now) == 0
        assert await notifier.attempt(workspace_id, delivery_id)  # not its to try
        assert hook.received == []
        expired = now + timedelta(seconds=notify.CLAIM_SECONDS + 1)
        assert await notifier.retry_due(workspace_id, expired) == 1
    assert len(hook.received) == 1
    assert _signed_by(hook.received[0], secret)
    row = await _delivery(db, owner, delivery_id)
    assert (row.status, row.attempts) == ("delivered", 2)


async def test_closing_the_notifier_leaves_its_retries_to_the_scheduled_job(
    db: Database, owner: Owner
) -> None:
    """At shutdown the background retries waiting out a backoff are cancelled, not lost: the
    delivery stays pending and the retry job sends it."""
    workspace_id = uuid.UUID(owner.workspace_id)
    backing_off = asyncio.Event()

    async def sleep_for_good(seconds: float) -> None:
        backing_off.set()
        await asyncio.Event().wait()

    notifier = notify.Notifier(db, allow_private=True, sleep=sleep_for_good)
    with receiver([503]) as hook:
        delivery_id, _ = await _setup(db, owner, hook.url())
        notifier.schedule(workspace_id, delivery_id)
        await backing_off.wait()
        await notifier.close(grace_seconds=0)
        row = await _delivery(db, owner, delivery_id)
        assert (row.status, row.attempts) == ("pending", 1)
        later = datetime.now(UTC) + timedelta(hours=1)
        assert await notify.Notifier(db, allow_private=True).retry_due(workspace_id, later) == 1
    assert [r.headers["x-trulybot-delivery"] for r in hook.received] == [str(delivery_id)] * 2
    assert (await _delivery(db, owner, delivery_id)).status == "delivered"

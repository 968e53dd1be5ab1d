"""Where and how long a webhook delivery goes: the workspace's URL at each attempt (a changed URL
gets what was pending, a removed one cancels it), each post cut off at its timeout, and the
retry run in a job of its own, never inside the scheduler's tick."""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler

import pytest

from core.db import Database
from core.scheduler import Every, ScheduledJob, Scheduler
from rag.chat import notify
from tests.conftest import Owner, RuntimeFactory, client_for, signup
from tests.fakes.http_handler import serving
from tests.fakes.receiver import receiver
from tests.rag.test_notify import _delivery, _setup, _signed_by
from workspaces import repository as workspace_repo


async def _set_url(db: Database, owner: Owner, url: str | None) -> None:
    async with db.transaction(workspace_id=owner.workspace_id) as session:
        await workspace_repo.update_workspace(
            session, uuid.UUID(owner.workspace_id), {"webhook_url": url}
        )


async def test_a_pending_delivery_goes_to_the_url_the_owner_changed_it_to(
    db: Database, owner: Owner
) -> None:
    """The old address may have lapsed or changed hands: the retries of what was pending (a
    visitor's words) go to the new one, signed with the secret of the moment."""
    workspace_id = uuid.UUID(owner.workspace_id)
    notifier = notify.Notifier(db, allow_private=True)
    with receiver([500]) as old, receiver() as new:
        delivery_id, secret = await _setup(db, owner, old.url())
        assert not await notifier.attempt(workspace_id, delivery_id)  # 500 at the old URL
        await _set_url(db, owner, new.url("/moved?token=abc"))
        assert await notifier.retry_due(workspace_id, datetime.now(UTC) + timedelta(hours=1)) == 1
    assert len(old.received) == 1
    [moved] = new.received
    assert moved.path == "/moved?token=abc"
    assert _signed_by(moved, secret)
    assert moved.headers["x-trulybot-delivery"] == str(delivery_id)
    row = await _delivery(db, owner, delivery_id)
    assert (row.status, row.attempts, row.url) == ("delivered", 2, new.url("/moved?token=abc"))


async def test_the_background_retries_stop_when_the_owner_removes_the_url(
    db: Database, owner: Owner
) -> None:
    workspace_id = uuid.UUID(owner.workspace_id)
    with receiver([500] * 10) as old:
        delivery_id, _ = await _setup(db, owner, old.url())

        async def remove_while_backing_off(seconds: float) -> None:
            await _set_url(db, owner, None)

        notifier = notify.Notifier(db, allow_private=True, sleep=remove_while_backing_off)
        await notifier.run(workspace_id, delivery_id)
    assert len(old.received) == 1
    row = await _delivery(db, owner, delivery_id)
    assert (row.status, row.attempts) == ("cancelled", 1)
    assert row.last_error == notify.NO_URL


async def test_the_retry_job_cancels_what_was_pending_when_the_url_was_removed(
    db: Database, owner: Owner
) -> None:
    workspace_id = uuid.UUID(owner.workspace_id)
    notifier = notify.Notifier(db, allow_private=True)
    with receiver([503]) as old:
        delivery_id, _ = await _setup(db, owner, old.url())
        assert not await notifier.attempt(workspace_id, delivery_id)
        await _set_url(db, owner, None)
        later = datetime.now(UTC) + timedelta(hours=1)
        await notifier.retry_due(workspace_id, later)
        # A URL set again later gets nothing of it: it was cancelled, not left pending.
        await _set_url(db, owner, old.url())
        assert await notifier.retry_due(workspace_id, later + timedelta(hours=1)) == 0
    assert len(old.received) == 1
    assert (await _delivery(db, owner, delivery_id)).status == "cancelled"


@contextmanager
def trickling_server(seconds: float) -> Iterator[str]:
    """A receiver that answers its status line at once, then one header byte every 0.2 s for
    ``seconds``, then a complete 200: each read arrives well within any read timeout."""
    stop = threading.Event()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(30)

    def serve() -> None:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(30)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            try:
                conn.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
                for _ in range(int(seconds / 0.2)):
                    if stop.wait(0.2):
                        return
                    conn.sendall(b"a")
                conn.sendall(b"\r\nContent-Length: 0\r\n\r\n")
            except OSError:
                return

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/hook"
    finally:
        stop.set()
        listener.close()
        thread.join(timeout=10)


async def test_a_receiver_that_trickles_its_answer_is_cut_off_at_the_timeout(
    db: Database, owner: Owner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """httpx's timeout bounds each read: a byte every 0.2 s kept an attempt open as long as the
    receiver liked (and the retry job's whole run with it). The attempt as a whole is bounded."""
    monkeypatch.setattr(notify, "TIMEOUT_SECONDS", 0.5)
    workspace_id = uuid.UUID(owner.workspace_id)
    with trickling_server(4.0) as url:
        delivery_id, _ = await _setup(db, owner, url)
        await notify.Notifier(db, allow_private=True).retry_due(workspace_id, datetime.now(UTC))
    row = await _delivery(db, owner, delivery_id)
    assert (row.status, row.attempts, row.last_status_code) == ("pending", 1, None)
    assert (row.last_error or "").startswith("TimeoutError")


@dataclass
class Held:
    url: str
    answered: list[int] = field(default_factory=list)


@contextmanager
def held_receiver(release: threading.Event) -> Iterator[Held]:
    """Answers 200 only once ``release`` is set (at most 30 s)."""
    state = Held(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            release.wait(30)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
            state.answered.append(200)

        def log_message(self, format: str, *args: object) -> None:
            return

    with serving(Handler) as base:
        state.url = f"{base}/hook"
        try:
            yield state
        finally:
            release.set()  # before the server stops: no handler left waiting


async def test_a_slow_receiver_does_not_hold_up_the_schedulers_other_jobs(
    runtime_factory: RuntimeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``webhook_retry`` posted inline, one delivery after another, inside the tick: every
    periodic job after it waited for the receiver. This receiver answers only once the next job
    of the tick has run: posted inline, the attempt timed out first; in a job of its own, it is
    delivered."""
    monkeypatch.setattr(notify, "TIMEOUT_SECONDS", 10.0)
    release = threading.Event()
    async with (
        runtime_factory(allow_private_urls=True) as runtime,
        client_for(runtime) as client,
    ):
        owner = await signup(client, f"Slow {uuid.uuid4().hex[:8]}")
        with held_receiver(release) as held:
            delivery_id, _ = await _setup(runtime.db, owner, held.url)

            async def next_job(now: datetime) -> None:
                release.set()

            [retry] = [j for j in runtime.scheduler.jobs if j.name == "webhook_retry"]
            tag = uuid.uuid4().hex[:8]
            scheduler = Scheduler(
                runtime.db,
                [
                    ScheduledJob(f"test_retry_{tag}", Every(timedelta(minutes=1)), retry.run),
                    ScheduledJob(f"test_next_{tag}", Every(timedelta(minutes=1)), next_job),
                ],
            )
            assert len(await scheduler.tick(datetime.now(UTC))) == 2
            await runtime.jobs.drain()
        row = await _delivery(runtime.db, owner, delivery_id)
        assert (row.status, row.last_status_code) == ("delivered", 200), row.last_error
        assert held.answered == [200]


async def test_the_retry_lists_only_the_workspaces_with_a_due_delivery(
    runtime_factory: RuntimeFactory,
) -> None:
    """One indexed query across workspaces (the ``webhook_deliveries:due`` lookup) instead of a
    transaction per live workspace each minute."""
    async with (
        runtime_factory(allow_private_urls=True) as runtime,
        client_for(runtime) as client,
    ):
        due = await signup(client, f"Due {uuid.uuid4().hex[:8]}")
        backing_off = await signup(client, f"Backoff {uuid.uuid4().hex[:8]}")
        idle = await signup(client, f"Idle {uuid.uuid4().hex[:8]}")
        notifier = notify.Notifier(runtime.db, allow_private=True)
        with receiver([500]) as hook:
            await _setup(runtime.db, due, hook.url())
            backing_id, _ = await _setup(runtime.db, backing_off, hook.url())
            assert not await notifier.attempt(uuid.UUID(backing_off.workspace_id), backing_id)
            await _set_url(runtime.db, idle, hook.url())
        listed = await notifier.workspaces_with_due(datetime.now(UTC))
        assert uuid.UUID(due.workspace_id) in listed
        assert uuid.UUID(backing_off.workspace_id) not in listed
        assert uuid.UUID(idle.workspace_id) not in listed
        later = await notifier.workspaces_with_due(datetime.now(UTC) + timedelta(hours=1))
        assert uuid.UUID(backing_off.workspace_id) in later

""" "Sync now" while the queue (Redis) is unreachable: the request leases the source and answers
202, then its job cannot be enqueued. The lease is given back, so the source does not answer
409 ``sync_in_progress`` for SOURCE_SYNC_LEASE_SECONDS (30 minutes) with nothing running, and
the sync runs once asked again with the queue back (scale-out review F2, its sync-now part)."""

from __future__ import annotations

import socket
import uuid

import pytest

from core.jobs import ArqQueue
from rag.knowledge import requeue
from tests.conftest import RuntimeFactory, client_for, signup
from tests.rag.test_sources import Page, article, local_site


class UnreachableQueue(ArqQueue):
    """The API's queue as serve builds it (``ArqQueue.lazy``), its Redis refusing connections;
    nothing to drain when the test's runtime ends."""

    @classmethod
    def closed(cls) -> ArqQueue:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        return cls.lazy(f"redis://127.0.0.1:{port}/0")

    async def drain(self) -> None:
        return None


async def test_sync_now_with_the_queue_down_leaves_the_source_free_to_sync(
    runtime_factory: RuntimeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(requeue, "ENQUEUE_DELAYS", (0.0, 0.0))
    page = f"/page-{uuid.uuid4().hex[:8]}"
    with local_site() as site:
        site.pages[page] = Page(article("s", ["opening hours nine to five"]))
        async with (
            runtime_factory(allow_private_urls=True) as runtime,
            client_for(runtime) as client,
        ):
            owner = await signup(client)
            added = await client.post(
                owner.url("/documents"), json={"url": site.url(page)}, headers=owner.headers
            )
            assert added.status_code == 202, added.text
            await runtime.jobs.drain()
            [source] = (await client.get(owner.url("/sources"), headers=owner.headers)).json()[
                "items"
            ]
            sync_url = owner.url(f"/sources/{source['id']}/sync")

        down = UnreachableQueue.closed()
        try:
            async with (
                runtime_factory(allow_private_urls=True, jobs=down) as runtime,
                client_for(runtime) as client,
            ):
                first = await client.post(sync_url, headers=owner.headers)
                assert first.status_code == 202, first.text
                got = await client.get(owner.url(f"/sources/{source['id']}"), headers=owner.headers)
                assert got.json()["syncing"] is False  # its lease given back
                again = await client.post(sync_url, headers=owner.headers)
                assert again.status_code == 202, again.text  # not 409 sync_in_progress
        finally:
            await down.close()

        # The queue is back: "Sync now" runs a sync.
        async with (
            runtime_factory(allow_private_urls=True) as runtime,
            client_for(runtime) as client,
        ):
            ran = await client.post(sync_url, headers=owner.headers)
            assert ran.status_code == 202, ran.text
            await runtime.jobs.drain()
            syncs = await client.get(
                owner.url(f"/sources/{source['id']}/syncs"), headers=owner.headers
            )
            assert [s["trigger"] for s in syncs.json()["items"]] == ["manual"]
            assert syncs.json()["items"][0]["status"] == "ok"

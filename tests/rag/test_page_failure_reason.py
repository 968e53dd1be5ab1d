"""What a web page's failure reason says answers from it, against the local site of
tests/rag/test_sources.py: its last good version keeps answering until a fetch of the page is
ingested. Before, it said "until the page changes or is retried": the page changed again (to a
version that failed too) and the last good version went on answering."""

from __future__ import annotations

from dataclasses import replace

import pytest
from redis.asyncio import Redis

from core.db import Database
from tests.rag.test_sources import Page, article, local_site, world
from workspaces.plans import PLANS


async def test_a_failed_page_keeps_answering_until_a_fetch_of_it_is_ingested(
    db: Database, owner_db: Database, redis_client: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    sections = [f"alpha{i} bravo{i} charlie{i} delta{i}" for i in range(3)]
    with local_site() as site:
        site.pages["/guide"] = Page(article("g", sections))
        async with world(db, owner_db, redis_client) as w:
            source = await w.add_url(site.url("/guide"))
            ready = (await w.documents())[site.url("/guide")]
            assert ready["status"] == "ready", ready
            free = PLANS["free"]  # full: a page that grows is refused (quota_exceeded)
            limits = {**free.limits, "chunks": ready["chunk_count"]}
            monkeypatch.setitem(PLANS, "free", replace(free, limits=limits))
            reasons = []
            for extra in ("echo5 foxtrot5 golf5 hotel5", "india6 juliet6 kilo6 lima6"):
                site.pages["/guide"] = Page(article("g", [*sections, extra]))
                record = await w.sync_now(source["id"])
                assert record["pages_changed"] == 1, record
                doc = (await w.documents())[site.url("/guide")]
                assert (doc["status"], doc["error_code"]) == ("failed", "quota_exceeded")
                # The page changed and its last good version still answers.
                assert (doc["chunk_count"], doc["ingested_at"]) == (
                    ready["chunk_count"],
                    ready["ingested_at"],
                )
                reasons.append(doc["error"])
    for reason in reasons:
        assert "until the page changes" not in reason, reason
        assert "keeps answering until a fetch of the page is ingested" in reason, reason

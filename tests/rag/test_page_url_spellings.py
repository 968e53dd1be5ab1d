"""One page, however a sitemap or an owner spells its URL: the fragment (``#top``) is never
sent to the site, so ``/guide`` and ``/guide#pricing`` are the very same bytes. Each spelling
was its own document: fetched, embedded and counted against the documents quota once per
spelling, the same passages twice in the answers, and a page its owner deleted came back under
another fragment. And one page posted by hand and listed by a sitemap too was two documents
(kinds ``url`` and ``sitemap``), its passages answered twice."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import text

from core.db import Database
from rag.knowledge.addresses import page_url
from tests.rag.test_sources import Hold, Page, Site, World, article, local_site, world


async def post(w: World, body: dict[str, str], *, drain: bool = True, prefer: str = "") -> None:
    """POST .../documents: 202, then its jobs run (``drain``)."""
    headers = {**w.owner.headers, **({"Prefer": prefer} if prefer else {})}
    r = await w.client.post(w.owner.url("/documents"), json=body, headers=headers)
    assert r.status_code == 202, r.text
    if drain:
        await w.runtime.jobs.drain()


OLD_SOURCE = "UPDATE sources SET url = :old WHERE workspace_id = :ws"
OLD_DOCUMENT = "UPDATE documents SET source = :old WHERE workspace_id = :ws"


async def stored_before(w: World, *statements: str, old: str) -> None:
    """The workspace's rows as stored before this release: ``statements`` set ``:old``."""
    async with w.owner_db.transaction() as session:
        for statement in statements:
            await session.execute(text(statement), {"old": old, "ws": w.owner.workspace_id})


async def one_page(w: World, url: str) -> None:
    """The workspace holds ``url`` alone: one document, one page source."""
    assert list(await w.documents()) == [url]
    assert [s["url"] for s in await w.sources()] == [url]


async def posted_while_a_round_fetches(
    w: World, site: Site, answer: Page
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A sitemap of ``/guide`` and ``/other`` is added, then synced again while ``/guide``
    answers ``answer``: the owner posts ``/guide`` by hand as the round waits on that answer.
    The document as the post left it and the round's sync record (jobs drained)."""
    site.pages["/guide"] = Page(article("g", ["refunds take five working days"]))
    site.pages["/other"] = Page(article("o", ["shipping is free over fifty"]))
    site.sitemap(["/guide", "/other"])
    await w.add_sitemap(site.url("/sitemap.xml"))
    [sitemap] = await w.sources()
    answer.hold = hold = Hold()
    site.pages["/guide"] = answer
    syncing = asyncio.create_task(w.sync_now(sitemap["id"]))
    await hold.wait_arrival()  # the round fetches the stored page
    await post(w, {"url": site.url("/guide")}, drain=False)
    posted = (await w.documents())[site.url("/guide")]
    hold.gate.set()
    record = await syncing
    await w.runtime.jobs.drain()
    return posted, record


async def test_a_sitemap_listing_one_page_under_several_fragments_stores_it_once(
    db: Database, owner_db: Database, redis_client: Redis
) -> None:
    with local_site() as site:
        site.pages["/guide"] = Page(article("g", ["refunds take five working days"]))
        site.pages["/other"] = Page(article("o", ["shipping is free over fifty"]))
        site.sitemap(["/guide", "/guide#pricing", "/other#top", "/other#faq"])
        async with world(db, owner_db, redis_client) as w:
            await w.add_sitemap(site.url("/sitemap.xml"))
            assert sorted(await w.documents()) == [site.url("/guide"), site.url("/other")]
            [source] = await w.sources()
            site.reset()
            record = await w.sync_now(source["id"])
            assert record["status"] == "ok", record
            assert (record["pages_checked"], record["pages_added"]) == (2, 0)
            assert len(site.hits("/guide")) == 1
            assert sorted(await w.documents()) == [site.url("/guide"), site.url("/other")]


async def test_a_page_posted_with_a_fragment_is_the_page_without_it(
    db: Database, owner_db: Database, redis_client: Redis
) -> None:
    with local_site() as site:
        site.pages["/guide"] = Page(article("g", ["refunds take five working days"]))
        async with world(db, owner_db, redis_client) as w:
            for url in (site.url("/guide#pricing"), site.url("/guide")):
                r = await w.client.post(
                    w.owner.url("/documents"), json={"url": url}, headers=w.owner.headers
                )
                assert r.status_code == 202, r.text
                await w.runtime.jobs.drain()
            await one_page(w, site.url("/guide"))


@pytest.mark.parametrize("by_hand_first", [True, False], ids=["page_first", "sitemap_first"])
async def test_a_page_added_by_hand_and_listed_by_a_sitemap_is_one_document_of_its_page_source(
    db: Database, owner_db: Database, redis_client: Redis, by_hand_first: bool
) -> None:
    """Posted by hand, then listed by a sitemap: the sitemap leaves it to its page source.
    Stored by a sitemap, then posted by hand: it becomes the page source's document."""
    with local_site() as site:
        site.pages["/guide"] = Page(article("g", ["refunds take five working days"]))
        site.pages["/other"] = Page(article("o", ["shipping is free over fifty"]))
        site.sitemap(["/guide", "/other"])
        async with world(db, owner_db, redis_client) as w:
            if by_hand_first:
                await w.add_url(site.url("/guide"))
                await w.add_sitemap(site.url("/sitemap.xml"))
            else:
                await w.add_sitemap(site.url("/sitemap.xml"))
                await w.add_url(site.url("/guide"))
            docs = await w.documents()  # (asserts no URL twice)
            assert sorted(docs) == [site.url("/guide"), site.url("/other")]
            guide = docs[site.url("/guide")]
            assert (guide["source_type"], guide["status"]) == ("url", "ready")
            sitemap = next(s for s in await w.sources() if s["kind"] == "sitemap")
            site.reset()
            record = await w.sync_now(sitemap["id"])
            assert (record["status"], record["pages_checked"], record["pages_added"]) == (
                "ok",
                1,
                0,
            )
            assert site.hits("/guide") == []  # its page source keeps it fresh
            assert len(await w.documents()) == 2

            # The page deleted by hand: the sitemap that lists it takes it from then on.
            r = await w.client.delete(
                w.owner.url(f"/documents/{guide['id']}"), headers=w.owner.headers
            )
            assert r.status_code == 204, r.text
            record = await w.sync_now(sitemap["id"])
            assert record["pages_added"] == 1
            docs = await w.documents()
            assert docs[site.url("/guide")]["source_type"] == "sitemap"


async def test_a_sitemap_spelling_a_scheme_or_host_in_capitals_or_no_root_slash_lists_one_page(
    db: Database, owner_db: Database, redis_client: Redis
) -> None:
    with local_site() as site:
        site.pages["/"] = Page(article("h", ["we ship to forty countries"]))
        site.pages["/guide"] = Page(article("g", ["refunds take five working days"]))
        base = site.url("")
        shouted = base.replace("http://", "HTTP://")
        entries = [base, base + "/", base + "/guide", shouted + "/guide", shouted]
        listing = "\n".join(entries).encode()
        site.pages["/sitemap.txt"] = Page(listing, "text/plain", etag=False)
        async with world(db, owner_db, redis_client) as w:
            await w.add_sitemap(site.url("/sitemap.txt"))
            assert sorted(await w.documents()) == [base + "/", base + "/guide"]


def test_a_page_url_is_its_scheme_and_host_in_lower_case_without_the_default_port() -> None:
    assert page_url("HTTPS://Shop.Example.COM:443/Guide?B=1#top") == (
        "https://shop.example.com/Guide?B=1"
    )
    assert page_url("http://Example.com:80") == "http://example.com/"
    assert page_url("http://example.com:8080?a=1") == "http://example.com:8080/?a=1"
    assert page_url("https://[2001:DB8::1]:443/a") == "https://[2001:db8::1]/a"
    assert page_url("https://example.com/a/") == "https://example.com/a/"  # a different page
    assert page_url("https://User@Example.com/a") == "https://User@Example.com/a"  # refused later


async def test_a_page_deleted_under_an_older_spelling_stays_deleted(
    db: Database, owner_db: Database, redis_client: Redis
) -> None:
    """A page deleted before the URLs were spelled one way is in ``excluded_urls`` as the
    sitemap spells it (``HTTP://...``): the page listed, now ``http://...``, is that page."""
    with local_site() as site:
        site.pages["/a"] = Page(article("a", ["topic a words"]))
        site.pages["/b"] = Page(article("b", ["topic b words"]))
        site.sitemap(["/a"])
        async with world(db, owner_db, redis_client) as w:
            await w.add_sitemap(site.url("/sitemap.xml"))
            [source] = await w.sources()
            old = site.url("/b").replace("http://", "HTTP://")
            async with owner_db.transaction() as session:
                await session.execute(
                    text("UPDATE sources SET excluded_urls = ARRAY[:old] WHERE id = :id"),
                    {"old": old, "id": source["id"]},
                )
            listing = f"{site.url('/a')}\n{old}\n".encode()  # still spelled so
            site.pages["/sitemap.xml"] = Page(listing, "text/plain", etag=False)
            record = await w.sync_now(source["id"])
            assert (record["status"], record["pages_added"]) == ("ok", 0), record
            assert sorted(await w.documents()) == [site.url("/a")]


async def test_a_page_stored_by_hand_and_for_a_sitemap_before_can_be_posted_again(
    db: Database, owner_db: Database, redis_client: Redis
) -> None:
    """Stored twice before this release (kinds ``url`` and ``sitemap``, a copy the sitemap
    keeps): posting the page again refreshes the page source's document (the sitemap's copy
    turned ``url`` broke the unique key: 500)."""
    with local_site() as site:
        site.pages["/guide"] = Page(article("g", ["refunds take five working days"]))
        site.sitemap(["/guide"])
        async with world(db, owner_db, redis_client) as w:
            await w.add_sitemap(site.url("/sitemap.xml"))
            async with owner_db.transaction() as session:  # the page posted by hand before
                await session.execute(
                    text(
                        "INSERT INTO documents (id, workspace_id, title, source_type, source,"
                        " status, progress, chunk_count, revision, counted, missing_syncs)"
                        " SELECT gen_random_uuid(), workspace_id, title, 'url', source, 'ready',"
                        " 1, 0, 1, counted, 0 FROM documents"
                        " WHERE workspace_id = :ws AND source = :url"
                    ),
                    {"ws": w.owner.workspace_id, "url": site.url("/guide")},
                )
            await post(w, {"url": site.url("/guide")})
            async with owner_db.transaction() as session:
                kinds = await session.execute(
                    text(
                        "SELECT source_type FROM documents WHERE workspace_id = :ws"
                        " AND source = :url ORDER BY 1"
                    ),
                    {"ws": w.owner.workspace_id, "url": site.url("/guide")},
                )
                assert [k for (k,) in kinds] == ["sitemap", "url"]  # the copy kept, as it was


async def test_a_page_posted_by_hand_while_a_sync_adds_it_for_its_sitemap_is_stored_once(
    db: Database, owner_db: Database, redis_client: Redis
) -> None:
    """The sync chose the page as new (no ``url`` document yet), the owner posted it while the
    sync fetched it: the sync stored a ``sitemap`` copy beside the page source's document."""
    with local_site() as site:
        site.pages["/other"] = Page(article("o", ["shipping is free over fifty"]))
        site.sitemap(["/other"])
        async with world(db, owner_db, redis_client) as w:
            await w.add_sitemap(site.url("/sitemap.xml"))
            [source] = await w.sources()
            hold = Hold()
            site.pages["/guide"] = Page(article("g", ["refunds take five working days"]))
            site.pages["/guide"].hold = hold
            site.sitemap(["/guide", "/other"])
            syncing = asyncio.create_task(w.sync_now(source["id"]))
            await hold.wait_arrival()  # the sync fetches the page it is about to add
            await post(w, {"url": site.url("/guide")}, drain=False)
            hold.gate.set()
            await syncing
            await w.runtime.jobs.drain()
            docs = await w.documents()  # (asserts no URL twice)
            assert docs[site.url("/guide")]["source_type"] == "url"


async def test_a_sitemap_round_does_not_count_missing_a_page_posted_by_hand_while_it_fetched(
    db: Database, owner_db: Database, redis_client: Redis
) -> None:
    """The round fetched its stored page (a 404), the owner posted the page by hand meanwhile
    (it became the page source's): the round still counted it missing on the document it no
    longer kept, so the page source removed it after a single 404 of its own, not two."""
    with local_site() as site:
        async with world(db, owner_db, redis_client) as w:
            await posted_while_a_round_fetches(w, site, Page(b"gone", status=404))
            assert (await w.documents())[site.url("/guide")]["source_type"] == "url"
            [page] = [s for s in await w.sources() if s["kind"] == "page"]
            await w.sync_now(page["id"])  # the page source's first 404: kept
            assert site.url("/guide") in await w.documents()
            [page] = [s for s in await w.sources() if s["kind"] == "page"]
            assert page["consecutive_missing"] == 1


async def test_a_sitemap_round_leaves_a_changed_page_posted_by_hand_while_it_fetched_alone(
    db: Database, owner_db: Database, redis_client: Redis
) -> None:
    """The round fetched its stored page (changed), the owner posted the page by hand meanwhile
    (it became the page source's): the round still wrote the page's bytes and a revision of
    its own onto the document it no longer kept and queued its ingestion a second time."""
    with local_site() as site:
        async with world(db, owner_db, redis_client) as w:
            changed = Page(article("g", ["refunds take ten days"]))
            posted, record = await posted_while_a_round_fetches(w, site, changed)
            guide = (await w.documents())[site.url("/guide")]
            assert guide["source_type"] == "url"
            assert guide["revision"] == posted["revision"]  # no second ingestion of the round
            assert record["pages_changed"] == 0
            assert record["pages_unchanged"] == 2


async def test_a_page_posted_again_as_it_was_posted_before_urls_were_spelled_one_way_is_one_page(
    db: Database, owner_db: Database, redis_client: Redis
) -> None:
    """Posted before as ``/guide#pricing`` (stored so, document and page source; the API
    spells the rest of a posted URL one way already): posting the very same URL again
    refreshed that page; it became a second document and a second page source (the page
    fetched, counted and answered twice). Now the page takes the new spelling."""
    with local_site() as site:
        site.pages["/guide"] = Page(article("g", ["refunds take five working days"]))
        old = site.url("/guide#pricing")
        async with world(db, owner_db, redis_client) as w:
            await w.add_url(site.url("/guide"))
            await stored_before(
                w,
                OLD_DOCUMENT,
                OLD_SOURCE,
                old=old,
            )
            await post(w, {"url": old})
            await one_page(w, site.url("/guide"))


@pytest.mark.parametrize("background", [False, True], ids=["read_now", "queued"])
async def test_a_sitemap_posted_again_as_it_was_posted_before_urls_were_spelled_one_way_is_one(
    db: Database, owner_db: Database, redis_client: Redis, background: bool
) -> None:
    """Its source stored as ``/sitemap.xml#v1`` before: posted so again, it became a second
    sitemap source beside the first (its file read twice a round, listed twice to its owner)."""
    with local_site() as site:
        site.pages["/guide"] = Page(article("g", ["refunds take five working days"]))
        site.sitemap(["/guide"])
        old = site.url("/sitemap.xml#v1")
        async with world(db, owner_db, redis_client) as w:
            await w.add_sitemap(site.url("/sitemap.xml"))
            await stored_before(w, OLD_SOURCE, old=old)
            await post(w, {"sitemap_url": old}, prefer="respond-async" if background else "")
            assert [s["url"] for s in await w.sources()] == [site.url("/sitemap.xml")]
            assert list(await w.documents()) == [site.url("/guide")]


async def test_a_page_a_sitemap_stored_under_an_older_spelling_takes_the_new_one_in_place(
    db: Database, owner_db: Database, redis_client: Redis
) -> None:
    """Stored as the sitemap spelled it before (``HTTP://...``): counted missing and added
    again, the page was fetched and embedded again, both copies answered for a round, and at a
    full documents quota it was refused, the page gone a round once the old copy went. Now
    its document takes the new spelling: fetched conditionally, nothing added or embedded."""
    with local_site() as site:
        site.pages["/guide"] = Page(article("g", ["refunds take five working days"]))
        site.sitemap(["/guide"])
        old = site.url("/guide").replace("http://", "HTTP://")
        async with world(db, owner_db, redis_client) as w:
            await w.add_sitemap(site.url("/sitemap.xml"))
            await stored_before(w, OLD_DOCUMENT, old=old)
            [source] = await w.sources()
            embedded = len(w.embedder.embedded)
            record = await w.sync_now(source["id"])
            assert (record["status"], record["pages_added"]) == ("ok", 0), record
            assert list(await w.documents()) == [site.url("/guide")]
            assert len(w.embedder.embedded) == embedded

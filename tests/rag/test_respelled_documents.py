"""A web page's document stored under an older spelling of its URL (``HTTP://Example.com``,
``/guide#top``) takes ``page_url``'s: one rule (``documents.respell``) for a page posted again
by hand (``web_submissions.respell``) and a page its sitemap lists again
(``sync_pages.respell_pages``). The first wrote it with the ORM (``updated_at`` left as it
was), the second with ``update_document`` (``updated_at`` now). A respelling changes what the
owner's documents list shows (its address, often its title), so it is a write like any other:
``updated_at`` moves. On the real database, as the app's role."""

from __future__ import annotations

import uuid

import pytest
from redis.asyncio import Redis
from sqlalchemy import text

from core.db import Database
from rag.knowledge import sync_pages, web_submissions
from rag.knowledge.repository import documents as document_repo
from rag.knowledge.repository import sources as source_repo
from tests.rag.test_sources import LONG_AGO, Page, World, article, local_site, world


async def stored_as(w: World, url: str, *, source: str, title: str) -> None:
    """The document of ``url`` as stored before: ``source`` and ``title``, last written long
    ago."""
    async with w.owner_db.transaction() as session:
        await session.execute(
            text(
                "UPDATE documents SET source = :source, title = :title, updated_at = :then"
                " WHERE workspace_id = :ws AND source = :url"
            ),
            {
                "source": source,
                "title": title,
                "then": LONG_AGO,
                "ws": w.owner.workspace_id,
                "url": url,
            },
        )


async def respell(w: World, old: str, url: str) -> bool:
    """``documents.respell`` of the page stored as ``old``, in a transaction of the app."""
    ws = uuid.UUID(w.owner.workspace_id)
    async with w.runtime.db.transaction(workspace_id=ws) as session:
        document = await document_repo.find_by_source(session, ws, "url", old)
        assert document is not None
        return await document_repo.respell(session, document, url)


async def posted_again(w: World, old: str, url: str) -> None:
    """The page posted again as ``old`` (``submit_url``'s first step)."""
    ws = uuid.UUID(w.owner.workspace_id)
    async with w.runtime.db.transaction(workspace_id=ws) as session:
        await web_submissions.respell(session, ws, "page", old, url)


async def listed_again(w: World, old: str, url: str) -> None:
    """The page listed again by its sitemap as ``url`` (a sync round's first step)."""
    ws = uuid.UUID(w.owner.workspace_id)
    [source] = [s for s in await w.sources() if s["kind"] == "sitemap"]
    async with w.runtime.db.transaction(workspace_id=ws) as session:
        kept = await source_repo.get_source(session, ws, uuid.UUID(source["id"]))
        assert kept is not None
        await sync_pages.respell_pages(session, kept, [url])


@pytest.mark.parametrize("by", ["posted_again", "listed_again"])
@pytest.mark.parametrize("named", [False, True], ids=["titled_by_address", "titled_by_owner"])
async def test_a_respelled_page_shows_its_new_address_and_is_updated_now(
    db: Database, owner_db: Database, redis_client: Redis, by: str, named: bool
) -> None:
    """Posted again by hand, the page's document kept ``updated_at`` from before the
    respelling (listed again by its sitemap, it moved): the owner saw a row whose address and
    title had just changed dated as if untouched. A title that is not the old address stays."""
    with local_site() as site:
        site.pages["/guide"] = Page(article("g", ["refunds take five working days"]))
        site.sitemap(["/guide"])
        url = site.url("/guide")
        old = url.replace("http://", "HTTP://")
        async with world(db, owner_db, redis_client) as w:
            if by == "posted_again":
                await w.add_url(url)
            else:
                await w.add_sitemap(site.url("/sitemap.xml"))
            title = "Refund guide" if named else old
            await stored_as(w, url, source=old, title=title)
            assert (await w.documents())[old]["updated_at"].startswith("2000-01-01")

            await (posted_again if by == "posted_again" else listed_again)(w, old, url)
            [document] = (await w.documents()).values()
            assert document["source"] == url
            assert document["title"] == ("Refund guide" if named else url)
            assert not document["updated_at"].startswith("2000-01-01"), document


async def test_a_page_whose_new_spelling_is_stored_already_is_left_as_it_was(
    db: Database, owner_db: Database, redis_client: Redis
) -> None:
    """Stored under both spellings: the old copy is not moved (the unique key), not written."""
    with local_site() as site:
        site.pages["/guide"] = Page(article("g", ["refunds take five working days"]))
        site.pages["/other"] = Page(article("o", ["shipping is free over fifty"]))
        url = site.url("/guide")
        old = url.replace("http://", "HTTP://")
        async with world(db, owner_db, redis_client) as w:
            await w.add_url(url)
            await w.add_url(site.url("/other"))
            await stored_as(w, site.url("/other"), source=old, title=old)

            assert await respell(w, old, url) is False
            documents = await w.documents()
            assert sorted(documents) == sorted([old, url])
            assert documents[old]["title"] == old
            assert documents[old]["updated_at"].startswith("2000-01-01")

"""A URL whose host is not valid IDNA (``http://xn--/``, ``http://xn--ls8h.la/``: an A-label
that decodes to nothing, or to a character IDNA does not allow) is 422 ``url_not_allowed``, as
any host no request can reach.

Reading such a host raised ``idna``'s error, no ``AppError``: posting the page answered 500, a
webhook URL saved so 500, and a sitemap listing one page on such a host answered 500 to its
poster (its robots.txt read raised out of the listing's reads) and failed every sync. So did a
listed URL whose ``[`` is never closed (``ValueError`` naming its site for robots.txt)."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from core.db import Database
from rag.knowledge import robots
from rag.knowledge.addresses import UrlNotAllowed, check_url_addresses, refuse_at_sight
from tests.fakes.http_handler import serving
from tests.rag.test_fetch_bad_redirects import Redirecting
from tests.rag.test_sources import _post_sitemap, world

INVALID = ["http://xn--/", "http://xn--ls8h.la/a", "https://xn--zz-xxxxxxxxx.com/"]


@pytest.mark.parametrize("url", [*INVALID, "https://[::ffff:1.2.3.4%25x]\u00e9a[v1.x]/"])
async def test_the_checks_refuse_such_a_host(url: str) -> None:
    """(The last: a host httpx reads as not ASCII, whose ASCII form raised
    ``UnicodeEncodeError``.)"""
    for allow_private in (False, True):
        with pytest.raises(UrlNotAllowed):
            await check_url_addresses(url, allow_private=allow_private)
        with pytest.raises(UrlNotAllowed):
            refuse_at_sight(url, allow_private=allow_private, field="url")


async def test_posting_such_a_page_is_url_not_allowed(
    db: Database, owner_db: Database, redis_client: Redis
) -> None:
    async with world(db, owner_db, redis_client) as w:
        for url in INVALID:
            r = await w.client.post(
                w.owner.url("/documents"), json={"url": url}, headers=w.owner.headers
            )
            assert r.status_code == 422, r.text
            # (pydantic refuses some first: 422 validation_error)
            assert r.json()["error"]["code"] in ("url_not_allowed", "validation_error"), r.text


@pytest.mark.parametrize("listed", [INVALID[1], "http://[::1/unclosed", "https://[v1.x/a"])
async def test_a_sitemap_listing_a_page_on_such_a_host_adds_the_others(
    listed: str, db: Database, owner_db: Database, redis_client: Redis
) -> None:
    """(And a host whose ``[`` is never closed: naming its site for robots.txt raised
    ``ValueError``, the same 500.)"""
    site = Redirecting()
    site.extra = listed
    with serving(site.handler()) as base:
        async with world(db, owner_db, redis_client) as w:
            r = await _post_sitemap(w, base + "/sitemap.xml")
            assert r.status_code == 202, r.text
            assert r.json()["robots_unavailable"] == 1, r.text
            assert sorted(await w.documents()) == [base + "/a", base + "/b"]
            [source] = await w.sources()
            record = await w.sync_now(source["id"])
            assert record["status"] == "ok", record


def test_robots_rules_take_a_url_that_is_no_url() -> None:
    """Its site named as written (refused by the fetcher) and nothing of it allowed; both
    raised ``ValueError``."""
    assert robots.origin_of("http://[::1/a") == "http://[::1/a"
    assert not robots.Robots().allows("http://[::1/a")

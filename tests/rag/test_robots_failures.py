"""A site whose robots.txt cannot be read, seen by a sitemap's page jobs (rag/knowledge/robots.py,
``check_allowed``). Only successful reads were kept, so each page job of that site read the
failing file again: a 500-page sitemap reindexed while its site's robots.txt answered 503 made
500 reads of it, each up to FETCH_TIMEOUT_SECONDS. A failure is now kept for
``robots.UNREADABLE_SECONDS``: the site's pages fail with ``robots_unavailable`` (not fetched;
the owner retries them later) after one read."""

from __future__ import annotations

import pytest

from rag.knowledge import robots
from tests.conftest import make_settings
from tests.rag.test_sources import Page, local_site

PAGES = 30


async def test_the_page_jobs_of_a_site_whose_robots_txt_fails_read_it_once() -> None:
    settings = make_settings(allow_private_urls=True)
    with local_site() as site:
        site.pages["/robots.txt"] = Page(b"busy", "text/plain", status=503, etag=False)
        for n in range(PAGES):
            with pytest.raises(robots.RobotsUnavailable) as refused:
                await robots.check_allowed(site.url(f"/page-{n}"), settings)
            assert "not fetched" in refused.value.message
            assert "retry" in refused.value.message.lower()
        assert len(site.hits("/robots.txt")) == 1
        assert not site.hits("/page-0")


async def test_a_good_read_of_the_robots_txt_ends_the_kept_failure() -> None:
    """The owner's sync or a new submission reads robots.txt afresh; once it answers, the pages'
    jobs are let through at once, not after the failure's time is up."""
    settings = make_settings(allow_private_urls=True)
    with local_site() as site:
        site.pages["/robots.txt"] = Page(b"busy", "text/plain", status=503, etag=False)
        with pytest.raises(robots.RobotsUnavailable):
            await robots.check_allowed(site.url("/a"), settings)
        site.pages["/robots.txt"] = Page(
            b"User-agent: *\nDisallow: /private\n", "text/plain", etag=False
        )
        screened = await robots.screen(
            [site.url("/a")], allow_private=True, timeout=30, max_redirects=0
        )
        assert screened.unavailable == {}
        await robots.check_allowed(site.url("/a"), settings)
        with pytest.raises(robots.RobotsDisallowed):
            await robots.check_allowed(site.url("/private"), settings)
        assert len(site.hits("/robots.txt")) == 2

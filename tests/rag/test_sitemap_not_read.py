"""The child sitemaps a listing does not read (past ``max_sitemaps`` or ``max_depth``) are said
as "N sitemap file(s) not read". A child listed twice (in one index, or in two) was counted
twice: they were not remembered, so the owner read of more files left out than there were."""

from __future__ import annotations

from collections.abc import Sequence

from rag.knowledge.sitemaps import read_sitemap
from tests.rag.test_sources import Page, Site, local_site


def _index(site: Site, path: str, children: Sequence[str]) -> None:
    entries = "".join(f"<sitemap><loc>{site.url(c)}</loc></sitemap>" for c in children)
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{entries}</sitemapindex>'
    ).encode()
    site.pages[path] = Page(body, "application/xml", etag=False)


async def test_a_child_listed_twice_past_the_limit_is_one_file_not_read() -> None:
    with local_site() as site:
        site.sitemap(["/page"])  # /sitemap.xml: a urlset
        _index(site, "/index.xml", ["/sitemap.xml", "/a.xml", "/c.xml", "/c.xml", "/d.xml"])
        _index(site, "/a.xml", ["/c.xml", "/d.xml"])
        listing = await read_sitemap(site.url("/index.xml"), allow_private=True, max_sitemaps=3)
    assert listing.pages == [site.url("/page")]
    [error] = listing.errors
    assert error["code"] == "sitemap_limit"
    assert error["message"] == "2 sitemap file(s) not read: more than 3 in all", error
    assert listing.unread == 2
    assert not site.hits("/c.xml")


async def test_a_child_listed_twice_too_deep_is_one_file_not_read() -> None:
    with local_site() as site:
        _index(site, "/index.xml", ["/a.xml", "/b.xml"])
        _index(site, "/a.xml", ["/deep.xml", "/deep.xml"])
        _index(site, "/b.xml", ["/deep.xml", "/a.xml"])  # /a.xml: read already, not counted
        listing = await read_sitemap(site.url("/index.xml"), allow_private=True, max_depth=1)
    [error] = listing.errors
    assert error["code"] == "sitemap_too_deep"
    assert error["message"].startswith("1 sitemap file(s) not read"), error
    assert listing.unread == 1

"""How many robots.txt reads one sitemap listing makes (rag/knowledge/robots.py): one per host
however its URLs spell it, and the files of at most ``robots.MAX_SITES`` sites. Before, a listing
of 200 pages made up to 200 reads: one per spelling of a host (``Example.com``,
``EXAMPLE.com``, ``example.com:443``...) and one per site, each up to FETCH_TIMEOUT_SECONDS, all
inside the request that posted the sitemap."""

from __future__ import annotations

from contextlib import ExitStack

from redis.asyncio import Redis

from core.db import Database
from rag.knowledge import robots
from tests.rag.test_sources import Page, Site, _post_sitemap, article, local_site, world

ROBOTS = b"User-agent: *\nDisallow: /private\n"


def _spellings(count: int) -> list[str]:
    """``count`` spellings of the host name ``localhost`` that differ in case only."""
    out = []
    for n in range(count):
        out.append("".join(c.upper() if n >> i & 1 else c for i, c in enumerate("localhost")))
    return out


def _robots_reads(site: Site) -> int:
    return len(site.hits("/robots.txt"))


def test_the_origin_of_a_url_is_its_host_however_spelled() -> None:
    assert robots.origin_of("HTTPS://Example.COM/a") == "https://example.com"
    assert robots.origin_of("https://example.com:443/a") == "https://example.com"
    assert robots.origin_of("http://example.com:80/a") == "http://example.com"
    assert robots.origin_of("https://example.com./a") == "https://example.com"
    assert robots.origin_of("https://example.com:8443/a") == "https://example.com:8443"
    assert robots.origin_of("http://example.com:443/a") == "http://example.com:443"
    assert robots.origin_of("http://[::1]:8080/a") == "http://[::1]:8080"
    assert robots.origin_of("https://Example.com/a") != robots.origin_of("http://example.com/a")


async def test_one_host_spelled_many_ways_has_its_robots_txt_read_once() -> None:
    with local_site() as site:
        site.pages["/robots.txt"] = Page(ROBOTS, "text/plain", etag=False)
        port = site.base.rsplit(":", 1)[1]
        spellings = _spellings(40)
        pages = [f"http://{host}:{port}/p{n}" for n, host in enumerate(spellings)]
        pages += [f"http://{host}:{port}/private" for host in spellings[:5]]
        screened = await robots.screen(pages, allow_private=True, timeout=30, max_redirects=0)
        assert _robots_reads(site) == 1
        assert screened.blocked == set(pages[40:])
        assert screened.unavailable == {}


async def test_a_sitemap_listing_pages_on_many_sites_reads_the_robots_txt_of_a_few(
    db: Database, owner_db: Database, redis_client: Redis
) -> None:
    """Pages on sites past ``MAX_SITES`` are not added and said (``too_many_sites``); the
    sitemap's own site is always among the sites read."""
    others = robots.MAX_SITES + 3
    with ExitStack() as stack:
        home = stack.enter_context(local_site())
        sites = [stack.enter_context(local_site()) for _ in range(others)]
        home.pages["/home"] = Page(article("home", ["home words"]))
        listed = [home.url("/home")]
        for i, site in enumerate(sites):
            site.pages["/robots.txt"] = Page(ROBOTS, "text/plain", etag=False)
            site.pages["/a"] = Page(article(f"site{i}", [f"words of site {i}"]))
            listed.append(site.url("/a"))
        home.pages["/sitemap.xml"] = Page("\n".join(listed).encode(), "text/plain", etag=False)
        async with world(db, owner_db, redis_client) as w:
            r = await _post_sitemap(w, home.url("/sitemap.xml"))
            assert r.status_code == 202, r.text
            body = r.json()
            unread = others - (robots.MAX_SITES - 1)
            assert (body["count"], body["too_many_sites"]) == (robots.MAX_SITES, unread)
            assert body["robots_unavailable"] == 0
            assert _robots_reads(home) == 1
            assert sorted(_robots_reads(s) for s in sites) == [0] * unread + [1] * (others - unread)
            added = [home.url("/home")] + [s.url("/a") for s in sites if _robots_reads(s)]
            assert sorted(await w.documents()) == sorted(added)
            assert not any(s.hits("/a") for s in sites if not _robots_reads(s))
            # A sync says what it left out, and reads no more sites either.
            [source] = await w.sources()
            for s in [home, *sites]:
                s.reset()
            record = await w.sync_now(source["id"])
            assert record["status"] == "ok", record
            [note] = [e for e in record["errors"] if e["code"] == "too_many_sites"]
            assert f"{unread} listed page(s)" in note["message"]
            assert sum(_robots_reads(s) for s in [home, *sites]) == robots.MAX_SITES
            assert sorted(await w.documents()) == sorted(added)

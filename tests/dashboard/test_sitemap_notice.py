"""A sitemap posted on the knowledge page is read in the background: the owner is told at once
that it is being read (before, the page waited for the whole read, up to REQUEST_TIMEOUT_SECONDS,
or answered "busy, try again"), the Sitemaps list shows it reading and refreshes itself, then
the pages added and every kind of listed page left out (here: the pages on another site whose
robots.txt could not be read), or why it could not be read at all."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.conftest import RuntimeFactory, client_for
from tests.dashboard.conftest import WebOwner, web_signup
from tests.rag.test_sources import Hold, Page, article, local_site


async def _post_sitemap(web: WebOwner, address: str) -> httpx.Response:
    return await web.post(web.url("knowledge/web"), {"url": address, "kind": "sitemap"})


def _sitemaps(text: str) -> str:
    found = re.search(r'<div id="sitemaps".*?</ul>\s*</div>', text, flags=re.S)
    assert found is not None, text[-3000:]
    return html.unescape(found.group(0))


async def test_a_posted_sitemap_is_read_in_the_background_and_its_state_shown(
    runtime_factory: RuntimeFactory,
) -> None:
    with local_site() as home, local_site() as other:
        home.pages["/a"] = Page(article("home", ["words of the home page"]))
        other.pages["/robots.txt"] = Page(b"down", "text/plain", status=503)
        other.pages["/b"] = Page(article("other", ["words of the other site"]))
        other.pages["/c"] = Page(article("other", ["more words of the other site"]))
        listed = "\n".join([home.url("/a"), other.url("/b"), other.url("/c")])
        hold = Hold()
        home.pages["/list.txt"] = Page(listed.encode(), "text/plain", etag=False, hold=hold)
        async with (
            runtime_factory(allow_private_urls=True) as runtime,
            client_for(runtime) as client,
        ):
            web = await web_signup(client, "Two sites")
            posted = await _post_sitemap(web, home.url("/list.txt"))
            assert posted.status_code == 303, posted.text[:500]
            [notice] = parse_qs(urlsplit(posted.headers["location"]).query)["notice"]
            assert notice.startswith("Reading the sitemap"), notice
            await hold.wait_arrival()  # the read runs after the answer
            shown = await web.client.get(posted.headers["location"])
            assert notice in html.unescape(shown.text)
            reading = _sitemaps(shown.text)
            assert 'data-state="reading"' in reading, reading
            assert 'hx-trigger="every 2s"' in reading  # it refreshes itself meanwhile
            hold.gate.set()
            await runtime.jobs.drain()
            done = _sitemaps((await web.client.get(web.url("knowledge/sitemaps"))).text)
            assert 'data-state="ready"' in done, done
            assert "1 page added" in done, done
            assert "robots.txt of 1 site(s) could not be read" in done, done
            assert "hx-trigger" not in done
            assert not other.hits("/b")


async def test_a_sitemap_that_cannot_be_read_says_why(runtime_factory: RuntimeFactory) -> None:
    """The address of an HTML page posted as a sitemap (a common slip: the site's home page)."""
    with local_site() as site:
        site.pages["/home"] = Page(b"<html><body><p>Welcome</p></body></html>")
        async with (
            runtime_factory(allow_private_urls=True) as runtime,
            client_for(runtime) as client,
        ):
            web = await web_signup(client, "Html sitemap")
            posted = await _post_sitemap(web, site.url("/home"))
            assert posted.status_code == 303, posted.text[:500]
            await runtime.jobs.drain()
            page = await web.client.get(web.url("knowledge"))
            failed = _sitemaps(page.text)
            assert 'data-state="failed"' in failed, failed
            assert "Unsupported content type 'text/html'" in failed, failed
            assert "No documents yet" in page.text

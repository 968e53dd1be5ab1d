"""What the knowledge page says after a sitemap is posted names every kind of listed page left
out: the pages on another site whose robots.txt could not be read (it answered 5xx, or, since
fix-ingest3, was not read within the request's time) were left out without a word ("1 page(s)
from the sitemap added"), while the API answers ``robots_unavailable`` with their count."""

from __future__ import annotations

import html
from urllib.parse import parse_qs, urlsplit

from tests.conftest import RuntimeFactory, client_for
from tests.dashboard.conftest import web_signup
from tests.rag.test_sources import Page, article, local_site


async def test_pages_on_a_site_whose_robots_txt_cannot_be_read_are_said(
    runtime_factory: RuntimeFactory,
) -> None:
    with local_site() as home, local_site() as other:
        home.pages["/a"] = Page(article("home", ["words of the home page"]))
        other.pages["/robots.txt"] = Page(b"down", "text/plain", status=503)
        other.pages["/b"] = Page(article("other", ["words of the other site"]))
        other.pages["/c"] = Page(article("other", ["more words of the other site"]))
        listed = "\n".join([home.url("/a"), other.url("/b"), other.url("/c")])
        home.pages["/list.txt"] = Page(listed.encode(), "text/plain", etag=False)
        async with (
            runtime_factory(allow_private_urls=True) as runtime,
            client_for(runtime) as client,
        ):
            web = await web_signup(client, "Two sites")
            posted = await web.post(
                web.url("knowledge/web"), {"url": home.url("/list.txt"), "kind": "sitemap"}
            )
            assert posted.status_code == 303, posted.text[:500]
            [notice] = parse_qs(urlsplit(posted.headers["location"]).query)["notice"]
            assert notice.startswith("1 page(s) from the sitemap added; 2 "), notice
            assert "robots.txt could not be read" in notice, notice
            shown = await web.client.get(posted.headers["location"])
            assert notice in html.unescape(shown.text)
            assert not other.hits("/b")

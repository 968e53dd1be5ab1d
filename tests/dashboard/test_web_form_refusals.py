"""The knowledge page's web-address and upload forms refused for what the address or file
holds, or for a busy server, come back as the knowledge page with the reason beside the form
and the address typed: before, the web address of an HTML page posted as a sitemap (a common
slip: the site's home page), a sitemap posted while the download slots stayed busy (503
``sitemap_busy``, fix-ingest3) and a file of a type that is not read (415) each answered the
bare "Something is not right" page, and the address typed was lost."""

from __future__ import annotations

import html
import re
import uuid

import httpx

from rag.knowledge.sitemaps import sitemap_fetch_slots
from tests.conftest import RuntimeFactory, client_for
from tests.dashboard.conftest import WebOwner, web_signup
from tests.rag.test_sources import Page, local_site


def _section(text: str, heading_id: str) -> str:
    found = re.search(
        rf'<section[^>]*aria-labelledby="{heading_id}".*?</section>', text, flags=re.S
    )
    assert found is not None, text[:2000]
    return html.unescape(found.group(0))


async def _post_sitemap(web: WebOwner, address: str) -> httpx.Response:
    return await web.post(web.url("knowledge/web"), {"url": address, "kind": "sitemap"})


def _kept(refused: httpx.Response, address: str) -> str:
    assert "<h1>Knowledge" in refused.text, refused.text[:1000]  # not the error page
    form = _section(refused.text, "web-h")
    assert f'value="{address}" aria-invalid="true"' in form, form
    assert re.search(r'value="sitemap" checked', form), form
    return form


async def test_an_html_page_posted_as_a_sitemap_keeps_the_address(
    runtime_factory: RuntimeFactory,
) -> None:
    with local_site() as site:
        site.pages["/home"] = Page(b"<html><body><p>Welcome</p></body></html>")
        async with (
            runtime_factory(allow_private_urls=True) as runtime,
            client_for(runtime) as client,
        ):
            web = await web_signup(client, "Html sitemap")
            address = site.url("/home")
            refused = await _post_sitemap(web, address)
            assert refused.status_code == 415, refused.text[:500]
            form = _kept(refused, address)
            assert "text/html" in form, form
            assert "No documents yet" in (await web.client.get(web.url("knowledge"))).text


async def test_a_sitemap_with_no_download_slot_keeps_the_address(
    runtime_factory: RuntimeFactory,
) -> None:
    """One download at a time (SITEMAP_FETCHES_AT_ONCE=1), held here for the whole post: the
    post waits its share of REQUEST_TIMEOUT_SECONDS for it, then is refused."""
    with local_site() as site:
        site.pages["/a"] = Page(b"<html><body><p>Page a</p></body></html>")
        site.sitemap(["/a"])
        settings = {
            "allow_private_urls": True,
            "sitemap_fetches_at_once": 1,
            "request_timeout_seconds": 10,
        }
        async with runtime_factory(**settings) as runtime, client_for(runtime) as client:
            web = await web_signup(client, "Busy sitemap")
            address = site.url("/sitemap.xml")
            async with sitemap_fetch_slots(runtime.settings).slot(uuid.uuid4()):
                refused = await _post_sitemap(web, address)
            assert refused.status_code == 503, refused.text[:500]
            form = _kept(refused, address)
            assert "try again" in form, form
            assert not site.hits("/sitemap.xml")


async def test_a_file_of_a_type_not_read_is_refused_beside_the_upload_form(
    runtime_factory: RuntimeFactory,
) -> None:
    async with runtime_factory() as runtime, client_for(runtime) as client:
        web = await web_signup(client, "Odd file")
        refused = await web.client.post(
            web.url("knowledge/upload"),
            data={"csrf_token": web.csrf},
            files=[("files", ("setup.exe", b"MZ\x90\x00binary", "application/octet-stream"))],
        )
        assert refused.status_code == 415, refused.text[:500]
        assert "<h1>Knowledge" in refused.text, refused.text[:1000]
        upload = _section(refused.text, "upload-h")
        assert re.search(r'id="files-err" role="alert">setup\.exe: ', upload), upload

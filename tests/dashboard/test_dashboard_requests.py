"""What the dashboard answers about a request itself: a body over its route's limit gets the
dashboard's 413 page (the FAQ import takes the 2 MB its own check allows); an audited download
started from another site is refused; the leads file is named by the UTC date."""

from __future__ import annotations

import csv
import html
import io
import os
import re
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import httpx

from core.jobs import JobQueue
from rag.chat import faq_import
from tests.conftest import Owner
from tests.dashboard.conftest import SAME_ORIGIN, WebOwner

CROSS_SITE = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"}


def _faq_csv(rows: int, answer_chars: int) -> bytes:
    """A valid FAQ file: ``rows`` FAQs whose answers are ``answer_chars`` characters of
    Devanagari (three bytes each in UTF-8), under FaqIn's 10,000 characters."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["question", "answer"])
    word = "नमस्ते "  # 7 characters
    for i in range(rows):
        writer.writerow([f"What about topic {i}?", (word * (answer_chars // len(word)))])
    return out.getvalue().encode()


async def _import(web: WebOwner, data: bytes) -> httpx.Response:
    return await web.post(
        web.url("knowledge/faqs/import"), files={"file": ("faqs.csv", data, "text/csv")}
    )


async def test_an_faq_file_under_two_mb_is_imported(web: WebOwner) -> None:
    """The middleware's 1 MiB limit refused every import between 1 and 2 MB with a raw JSON 413,
    though the import itself takes 2 MB and says so."""
    data = _faq_csv(40, 9_800)
    assert 1_048_576 < len(data) < faq_import.MAX_BYTES
    imported = await _import(web, data)
    assert imported.status_code == 303, imported.text
    assert "40+FAQs+imported" in imported.headers["location"]


async def test_a_body_over_the_limit_gets_the_dashboards_413_page(web: WebOwner) -> None:
    """Announced (Content-Length) or streamed, a form or file over its limit gets an HTML page
    with the way back to the form, not the API's JSON."""
    too_big = _faq_csv(90, 9_800)
    assert len(too_big) > faq_import.MAX_BYTES + 64 * 1024
    refused = await web.client.post(
        web.url("knowledge/faqs/import"),
        files={"file": ("faqs.csv", too_big, "text/csv")},
        headers={"X-CSRF-Token": web.csrf, "Referer": "http://testserver" + web.url("knowledge")},
    )
    assert refused.status_code == 413
    assert refused.headers["content-type"].startswith("text/html")
    assert "this form takes at most 2 MB" in refused.text
    assert f'href="{web.url("knowledge")}"' in refused.text

    notes = await web.post(web.url("settings"), {"name": "x" * 1_100_000})
    assert notes.status_code == 413
    assert notes.headers["content-type"].startswith("text/html")
    assert "this form takes at most 1 MB" in notes.text

    async def streamed() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b"name=" + b"y" * 100_000 + b"&"

    chunked = await web.client.post(
        web.url("settings"),
        content=streamed(),
        headers={
            "X-CSRF-Token": web.csrf,
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    assert chunked.status_code == 413
    assert "this form takes at most 1 MB" in chunked.text
    # Our own script's request still reads the API's envelope.
    scripted = await web.client.post(
        web.url("settings"),
        data={"name": "z" * 1_100_000},
        headers={"X-CSRF-Token": web.csrf, "Accept": "application/json"},
    )
    assert scripted.status_code == 413
    assert scripted.json()["error"]["code"] == "payload_too_large"


async def test_an_audited_download_started_from_another_site_is_refused(
    web: WebOwner, jobs: JobQueue
) -> None:
    """A link on another site opened the leads download (the browser sends the session cookie
    on a top-level GET) and wrote a "leads.exported" entry for each."""
    refused = await web.client.get(web.url("leads/export"), headers=CROSS_SITE)
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("text/html")
    assert "started from another website" in refused.text
    assert "leads.exported" not in (await web.client.get(web.url("team"))).text
    allowed = await web.client.get(web.url("leads/export"), headers=SAME_ORIGIN)
    assert allowed.status_code == 200
    assert "leads.exported" in (await web.client.get(web.url("team"))).text

    assert (await web.post(web.url("settings/exports"))).status_code == 303
    await jobs.drain()
    page = await web.client.get(web.url("settings"))
    [link] = re.findall(r'href="([^"]+/download[^"]*)"', page.text)
    refused = await web.client.get(link, headers=CROSS_SITE)
    assert refused.status_code == 403
    assert "export.downloaded" not in (await web.client.get(web.url("team"))).text
    assert (await web.client.get(link)).status_code == 200  # no header: an older browser
    assert "export.downloaded" in (await web.client.get(web.url("team"))).text


async def test_a_download_from_a_sibling_site_or_an_old_browser_needs_the_pages_own_link(
    web: WebOwner,
) -> None:
    """Only ``Sec-Fetch-Site: cross-site`` was refused. ``same-site`` is another site under
    the same domain (a customer's subdomain, a preview deployment), to which SameSite=Lax sends
    the cookie too; a browser that sends no Sec-Fetch-Site (Safari before 16.4) said nothing,
    and any link anywhere downloaded. Now a download goes on when the browser says it came from
    this site (``same-origin``) or from no site (``none``: typed, a bookmark), or, with no
    such header, when the link is the dashboard's own: it carries a token of the session."""
    for path, page in (("leads/export", "leads"), ("unanswered/export", "unanswered")):
        for headers in ({"Sec-Fetch-Site": "same-site", "Sec-Fetch-Mode": "navigate"}, {}):
            refused = await web.client.get(web.url(path), headers=headers)
            assert refused.status_code == 403, (path, headers)
            assert "started from another website" in refused.text
        shown = await web.client.get(web.url(page))
        [link] = re.findall(rf'href="([^"]*/{path}[^"]*)"', shown.text)
        link = html.unescape(link)
        assert (await web.client.get(link)).status_code == 200, link  # no header, its link
        forged = re.sub(r"dl=[^&]+", "dl=" + "0" * 32, link)
        assert forged != link
        assert (await web.client.get(forged)).status_code == 403
        typed = await web.client.get(web.url(path), headers={"Sec-Fetch-Site": "none"})
        assert typed.status_code == 200
    scripted = await web.client.get(
        web.url("leads/export"), headers={**CROSS_SITE, "Accept": "application/json"}
    )
    assert scripted.status_code == 403
    assert scripted.json()["error"]["code"] == "cross_site_download"


async def test_an_api_download_from_another_sites_script_works(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """The API takes no cookie (a bearer token or an API key): another site's script, an
    integration's admin page, downloads with its credentials whatever the browser's headers."""
    for path in ("/leads/export", "/unanswered/export"):
        got = await client.get(
            owner.url(path), headers={**owner.headers, **CROSS_SITE, "Origin": "https://x.example"}
        )
        assert got.status_code == 200, (path, got.text[:200])


@contextmanager
def _local_zone(name: str) -> Iterator[None]:
    """The process's local time zone (TZ) set to ``name``, and back afterwards."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = name
    time.tzset()
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = before
        time.tzset()


async def test_the_leads_file_is_named_by_the_utc_date(web: WebOwner) -> None:
    """The name used the server's local date. The zone chosen is one whose date differs from
    UTC's right now (UTC+14 from 10:00 UTC, UTC-12 before 12:00 UTC)."""
    zone = "Etc/GMT-14" if datetime.now(UTC).hour >= 10 else "Etc/GMT+12"
    with _local_zone(zone):
        before = datetime.now(UTC).date()
        response = await web.client.get(web.url("leads/export"), headers=SAME_ORIGIN)
        after = datetime.now(UTC).date()
    assert response.status_code == 200
    named = re.search(r"-(\d{4}-\d{2}-\d{2})\.csv", response.headers["content-disposition"])
    assert named is not None
    assert named.group(1) in {before.isoformat(), after.isoformat()}

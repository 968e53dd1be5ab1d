"""A page's address pasted as an allowed website (copied from the address bar) is taken as the
site it is on, and the notice says so (a reviewer's finding: it was refused with "an origin is
only scheme://host[:port]")."""

from __future__ import annotations

import uuid
from urllib.parse import parse_qs, urlsplit

from dashboard.pages.widget import site_of
from tests.dashboard.conftest import WebOwner


def test_a_page_address_reduces_to_its_site() -> None:
    assert site_of("https://shop.example.com/kayaks/index.html") == "https://shop.example.com"
    assert site_of("http://localhost:8080/a?b=c#d") == "http://localhost:8080"
    # Already a site, or nothing a browser would show: left for the strict check to judge.
    assert site_of("https://shop.example.com") == "https://shop.example.com"
    assert site_of("https://shop.example.com/") == "https://shop.example.com/"
    assert site_of("shop.example.com/kayaks") == "shop.example.com/kayaks"
    assert site_of("https://user@shop.example.com/x") == "https://user@shop.example.com/x"
    assert site_of("ftp://shop.example.com/x") == "ftp://shop.example.com/x"


async def test_a_pasted_page_address_is_saved_as_its_site(web: WebOwner) -> None:
    host = f"shop-{uuid.uuid4().hex[:8]}.example.com"
    saved = await web.post(
        web.url("widget"),
        {"lead_capture": "off", "allowed_origins": f"https://{host}/kayaks/index.html?x=1"},
    )
    assert saved.status_code == 303, saved.text
    notice = parse_qs(urlsplit(saved.headers["location"]).query)["notice"][0]
    assert f"was saved as https://{host}" in notice
    page = await web.client.get(saved.headers["location"])
    assert f">https://{host}</textarea>" in page.text
    assert "scheme://host[:port]" not in page.text
    assert f"was saved as https://{host}" in page.text

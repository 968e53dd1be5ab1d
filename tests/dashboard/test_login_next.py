"""The login form's ``next`` (a link from anywhere may choose it) leads only to a page of this
dashboard, on this host: never another site, however it is written."""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

from api.runtime import Runtime
from tests.conftest import client_for
from tests.dashboard.conftest import PASSWORD, WebOwner, web_login

NEXT_FIELD = re.compile(r'name="next" value="([^"]*)"')
BASE = "https://dashboard.example/app/login"

ELSEWHERE = [
    "//evil.example/",
    "https://evil.example/app/",
    "/app/\\evil.example",
    "/\\evil.example/app/",
    "/app//evil.example",
    "/app/..//evil.example",
    "/app/%2e%2e//evil.example",
    "/app/\t/evil.example",
    "/app/\r\nSet-Cookie: planted=1",
    "/app/@evil.example",
    "javascript:alert(1)//app/",
]


async def test_a_next_written_to_leave_the_site_stays_on_it(
    runtime: Runtime, web: WebOwner
) -> None:
    for next_url in ELSEWHERE:  # one account, a browser of its own for each
        await _signs_in_on_this_site(runtime, web, next_url)


async def _signs_in_on_this_site(runtime: Runtime, web: WebOwner, next_url: str) -> None:
    async with client_for(runtime) as browser:
        page = await browser.get("/app/login", params={"next": next_url})
        assert page.status_code == 200
        kept = NEXT_FIELD.search(page.text)
        assert kept is None or not kept.group(1) or kept.group(1).startswith("/app/")
        signed_in = await web_login(browser, web.email, PASSWORD, next=next_url)
        assert signed_in.status_code == 303, signed_in.text
        location = signed_in.headers["location"]
        assert "\r" not in location, next_url
        assert "\n" not in location, next_url
        assert all("planted" not in c for c in signed_in.headers.get_list("set-cookie"))
        assert not urlsplit(location).scheme, next_url
        assert not urlsplit(location).netloc, next_url
        assert location.startswith("/app/"), next_url
        assert urlsplit(urljoin(BASE, location)).netloc == "dashboard.example", next_url

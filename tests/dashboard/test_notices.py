"""A page's green notice says only what this server wrote for that page and that browser: no
words from a login link's ``next``, no file name, no notice copied to another page or browser."""

from __future__ import annotations

import re
import uuid
from urllib.parse import quote, urlsplit

from tests.conftest import client_for, runtime_of
from tests.dashboard.conftest import PASSWORD, WebOwner, web_login

LIE = "Your account is locked. Call 1-555-0100 to unlock it."
NOTICE = re.compile(r'<p class="flash" role="status">(.*?)</p>', re.S)


def notice_of(html: str) -> str | None:
    found = NOTICE.search(html)
    return found.group(1) if found else None


async def test_a_login_link_cannot_carry_a_notice_to_the_next_page(web: WebOwner) -> None:
    async with client_for(runtime_of(web.client)) as victim:
        link = "/app/login?next=" + quote("/app/account?notice=" + LIE + "&ns=0", safe="")
        page = await victim.get(link)
        next_field = re.search(r'name="next" value="([^"]*)"', page.text)
        assert next_field is not None
        assert "notice" not in next_field.group(1)
        # Even posted by hand, the next page's notice is dropped: the account page says nothing.
        signed_in = await web_login(
            victim, web.email, PASSWORD, next="/app/account?tab=1&notice=" + LIE
        )
        assert signed_in.status_code == 303
        location = signed_in.headers["location"]
        assert location == "/app/account?tab=1"
        shown = await victim.get(location)
        assert shown.status_code == 200
        assert "Call 1-555-0100" not in shown.text


async def test_an_upload_notice_names_no_file_and_works_only_where_it_was_sent(
    web: WebOwner,
) -> None:
    name = f"{LIE} {uuid.uuid4().hex[:6]}.txt"
    for _ in range(2):
        sent = await web.post(
            web.url("knowledge/upload"), files={"files": (name, b"hello world text", "text/plain")}
        )
        assert sent.status_code == 303, sent.text
    location = sent.headers["location"]
    shown = await web.client.get(location)
    said = "0 files added, 1 already there with the same content (listed below)"
    assert notice_of(shown.text) == said
    query = urlsplit(location).query
    # The same signed pair on another page of the same browser: no notice.
    assert notice_of((await web.client.get(web.url("team") + "?" + query)).text) is None
    # On the same page in another browser of the same owner, and on the login page of a
    # signed-out one: no notice either.
    async with client_for(runtime_of(web.client)) as other:
        assert notice_of((await other.get("/app/login?" + query)).text) is None
        assert (await web_login(other, web.email, PASSWORD)).status_code == 303
        elsewhere = await other.get(location)
        assert elsewhere.status_code == 200
        assert notice_of(elsewhere.text) is None


async def test_a_notice_shows_once_not_again_on_reload_or_back(web: WebOwner) -> None:
    """A notice says what the form just did: the page the form's answer leads to shows it once;
    reloading that page (or coming back to it later in the history) shows no notice again."""
    first = await web.post(
        web.url("knowledge/upload"),
        files={"files": (f"a-{uuid.uuid4().hex[:8]}.txt", b"first text here", "text/plain")},
    )
    assert first.status_code == 303, first.text
    shown = await web.client.get(first.headers["location"])
    assert notice_of(shown.text) is not None
    reloaded = await web.client.get(first.headers["location"])
    assert reloaded.status_code == 200
    assert notice_of(reloaded.text) is None
    # A second action's notice shows; then going back to the first page's address shows none.
    second = await web.post(
        web.url("knowledge/upload"),
        files={"files": (f"b-{uuid.uuid4().hex[:8]}.txt", b"second text here", "text/plain")},
    )
    assert notice_of((await web.client.get(second.headers["location"])).text) is not None
    assert notice_of((await web.client.get(first.headers["location"])).text) is None
    assert notice_of((await web.client.get(second.headers["location"])).text) is None


async def test_the_shown_notices_cookie_keeps_only_notice_ids(web: WebOwner) -> None:
    """The cookie of the notices shown holds the last 16 ids and nothing else: a cookie that
    came back with other text (planted for the parent domain over plain HTTP, or corrupted) was
    written back whole with the new id after it, so one of 4,000 characters grew past what a
    browser keeps, the new id was never stored and each reload showed the notice again."""
    saved = await web.post("/app/account/name", {"name": f"Notice {uuid.uuid4().hex[:6]}"})
    location = saved.headers["location"]
    jar = "; ".join(f"{c.name}={c.value}" for c in web.client.cookies.jar)
    junk = ["x" * 4000, '"a\\"b"', "a;b", "." * 40, ".".join(["bad.id!"] * 30)]
    for sent in junk:
        shown = await web.client.get(location, headers={"cookie": f"{jar}; tb_notices={sent}"})
        assert shown.status_code == 200
        assert notice_of(shown.text) == "Name saved"
        [kept] = [c for c in shown.headers.get_list("set-cookie") if c.startswith("tb_notices=")]
        value = kept.split(";", 1)[0].removeprefix("tb_notices=")
        assert re.fullmatch(r"[A-Za-z0-9_-]{8}", value), (sent[:20], kept[:80])
    many = ".".join(f"{i:08d}" for i in range(40))
    shown = await web.client.get(location, headers={"cookie": f"{jar}; tb_notices={many}"})
    [kept] = [c for c in shown.headers.get_list("set-cookie") if c.startswith("tb_notices=")]
    ids = kept.split(";", 1)[0].removeprefix("tb_notices=").split(".")
    assert len(ids) == 16
    assert ids[:15] == [f"{i:08d}" for i in range(25, 40)]

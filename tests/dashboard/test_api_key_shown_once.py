"""A new API key is shown once, on the page the form's answer leads to (post/redirect/get):
reloading that page, or opening it in another browser of the same owner, makes no second key
and shows the secret no more; the secret is in no URL and no log line."""

from __future__ import annotations

import logging

import pytest

from api.runtime import Runtime
from tests.conftest import RuntimeFactory, client_for
from tests.dashboard.conftest import API_KEY_SHOWN as SECRET
from tests.dashboard.conftest import PASSWORD, WebOwner, web_login, web_signup


def _keys_named(team_page: str, name: str) -> int:
    return team_page.count(f'<td data-label="Name">{name}</td>')


async def test_reloading_the_new_key_page_makes_no_second_key(
    runtime: Runtime, web: WebOwner, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    created = await web.post(web.url("team/api-keys"), {"name": "CRM sync"})
    assert created.status_code == 303, created.text
    location = created.headers["location"]
    assert "tb_" not in location
    assert location.startswith(web.url("team/api-keys/created") + "?once=")
    assert not SECRET.search(created.text)

    shown = await web.client.get(location)
    assert shown.status_code == 200, shown.text
    found = SECRET.search(shown.text)
    assert found
    secret = found.group(1)
    assert "CRM sync" in shown.text
    assert shown.headers["cache-control"] == "no-store"

    async with client_for(runtime) as other:  # the same owner in another browser
        assert (await web_login(other, web.email, PASSWORD)).status_code == 303
        elsewhere = await other.get(location)
        assert secret not in elsewhere.text

    reloaded = await web.client.get(location)  # F5 on the page that showed it
    assert reloaded.status_code == 303
    assert reloaded.headers["location"].startswith(web.url("team"))
    team_page = await web.client.get(reloaded.headers["location"])
    assert secret not in team_page.text
    assert "shown only once" in team_page.text
    assert _keys_named(team_page.text, "CRM sync") == 1  # no second key

    assert all(secret not in record.getMessage() for record in caplog.records)
    assert all(secret not in str(record.__dict__) for record in caplog.records)


async def test_several_processes_without_redis_show_the_new_key_on_the_forms_answer(
    runtime_factory: RuntimeFactory,
) -> None:
    """WORKERS=2 without REDIS_URL: a flash kept in one process' memory is not there when the
    redirect's request reaches the other, and the key's only showing would be lost. The form's
    answer shows the secret itself, as when Redis fails."""
    async with runtime_factory(redis=None, workers=2) as runtime, client_for(runtime) as client:
        web = await web_signup(client)
        created = await web.post(web.url("team/api-keys"), {"name": "Two processes"})
        assert created.status_code == 200, created.headers
        assert SECRET.search(created.text)
        assert "Two processes" in created.text
        assert created.headers["cache-control"] == "no-store"


CROSS_SITE = {
    "Sec-Fetch-Site": "cross-site",
    "Sec-Fetch-Mode": "navigate",
    "Referer": "https://attacker.example/",
}
"""A top-level link from another site: SameSite=Lax sends the session cookie with it."""


async def test_a_link_from_another_site_neither_shows_nor_spends_the_new_key(
    web: WebOwner,
) -> None:
    """Between the form's answer and the page it leads to, another site's link to the page
    (guessable: the same for every key) shows nothing and leaves the secret to the owner's own
    page; so does the bare page's address opened by a browser that sends no Sec-Fetch-Site."""
    created = await web.post(web.url("team/api-keys"), {"name": "Lured"})
    assert created.status_code == 303, created.text
    location = created.headers["location"]

    bare = web.url("team/api-keys/created")
    lured = await web.client.get(bare, headers=CROSS_SITE)
    assert not SECRET.search(lured.text), "another site's link showed the new key"
    lured_old = await web.client.get(bare)  # a browser telling nothing of where it came from
    assert not SECRET.search(lured_old.text), "the page's bare address showed the new key"
    replayed = await web.client.get(location, headers=CROSS_SITE)
    assert not SECRET.search(replayed.text), "the owner's own address, opened cross-site"

    shown = await web.client.get(location, headers={"Sec-Fetch-Site": "same-origin"})
    assert shown.status_code == 200, shown.text
    assert SECRET.search(shown.text), "the lure spent the owner's only showing"
    again = await web.client.get(location, headers={"Sec-Fetch-Site": "same-origin"})
    assert not SECRET.search(again.text)


async def test_two_keys_made_before_either_page_opens_each_show_on_their_own_page(
    web: WebOwner,
) -> None:
    """Two tabs' "Create key" sent one after the other, their pages opened after both: each
    page shows its own key (one flash per browser session and workspace showed the second
    key on the first page, and the first key's secret nowhere)."""
    first = await web.post(web.url("team/api-keys"), {"name": "First tab"})
    second = await web.post(web.url("team/api-keys"), {"name": "Second tab"})
    assert first.status_code == second.status_code == 303
    shown = {}
    for name, created in (("First tab", first), ("Second tab", second)):
        page = await web.client.get(created.headers["location"])
        assert page.status_code == 200, (name, page.headers)
        found = SECRET.search(page.text)
        assert found, name
        assert f"“{name}”" in page.text
        shown[name] = found.group(1)
    assert shown["First tab"] != shown["Second tab"]

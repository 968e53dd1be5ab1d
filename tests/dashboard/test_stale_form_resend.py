"""A form sent from a tab opened before the browser signed out and in again (in another tab):
its anti-forgery token was bound to the old session, so the check refuses it. From this site
(Origin / Sec-Fetch-Site say so) and signed in now, the owner gets the form back with what
they typed and a fresh token, nothing applied; from another site, the plain refusal showing
none of the values. Passwords are never echoed back."""

from __future__ import annotations

import html
import re

import httpx

from tests.dashboard.conftest import PASSWORD, WebOwner, csrf_of, web_login

BASE = "http://testserver"
SAME_ORIGIN = {"Origin": BASE, "Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "navigate"}
CROSS_SITE = {
    "Origin": "https://evil.example",
    "Sec-Fetch-Site": "cross-site",
    "Sec-Fetch-Mode": "navigate",
}
QUESTION = "Can I return a used item?"
ANSWER = (
    "Yes, within 30 days <b>if</b> it is undamaged & boxed.\n"
    "Write to returns@example.com with your order number; we send a label the same day.\n" * 3
)


async def _stale_tab(web: WebOwner) -> str:
    """The token of a knowledge page opened before the browser signed out and in again in
    another tab (the same cookie jar)."""
    page = await web.client.get(web.url("knowledge"))
    stale = csrf_of(page.text)
    assert (await web.client.post("/app/logout", data={"csrf_token": stale})).status_code == 303
    assert (await web_login(web.client, web.email, PASSWORD)).status_code == 303
    return stale


def _faq(stale: str) -> dict[str, str]:
    return {"csrf_token": stale, "question": QUESTION, "answer": ANSWER, "alt_questions": ""}


async def _faq_listed(web: WebOwner) -> bool:
    page = await web.client.get(web.url("knowledge"))
    assert page.status_code == 200
    return html.escape(QUESTION) in page.text


async def test_the_form_comes_back_with_what_was_typed_and_a_fresh_token(web: WebOwner) -> None:
    stale = await _stale_tab(web)
    sent = await web.client.post(web.url("knowledge/faqs"), data=_faq(stale), headers=SAME_ORIGIN)
    assert sent.status_code == 409, sent.text
    assert "Your session changed" in sent.text
    assert "Nothing was saved" in sent.text
    assert "The form expired" not in sent.text
    assert html.escape(ANSWER) in sent.text  # the long answer, kept (escaped)
    assert "<b>if</b>" not in sent.text
    assert f'action="{web.url("knowledge/faqs")}"' in sent.text
    fresh = re.search(r'name="csrf_token" value="([^"]+)"', sent.text)
    assert fresh
    assert fresh.group(1) != stale
    assert fresh.group(1) == csrf_of(sent.text)
    assert not await _faq_listed(web)  # nothing applied

    again = await web.client.post(
        web.url("knowledge/faqs"), data=_faq(fresh.group(1)), headers=SAME_ORIGIN
    )
    assert again.status_code == 303, again.text
    assert await _faq_listed(web)


async def test_htmx_swaps_the_form_back_into_the_page(web: WebOwner) -> None:
    stale = await _stale_tab(web)
    sent = await web.client.post(
        web.url("knowledge/faqs"),
        data=_faq(stale),
        headers={**SAME_ORIGIN, "HX-Request": "true", "Sec-Fetch-Mode": "cors"},
    )
    assert sent.status_code == 200, sent.text
    assert sent.headers["HX-Retarget"] == "#main"
    assert html.escape(ANSWER) in sent.text
    assert not await _faq_listed(web)


async def test_a_cross_site_post_is_refused_and_shows_nothing_it_sent(web: WebOwner) -> None:
    stale = await _stale_tab(web)
    others = (
        CROSS_SITE,
        {"Origin": "https://evil.example"},  # an older browser: no Sec-Fetch-Site
        {"Sec-Fetch-Site": "same-site"},  # a sibling subdomain is not this site
        {"Origin": BASE, "Sec-Fetch-Site": "cross-site"},  # the headers disagree
        {},  # nothing says where it came from
    )
    for headers in others:
        sent = await web.client.post(web.url("knowledge/faqs"), data=_faq(stale), headers=headers)
        assert sent.status_code == 403, (headers, sent.text)
        assert "Not allowed" in sent.text
        assert "returns@example.com" not in sent.text
        assert QUESTION not in html.unescape(sent.text)
        assert not await _faq_listed(web)


async def test_passwords_are_never_echoed_back(web: WebOwner) -> None:
    stale = await _stale_tab(web)
    sent = await web.client.post(
        "/app/account/password",
        data={
            "csrf_token": stale,
            "current_password": PASSWORD,
            "new_password": "a brand new secret phrase",
        },
        headers=SAME_ORIGIN,
    )
    assert sent.status_code == 409, sent.text
    assert "Your session changed" in sent.text
    assert PASSWORD not in sent.text
    assert "a brand new secret phrase" not in sent.text
    assert "type the password again" in sent.text.lower()


async def test_signed_out_now_still_asks_to_sign_in(
    client: httpx.AsyncClient, web: WebOwner
) -> None:
    page = await web.client.get(web.url("knowledge"))
    stale = csrf_of(page.text)
    assert (await web.client.post("/app/logout", data={"csrf_token": stale})).status_code == 303
    sent = await web.client.post(web.url("knowledge/faqs"), data=_faq(stale), headers=SAME_ORIGIN)
    assert sent.status_code == 303
    assert sent.headers["location"].startswith("/app/login")

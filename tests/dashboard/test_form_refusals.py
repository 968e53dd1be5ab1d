"""Refused dashboard forms answer with the dashboard's page and keep what was typed: a NUL in any
field, lead notes too long, a widget form with a field emptied, an invitation's name. A textarea's
line break counts as one character on the dashboard and the JSON API alike (the browser posts it
as CRLF). A refused query string is worded for the owner, not as pydantic's pattern."""

from __future__ import annotations

import html
import re
import uuid

import httpx

from tests.conftest import login
from tests.dashboard.conftest import PASSWORD, WebOwner, csrf_of, invitation


def _field(html_text: str, name: str) -> str:
    """The value an input or textarea named ``name`` shows."""
    found = re.search(
        rf'<textarea id="{name}"[^>]*>(.*?)</textarea>', html_text, re.S
    ) or re.search(rf'<input id="{name}"[^>]*value="([^"]*)"', html_text)
    assert found, f"no field {name}"
    return html.unescape(found.group(1))


async def test_a_nul_in_a_form_gets_the_dashboards_page_not_json(web: WebOwner) -> None:
    """Each of these forms answered the API's JSON 422 envelope (the database refused the NUL
    past the page's error handling): the owner saw a bare JSON page."""
    forms = [
        ("team/api-keys", {"name": "a\x00b"}),
        ("knowledge/faqs", {"question": "What a\x00b?", "answer": "x"}),
        ("widget", {"bot_name": "Bo\x00t", "lead_capture": "off", "position": "bottom-right"}),
        ("playground", {"message": "hello\x00"}),
        ("settings/erasures", {"key": "session_id", "value": "s\x00x"}),
    ]
    for path, data in forms:
        response = await web.post(web.url(path), data)
        assert response.status_code == 422, (path, response.text)
        assert response.headers["content-type"].startswith("text/html"), path
        assert "NUL character" in response.text, path


async def test_a_refused_faq_or_widget_form_with_a_nul_keeps_the_rest_of_it(
    web: WebOwner,
) -> None:
    faq = await web.post(
        web.url("knowledge/faqs"),
        {"question": "Do you open on Sund\x00ays?", "answer": "Only in December."},
    )
    assert faq.status_code == 422
    assert _field(faq.text, "faq-answer") == "Only in December."
    widget = await web.post(
        web.url("widget"),
        {"bot_name": "Hel\x00per", "greeting": "Welcome aboard", "position": "bottom-left"},
    )
    assert widget.status_code == 422
    assert _field(widget.text, "bot_name") == "Helper"
    assert _field(widget.text, "greeting") == "Welcome aboard"


async def test_refused_lead_notes_come_back_in_the_form_with_the_reason(
    client: httpx.AsyncClient, web: WebOwner
) -> None:
    """Notes over 10,000 characters got a page saying "Choose a status", with no form: the notes
    were lost."""
    lead_id = await _lead_via_api(client, web)
    typed = "Called on Monday, wants a quote. " * 310  # 10,230 characters
    refused = await web.post(web.url(f"leads/{lead_id}"), {"status": "contacted", "notes": typed})
    assert refused.status_code == 422
    assert "Choose a status" not in refused.text
    assert _field(refused.text, "notes") == typed
    assert "Use at most 10000 characters." in refused.text
    assert '<option value="contacted" selected>' in refused.text
    nul = await web.post(web.url(f"leads/{lead_id}"), {"status": "won", "notes": "ok\x00 then"})
    assert nul.status_code == 422
    assert _field(nul.text, "notes") == "ok then"
    assert "NUL character" in nul.text


async def test_a_line_break_counts_one_character_as_the_textarea_counts_it(
    client: httpx.AsyncClient, web: WebOwner
) -> None:
    """The notes' textarea allows 10,000 characters counting a line break as one, and the
    browser posts each as CRLF: notes the browser allowed were refused. The JSON API counts
    (and stores) line breaks the same way."""
    lead_id = await _lead_via_api(client, web)
    line = "x" * 99 + "\r\n"  # 100 characters each, as the textarea counts them
    typed = line * 100  # 10,000 as counted by the browser, 10,100 as posted
    saved = await web.post(web.url(f"leads/{lead_id}"), {"status": "new", "notes": typed})
    assert saved.status_code == 303, saved.text
    page = await web.client.get(web.url(f"leads/{lead_id}"))
    assert _field(page.text, "notes") == typed.replace("\r\n", "\n")
    owner_headers = await _api_headers(client, web)
    patched = await client.patch(
        f"/api/v1/workspaces/{web.workspace_id}/leads/{lead_id}",
        json={"notes": typed},
        headers=owner_headers,
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["notes"] == typed.replace("\r\n", "\n")
    answer = ("y" * 99 + "\r\n") * 100
    faq = await web.post(
        web.url("knowledge/faqs"), {"question": "Is the answer long?", "answer": answer}
    )
    assert faq.status_code == 303, faq.text
    greeting = ("Hello there" + "\r\n") * 38  # 494 with one character per break, 532 as posted
    widget = await web.post(
        web.url("widget"),
        {"greeting": greeting, "lead_capture": "off", "position": "bottom-right"},
    )
    assert widget.status_code == 303, widget.text


async def test_a_widget_field_emptied_in_a_refused_form_stays_empty(web: WebOwner) -> None:
    """The page put the saved avatar back into the emptied field; the next save stored it again
    without a word."""
    base = {"lead_capture": "off", "position": "bottom-right"}
    saved = await web.post(
        web.url("widget"), {**base, "avatar_url": "https://example.com/a.png", "bot_name": "Ava"}
    )
    assert saved.status_code == 303, saved.text
    refused = await web.post(
        web.url("widget"),
        {**base, "avatar_url": "", "bot_name": "", "max_conversations_per_hour": "0"},
    )
    assert refused.status_code == 422
    assert _field(refused.text, "avatar_url") == ""
    assert _field(refused.text, "bot_name") == ""
    # The default greeting sent back unchanged is shown again as it was, not emptied.
    page = await web.client.get(web.url("widget"))
    shown = _field(page.text, "greeting")
    again = await web.post(
        web.url("widget"), {**base, "greeting": shown, "max_conversations_per_hour": "0"}
    )
    assert _field(again.text, "greeting") == shown


async def test_a_refused_invitation_keeps_the_name_typed(client: httpx.AsyncClient) -> None:
    _, _, token = await invitation(client)
    form = await client.get(f"/app/accept-invitation?token={token}")
    refused = await client.post(
        "/app/accept-invitation",
        data={
            "csrf_token": csrf_of(form.text),
            "token": token,
            "name": "Asha Rao",
            "password": "x",
        },
    )
    assert refused.status_code == 422
    assert _field(refused.text, "name") == "Asha Rao"
    assert 'id="password"' in refused.text
    assert 'value="x"' not in refused.text


async def test_a_nul_in_a_search_is_refused_in_plain_words(web: WebOwner) -> None:
    refused = await web.client.get(web.url("leads"), params={"q": "a\x00b"})
    assert refused.status_code == 422
    shown = html.unescape(refused.text)
    assert "String should match pattern" not in shown
    assert "Remove the NUL character" in shown


async def _api_headers(client: httpx.AsyncClient, web: WebOwner) -> dict[str, str]:
    """A bearer token for the web owner's account (its password is the fixtures' one)."""
    tokens = await login(client, web.email, PASSWORD)
    return {"Authorization": f"Bearer {tokens['access_token']}"}


async def _lead_via_api(client: httpx.AsyncClient, web: WebOwner) -> str:
    made = await client.post(
        f"/api/v1/workspaces/{web.workspace_id}/leads",
        json={"email": f"lead-{uuid.uuid4().hex[:10]}@example.com"},
        headers=await _api_headers(client, web),
    )
    assert made.status_code in (200, 201), made.text
    return str(made.json()["id"])

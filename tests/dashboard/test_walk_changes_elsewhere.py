"""An owner's walk (walk6), each test a finding: what the dashboard said after a change made
elsewhere (another tab, a teammate), how a contact typed in the chat reads in its transcript and
on its lead, the slug an owner types to delete a workspace with a long, non-ASCII name, and a
reset link opened again."""

from __future__ import annotations

import html
import re
import uuid

import httpx

from api.runtime import Runtime
from tests.conftest import mail_token, signup
from tests.dashboard.conftest import WebOwner, csrf_of, web_signup, widget_key


async def test_a_contact_typed_in_the_chat_is_not_called_a_form_in_the_transcript(
    runtime: Runtime, web: WebOwner
) -> None:
    """A visitor typed their address into the chat: the transcript said they "left contact
    details with the form" and quoted a thanks the widget never showed (the bot's own reply,
    shown below it, is what they read)."""
    email = f"typed-{uuid.uuid4().hex[:10]}@example.org"
    said = await web.client.post(
        "/api/v1/chat",
        json={"message": f"my email is {email}", "session_id": f"v-{uuid.uuid4().hex}"},
        headers={"X-Widget-Key": await widget_key(runtime, web)},
    )
    assert (said.json()["intent"], said.json()["lead_saved"]) == ("contact", True), said.text
    page = await web.client.get(web.url(f"conversations/{said.json()['conversation_id']}"))
    text = html.unescape(page.text)
    assert "with the form" not in text
    assert "The widget thanked them" not in text
    assert f"left contact details in the chat: {email}" in text
    # The message that gave them is shown once, as the visitor's message.
    assert text.count(f"my email is {email}") == 1


async def test_a_long_non_ascii_name_gets_a_slug_without_a_dangling_hyphen(
    client: httpx.AsyncClient,
) -> None:
    """The slug an owner types to delete the workspace ended in "-" (cut at 60 characters
    after the hyphens were trimmed) and lost the "ß" of "Großhandel" ("grohandel")."""
    web = await web_signup(
        client, "Zoë's Bäckerei & Konditorei Müller-Lüdenscheidt Großhandel für feine Torten"
    )
    page = await web.client.get(web.url("settings"))
    slug = re.search(r"Type its slug, <code>([^<]*)</code>", page.text)
    assert slug, page.text
    assert slug.group(1) == "zoe-s-backerei-konditorei-muller-ludenscheidt-grosshandel"


async def _listed_id(web: WebOwner, page: str, pattern: str) -> str:
    """The first id ``pattern`` finds on ``page`` (the newest row of its list)."""
    listed = await web.client.get(web.url(page))
    found = re.search(pattern, listed.text)
    assert found, listed.text
    return found.group(1)


async def _deleted_elsewhere(web: WebOwner, page: str, pattern: str) -> str:
    """The newest of ``page``'s list (an FAQ on "knowledge", a lead on "leads") deleted, as
    from another tab: its id."""
    found = await _listed_id(web, page, pattern)
    path = f"knowledge/faqs/{found}/delete" if page == "knowledge" else f"leads/{found}/delete"
    deleted = await web.post(web.url(path))
    assert deleted.status_code == 303, deleted.text
    return found


async def test_saving_an_faq_deleted_in_another_tab_keeps_what_was_typed(
    web: WebOwner,
) -> None:
    """The edit was saved after the FAQ was deleted in another tab: the answer was "Page not
    found ... belongs to a workspace you are not a member of", and what was typed was lost."""
    question = f"Do you deliver on Sundays {uuid.uuid4().hex[:6]}?"
    added = await web.post(
        web.url("knowledge/faqs"), {"question": question, "answer": "Only on Saturdays."}
    )
    assert added.status_code == 303, added.text
    faq_id = await _deleted_elsewhere(web, "knowledge", r"knowledge/faqs/([0-9a-f-]{36})\"")
    saved = await web.post(
        web.url(f"knowledge/faqs/{faq_id}"),
        {"question": question, "answer": "Saturdays and, from May, Sundays.", "enabled": "on"},
    )
    assert saved.status_code == 404
    text = html.unescape(saved.text)
    assert "not a member" not in text
    assert "This FAQ was deleted meanwhile" in text
    # What was typed is in the form that adds an FAQ, ready to send again.
    assert re.search(r'<input id="faq-question"[^>]*value="' + re.escape(question) + '"', text), (
        text
    )
    assert "Saturdays and, from May, Sundays.</textarea>" in text


async def test_saving_a_lead_deleted_in_another_tab_says_so_with_the_notes_typed(
    runtime: Runtime,
    web: WebOwner,
) -> None:
    email = f"lead-{uuid.uuid4().hex[:8]}@example.org"
    lead = await web.client.post(
        "/api/v1/widget/leads",
        json={"email": email},
        headers={"X-Widget-Key": await widget_key(runtime, web)},
    )
    assert lead.status_code == 202, lead.text
    lead_id = await _deleted_elsewhere(web, "leads", r"/leads/([0-9a-f-]{36})")
    saved = await web.post(
        web.url(f"leads/{lead_id}"),
        {"status": "contacted", "notes": "Called back: wants 80 cakes"},
    )
    assert saved.status_code == 404
    text = html.unescape(saved.text)
    assert "not a member" not in text
    assert "This lead was deleted meanwhile" in text
    assert "Called back: wants 80 cakes" in text


async def _deleted_again(web: WebOwner, path: str, deleted: int) -> str:
    """``path`` (a delete) sent by htmx twice, as from two tabs: the first deletes (answered
    ``deleted``), the second is 404 with an HX-Redirect, which htmx follows before it treats
    the status as a failure: the knowledge page again, saying so. That page's text."""
    first = await web.post(web.url(path), headers={"HX-Request": "true"})
    assert first.status_code == deleted, first.text
    again = await web.post(web.url(path), headers={"HX-Request": "true"})
    assert again.status_code == 404
    location = again.headers.get("HX-Redirect", "")
    assert location.startswith(web.url("knowledge")), again.headers
    shown = html.unescape((await web.client.get(location)).text)
    assert "already deleted" in shown
    return shown


async def test_deleting_a_document_deleted_in_another_tab_refreshes_the_list(
    runtime: Runtime, web: WebOwner
) -> None:
    """The second tab's Delete flashed "Document not found" and left the document listed, as
    if it were still there; the list now comes again, saying it was deleted already."""
    uploaded = await web.post(
        web.url("knowledge/upload"),
        files={"files": ("hours.md", b"# Hours\n\nOpen daily from 7 to 7.\n", "text/markdown")},
    )
    assert uploaded.status_code == 303, uploaded.text
    await runtime.jobs.drain()
    document_id = await _listed_id(web, "knowledge", r'data-document="([0-9a-f-]{36})"')
    shown = await _deleted_again(web, f"knowledge/documents/{document_id}/delete", 204)
    assert document_id not in shown


async def test_deleting_an_faq_deleted_in_another_tab_refreshes_the_list(web: WebOwner) -> None:
    """As with documents: the row stayed beside a flashed "FAQ not found"."""
    question = f"Do you sell rye bread {uuid.uuid4().hex[:6]}?"
    added = await web.post(web.url("knowledge/faqs"), {"question": question, "answer": "Yes."})
    assert added.status_code == 303, added.text
    faq_id = await _listed_id(web, "knowledge", r"knowledge/faqs/([0-9a-f-]{36})\"")
    shown = await _deleted_again(web, f"knowledge/faqs/{faq_id}/delete", 200)
    assert question not in shown


async def test_a_phone_number_typed_beside_the_address_is_on_the_lead(
    runtime: Runtime, web: WebOwner
) -> None:
    """ "You can reach me at <address> or +49 151 23456789": the lead had the address and
    Phone "—" (a number beside an address was kept only with a call asked for, "call me"),
    so a search by the number found nobody. A number written as an international one, or
    labelled a phone, is one; an order's number beside an address still is not."""
    key = await widget_key(runtime, web)
    mobile, landline, order = (f"{uuid.uuid4().int % 10**7:07d}" for _ in range(3))
    given = [
        (f"You can reach me at {{email}} or +49 151 {mobile}", f"+49 151 {mobile}", True),
        (f"email {{email}} phone 0171 {landline}", f"0171 {landline}", True),
        (f"{{email}} order 4{order}", f"4{order}", False),
    ]
    for message, number, kept in given:
        email = f"v-{uuid.uuid4().hex[:10]}@example.org"
        said = await web.client.post(
            "/api/v1/chat",
            json={"message": message.format(email=email), "session_id": f"v-{uuid.uuid4().hex}"},
            headers={"X-Widget-Key": key},
        )
        assert (said.json()["intent"], said.json()["lead_saved"]) == ("contact", True), said.text
        found = await web.client.get(web.url("leads"), params={"q": number})
        assert found.status_code == 200, found.text
        assert (email in found.text) is kept, (message, found.text)


async def test_a_used_reset_link_says_so_before_a_password_is_typed(
    client: httpx.AsyncClient,
) -> None:
    """A reset link opened again after it set a password (or a newer link did) showed "Choose
    a new password" with its field: the owner typed one, to be told "This link was already
    used" above the same form, which could never work."""
    owner = await signup(client, "Twice")
    asked = await client.post("/api/v1/auth/password-reset", json={"email": owner.email})
    assert asked.status_code == 202, asked.text
    token = await mail_token(client, owner.email, "password_reset")
    form = await client.get(f"/app/reset-password?token={token}")
    assert 'name="password"' in form.text
    done = await client.post(
        "/app/reset-password",
        data={"csrf_token": csrf_of(form.text), "token": token, "password": "a new passphrase"},
    )
    assert done.status_code == 303, done.text
    for link in (token, token[:-4] + "AAAA"):  # used, and not a link this server sent
        again = await client.get(f"/app/reset-password?token={link}")
        assert again.status_code == 400
        assert 'name="password"' not in again.text
        assert 'href="/app/forgot-password"' in again.text
    assert "This link was already used" in html.unescape(
        (await client.get(f"/app/reset-password?token={token}")).text
    )
    posted = await client.post(
        "/app/reset-password",
        data={"csrf_token": csrf_of(form.text), "token": token, "password": "another passphrase"},
    )
    assert posted.status_code == 422
    assert 'name="password"' not in posted.text

"""Stored XSS: text a site visitor (or a crawled or uploaded page) chose is shown on the owner's
dashboard as text, never as markup: in the page's body, in attributes (htmx's ``hx-confirm``
included) and in the htmx fragments, wherever it is listed."""

from __future__ import annotations

import re
import uuid

import httpx

from api.runtime import Runtime
from tests.dashboard.conftest import WebOwner, widget_key


def _payload(mark: str) -> tuple[str, str]:
    """A string that closes an attribute and opens a tag if pasted in raw, and the same string
    as the page must show it (escaped)."""
    raw = f"\"'><img src=x onerror=alert('{mark}')>"
    escaped = f"&#34;&#39;&gt;&lt;img src=x onerror=alert(&#39;{mark}&#39;)&gt;"
    return raw, escaped


async def test_what_a_visitor_or_a_document_wrote_is_shown_as_text(
    client: httpx.AsyncClient, runtime: Runtime, web: WebOwner
) -> None:
    mark = uuid.uuid4().hex[:10]
    raw, escaped = _payload(mark)
    key = await widget_key(runtime, web)
    visitor = f"visitor-{mark}"
    # A visitor's question the bot cannot answer (the conversations, the transcript and the
    # Unanswered page show it), then their contact form with the same text as name and message.
    chat = await client.post(
        "/api/v1/chat",
        json={"message": f"Do you ship {raw} to Mars?", "session_id": visitor},
        headers={"X-Widget-Key": key},
    )
    assert chat.status_code == 200, chat.text
    lead = await client.post(
        "/api/v1/widget/leads",
        json={
            "email": f"visitor-{mark}@example.com",
            "name": raw,
            "message": raw,
            "conversation_id": chat.json()["conversation_id"],
            "session_id": visitor,
        },
        headers={"X-Widget-Key": key},
    )
    assert lead.status_code == 202, lead.text
    # A page whose <title> is the document's title (an upload; a crawled page reads the same).
    html_page = (
        f"<html><head><title>{raw}</title></head><body><p>Our shop opens at nine on"
        " weekdays and closes at six.</p></body></html>"
    ).encode()
    uploaded = await web.client.post(
        web.url("knowledge/upload"),
        data={"csrf_token": web.csrf},
        files=[("files", ("hours.html", html_page, "text/html"))],
    )
    assert uploaded.status_code == 303, uploaded.text
    await runtime.jobs.drain()
    # An FAQ made from the visitor's words (as the Unanswered page offers).
    faq = await web.post(web.url("knowledge/faqs"), {"question": f"Ship {raw}?", "answer": raw})
    assert faq.status_code == 303, faq.text

    pages = {p: (await web.client.get(web.url(p))).text for p in ("conversations", "leads")}
    for page in ("unanswered", "knowledge"):
        pages[page] = (await web.client.get(web.url(page))).text
    conversation_id = re.search(r'data-conversation="([^"]+)"', pages["conversations"])
    lead_id = re.search(r'data-lead="([^"]+)"', pages["leads"])
    document_id = re.search(r'data-document="([^"]+)"', pages["knowledge"])
    faq_id = re.search(r'data-faq="([^"]+)"', pages["knowledge"])
    assert conversation_id
    assert lead_id
    assert document_id
    assert faq_id
    details = {
        "transcript": f"conversations/{conversation_id.group(1)}",
        "lead": f"leads/{lead_id.group(1)}",
        "document": f"knowledge/documents/{document_id.group(1)}",
        "faq": f"knowledge/faqs/{faq_id.group(1)}",
    }
    for name, path in details.items():
        pages[name] = (await web.client.get(web.url(path))).text
    # The list of documents as htmx polls and swaps it in (its delete button's hx-confirm
    # names the title).
    fragment = await web.client.get(web.url("knowledge/documents"), headers={"HX-Request": "true"})
    pages["documents fragment"] = fragment.text
    pages["analytics"] = (await web.client.get(web.url("analytics"))).text

    for name, text in pages.items():
        assert "<img src=x" not in text, name
        assert f"alert('{mark}')" not in text, name
    for name in (
        "conversations",
        "transcript",
        "unanswered",
        "leads",
        "lead",
        "knowledge",
        "document",
        "faq",
        "documents fragment",
    ):
        assert escaped in pages[name], name  # shown, as text
    assert f'hx-confirm="Delete “{escaped}”' in pages["documents fragment"]

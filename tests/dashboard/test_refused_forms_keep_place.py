"""A refused dashboard form comes back as its page, with what the owner typed and why, not as
the generic error page (whose only way on is "Back to the dashboard"): the FAQ CSV import (the
rows to fix listed beside the import form, nothing of the file stored), the playground asked
without script (the question kept in its box), the workspace deletion's typed slug (kept, and
what was typed set against what was asked). The getting-started checklist says each step's
status once to a screen reader."""

from __future__ import annotations

import html
import re
import uuid
from html.parser import HTMLParser

import httpx

from tests.dashboard.conftest import WebOwner
from tests.dashboard.test_faq_quota import csv_of, import_csv


class _Spoken(HTMLParser):
    """The text of each ``<li>`` a screen reader reads (``aria-hidden`` subtrees left out)."""

    VOID = {"input", "br", "img", "meta", "link", "hr"}

    def __init__(self) -> None:
        super().__init__()
        self.items: list[str] = []
        self._stack: list[bool] = []  # per open element: hidden from assistive technology
        self._in_li = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.VOID:
            return
        hidden = dict(attrs).get("aria-hidden") == "true" or (bool(self._stack) and self._stack[-1])
        self._stack.append(hidden)
        if tag == "li":
            self._in_li = True
            self.items.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.VOID:
            return
        if self._stack:
            self._stack.pop()
        if tag == "li":
            self._in_li = False

    def handle_data(self, data: str) -> None:
        if self._in_li and not (self._stack and self._stack[-1]):
            self.items[-1] += data


async def test_each_checklist_step_says_its_status_once(web: WebOwner) -> None:
    page = await web.client.get(web.url())
    assert page.status_code == 200
    checklist = page.text.split('<ol class="checklist">', 1)[1].split("</ol>", 1)[0]
    spoken = _Spoken()
    spoken.feed(checklist)
    assert spoken.items
    for item in spoken.items:
        said = re.findall(r"\bto do\b|\bdone\b", item, flags=re.IGNORECASE)
        assert len(said) == 1, item


def _import_form(text: str) -> str:
    found = re.search(r'<form[^>]*id="faq-import".*?</form>', text, flags=re.S)
    assert found is not None, text
    return html.unescape(found.group(0))


async def test_a_refused_faq_import_lists_its_rows_beside_the_import_form(web: WebOwner) -> None:
    tag = uuid.uuid4().hex[:6]
    data = b"question,answer\nQuestion %s one?,Answer one.\n,No question\n" % tag.encode()
    refused = await import_csv(web, data)
    assert refused.status_code == 422, refused.text
    assert "<h1>Knowledge" in refused.text  # the page itself, not "Something is not right"
    form = _import_form(refused.text)
    assert "Nothing was imported: rows 3 need fixing" in form
    assert re.search(r"Row 3.*question", form, flags=re.S), form
    assert 'role="alert"' in form
    assert 'aria-invalid="true"' in form
    faqs = await web.client.get(web.url("knowledge"))
    assert f"Question {tag} one?" not in faqs.text


async def test_an_import_refused_halfway_stores_none_of_its_rows(web: WebOwner) -> None:
    tag = uuid.uuid4().hex[:6]
    first, second = f"First {tag} question?", f"Second {tag} question?"
    for question in (first, second):
        added = await web.post(web.url("knowledge/faqs"), {"question": question, "answer": "Yes."})
        assert added.status_code == 303, added.text
    # Row 2 is new; row 3 updates the first FAQ with the second's question as another
    # phrasing: refused when it is reached, after row 2 was stored.
    data = (
        f"question,answer,alt_questions\nNew {tag} question?,New.\n{first},Changed.,{second}\n"
    ).encode()
    refused = await import_csv(web, data)
    assert refused.status_code == 422, refused.text
    assert "Row 3" in _import_form(refused.text)
    assert f"New {tag} question?" not in refused.text  # the page drawn shows no half import
    faqs = await web.client.get(web.url("knowledge"))
    assert f"New {tag} question?" not in faqs.text
    assert "Changed." not in faqs.text


async def test_an_import_over_the_plan_limit_comes_back_to_the_form(web: WebOwner) -> None:
    tag = uuid.uuid4().hex[:6]
    refused = await import_csv(web, csv_of(range(101), tag))
    assert refused.status_code == 429, refused.text
    form = _import_form(refused.text)
    assert "Plan limit reached" in form
    assert "This file adds 101 FAQs" in form


async def test_an_import_without_a_file_comes_back_to_the_form(web: WebOwner) -> None:
    refused = await web.post(web.url("knowledge/faqs/import"), {})
    assert refused.status_code == 422, refused.text
    assert "Choose a CSV file to import" in _import_form(refused.text)


def _question_box(text: str) -> str:
    found = re.search(r'<textarea id="message"[^>]*>(.*?)</textarea>', text, flags=re.S)
    assert found is not None, text
    return html.unescape(found.group(1))


async def test_a_question_refused_without_script_stays_in_its_box(
    web: WebOwner, client: httpx.AsyncClient
) -> None:
    long = "Do you ship " + "very " * 400 + "far?"  # past MAX_MESSAGE_CHARS (2000)
    refused = await web.post(web.url("playground"), {"message": long})
    assert refused.status_code == 422, refused.text
    assert "<h1>Playground</h1>" in refused.text
    assert _question_box(refused.text) == long
    assert "longer than 2000 characters" in refused.text
    assert 'aria-invalid="true"' in refused.text

    with_nul = await web.post(web.url("playground"), {"message": "Open on\x00 Sunday?"})
    assert with_nul.status_code == 422, with_nul.text
    assert _question_box(with_nul.text) == "Open on Sunday?"

    # With a conversation going, its answers stay on the page too.
    asked = await web.post(web.url("playground"), {"message": "Hello there?"})
    assert asked.status_code == 303, asked.text
    conversation = asked.headers["location"].split("conversation=", 1)[1].split("#", 1)[0]
    again = await web.post(
        web.url("playground"), {"message": long, "conversation_id": conversation}
    )
    assert again.status_code == 422, again.text
    assert "Hello there?" in again.text
    assert f'value="{conversation}"' in again.text


async def test_a_wrong_slug_is_kept_and_set_against_the_slug(web: WebOwner) -> None:
    settings = await web.client.get(web.url("settings"))
    slug = re.search(r"Type its slug, <code>([^<]+)</code>", settings.text)
    assert slug is not None
    typed = slug.group(1) + "x"
    wrong = await web.post(web.url("settings/delete"), {"confirm": typed})
    assert wrong.status_code == 422
    field = re.search(r'<input id="delete-confirm"[^>]*>', wrong.text)
    assert field is not None
    assert f'value="{typed}"' in field.group(0)
    error = re.search(r'id="delete-confirm-error">(.*?)</p>', wrong.text, flags=re.S)
    assert error is not None
    said = html.unescape(error.group(1))
    assert f"you typed “{typed}”, not {slug.group(1)}. Nothing was deleted." in said

"""An FAQ or a lead edited in two tabs (or by two teammates) at once: the second save no
longer writes over the first without a word (the answer changed and switched off in one tab
came back, on, when the other tab added a phrasing; a lead's status and notes went back: an
exploratory pass found both). The form carries the version it showed; a save of an older one
is refused 409 with what was typed and the saved version, and a second Save replaces it
knowingly."""

from __future__ import annotations

import html
import re
import uuid

import httpx

from tests.dashboard.conftest import WebOwner
from tests.dashboard.test_form_refusals import _lead_via_api

SEEN = re.compile(r'name="seen" value="([^"]+)"')


async def _form(web: WebOwner, faq_id: str) -> tuple[str, str]:
    page = await web.client.get(web.url(f"knowledge/faqs/{faq_id}"))
    assert page.status_code == 200, page.text
    found = SEEN.search(page.text)
    assert found is not None, page.text
    return found.group(1), page.text


async def test_a_second_tab_saving_an_older_version_is_told_and_can_save_again(
    web: WebOwner,
) -> None:
    question = f"Opening hours {uuid.uuid4().hex[:6]}?"
    created = await web.post(web.url("knowledge/faqs"), {"question": question, "answer": "9 to 5"})
    assert created.status_code == 303
    knowledge = await web.client.get(web.url("knowledge"))
    faq_id = re.search(r'data-faq="([^"]+)"', knowledge.text).group(1)  # type: ignore[union-attr]
    first, _ = await _form(web, faq_id)
    second, _ = await _form(web, faq_id)  # the other tab, opened before either saves

    saved = await web.post(
        web.url(f"knowledge/faqs/{faq_id}"),
        {"question": question, "answer": "9 to 6", "seen": first},  # switched off
    )
    assert saved.status_code == 303, saved.text

    typed = {
        "question": question,
        "answer": "9 to 5",
        "alt_questions": "when do you open",
        "enabled": "on",
        "seen": second,
    }
    refused = await web.post(web.url(f"knowledge/faqs/{faq_id}"), typed)
    assert refused.status_code == 409, refused.text
    text = html.unescape(refused.text)
    assert "This FAQ was changed meanwhile" in text
    assert "The saved version is: “9 to 6” (switched off)" in text
    assert ">when do you open</textarea>" in refused.text  # what was typed, kept
    _, shown = await _form(web, faq_id)
    assert "9 to 6</textarea>" in shown  # the first tab's save stands
    assert 'name="enabled" checked' not in shown

    again = SEEN.search(refused.text).group(1)  # type: ignore[union-attr]
    replaced = await web.post(web.url(f"knowledge/faqs/{faq_id}"), {**typed, "seen": again})
    assert replaced.status_code == 303, replaced.text
    _, shown = await _form(web, faq_id)
    assert ">when do you open</textarea>" in shown
    assert 'name="enabled" checked' in shown

    # A form of a page from before this (no version sent) saves as it did.
    plain = {"question": question, "answer": "10 to 4", "enabled": "on"}
    assert (await web.post(web.url(f"knowledge/faqs/{faq_id}"), plain)).status_code == 303


async def test_a_lead_saved_from_an_older_page_is_told_not_written_over(
    client: httpx.AsyncClient, web: WebOwner
) -> None:
    """One tab set the lead "contacted" with notes; the other, opened before, set it "new"
    with its own notes and wrote over both without a word."""
    lead_id = await _lead_via_api(client, web)
    first = await _seen(web, f"leads/{lead_id}")
    second = await _seen(web, f"leads/{lead_id}")
    url = web.url(f"leads/{lead_id}")
    saved = await web.post(url, {"status": "contacted", "notes": "Called Monday", "seen": first})
    assert saved.status_code == 303, saved.text
    typed = {"status": "new", "notes": "Wants a quote", "seen": second}
    refused = await web.post(url, typed)
    assert refused.status_code == 409, refused.text
    text = html.unescape(refused.text)
    assert "status or notes were changed meanwhile" in text
    assert "Saved now: status contacted, notes “Called Monday”" in text
    assert ">Wants a quote</textarea>" in refused.text
    assert "Called Monday</textarea>" in (await web.client.get(url)).text
    again = await web.post(url, {**typed, "seen": SEEN.search(refused.text).group(1)})  # type: ignore[union-attr]
    assert again.status_code == 303, again.text
    assert "Wants a quote</textarea>" in (await web.client.get(url)).text


async def _seen(web: WebOwner, path: str) -> str:
    page = await web.client.get(web.url(path))
    assert page.status_code == 200, page.text
    found = SEEN.search(page.text)
    assert found is not None, page.text
    return found.group(1)

"""The widget page's "Texts in your visitors' language": each text saved with the JSON API's
schema (empty: the English default, shown greyed), a refused one shown beside its field with
what was typed, and the transcript's note of the widget's thanks in the owner's words."""

from __future__ import annotations

import html
import re
import uuid

import pytest

from api.runtime import Runtime
from dashboard.pages import widget as widget_page
from tests.dashboard.conftest import WebOwner
from workspaces import repository as ws_repo
from workspaces.widget_texts import TEXT_FIELDS

BASE = {"lead_capture": "on_intent", "lead_fields": ["email"], "position": "bottom-right"}


def _field(page: str, name: str) -> str:
    """The text in the form's field for text ``name`` (an input's value, a textarea's body)."""
    tid = f"text_{name}"
    found = re.search(rf'<input id="{tid}" name="{tid}"[^>]* value="([^"]*)"', page) or re.search(
        rf'<textarea id="{tid}" name="{tid}"[^>]*>([^<]*)</textarea>', page
    )
    assert found, name
    return html.unescape(found.group(1))


async def _public_texts(runtime: Runtime, web: WebOwner) -> dict[str, object]:
    async with runtime.db.transaction(workspace_id=uuid.UUID(web.workspace_id)) as session:
        workspace = await ws_repo.get_workspace(session, uuid.UUID(web.workspace_id))
        assert workspace is not None
    config = await web.client.get(
        "/api/v1/widget/config", headers={"X-Widget-Key": workspace.public_key}
    )
    assert config.status_code == 200, config.text
    texts: dict[str, object] = config.json()["texts"]
    return texts


async def test_texts_are_saved_from_the_form_and_emptied_back_to_the_default(
    runtime: Runtime, web: WebOwner
) -> None:
    page = await web.client.get(web.url("widget"))
    assert page.status_code == 200
    for name, spec in TEXT_FIELDS.items():
        assert _field(page.text, name) == ""
        shown = re.search(rf'id="text_{name}" [^>]*placeholder="([^"]*)"', page.text)
        assert shown, name
        assert html.unescape(shown.group(1)) == spec.default, name

    typed = {
        "text_dont_know": "No lo sé.\r\n¿Nos deja su correo?",
        "text_placeholder": "Escriba su mensaje…",
        "text_send_button": "Enviar",
    }
    saved = await web.post(web.url("widget"), {**BASE, **typed})
    assert saved.status_code == 303, saved.text
    page = await web.client.get(web.url("widget"))
    assert _field(page.text, "dont_know") == "No lo sé.\n¿Nos deja su correo?"
    assert _field(page.text, "send_button") == "Enviar"
    texts = await _public_texts(runtime, web)
    assert texts["placeholder"] == "Escriba su mensaje…"
    assert texts["handoff"] is None

    emptied = await web.post(web.url("widget"), {**BASE, "text_send_button": "Enviar"})
    assert emptied.status_code == 303
    texts = await _public_texts(runtime, web)
    assert texts == {**dict.fromkeys(TEXT_FIELDS), "send_button": "Enviar"}


async def test_a_refused_text_is_shown_beside_its_field_and_nothing_is_saved(
    runtime: Runtime, web: WebOwner
) -> None:
    for name, value, message in (
        ("handoff", "Hola <b>amigo</b>", "plain text"),
        ("skip_button", "x" * 31, "at most 30"),
        ("placeholder", "tab\there", "control character U+0009"),
        ("lead_thanks", "Gracias, le escribimos a {correo}.", "{correo}"),
    ):
        refused = await web.post(web.url("widget"), {**BASE, f"text_{name}": value})
        assert refused.status_code == 422, (name, refused.text)
        error = re.search(rf'<p class="field-error" id="text_{name}-err">([^<]*)</p>', refused.text)
        assert error, (name, refused.text[-2000:])
        assert message in html.unescape(error.group(1)), name
        assert _field(refused.text, name) == value  # what was typed stays in the field
    assert await _public_texts(runtime, web) == dict.fromkeys(TEXT_FIELDS)


async def test_the_transcript_shows_the_widgets_thanks_in_the_owners_words(
    runtime: Runtime, web: WebOwner
) -> None:
    thanks = "¡Gracias! Le escribiremos a {email}."
    assert (await web.post(web.url("widget"), {**BASE, "text_lead_thanks": thanks})).status_code
    async with runtime.db.transaction(workspace_id=uuid.UUID(web.workspace_id)) as session:
        workspace = await ws_repo.get_workspace(session, uuid.UUID(web.workspace_id))
        assert workspace is not None
    session_id = f"v-{uuid.uuid4().hex}"
    headers = {"X-Widget-Key": workspace.public_key}
    asked = await web.client.post(
        "/api/v1/chat",
        json={"message": "Quiero hablar con una persona", "session_id": session_id},
        headers=headers,
    )
    assert asked.json()["intent"] == "human", asked.text
    conversation_id = asked.json()["conversation_id"]
    email = f"cliente-{uuid.uuid4().hex[:10]}@example.org"
    sent = await web.client.post(
        "/api/v1/widget/leads",
        json={"email": email, "session_id": session_id, "conversation_id": conversation_id},
        headers=headers,
    )
    assert sent.status_code == 202, sent.text
    page = await web.client.get(web.url(f"conversations/{conversation_id}"))
    assert f"¡Gracias! Le escribiremos a {email}." in html.unescape(page.text)
    assert "in touch" not in page.text


async def test_a_control_character_in_the_name_or_a_question_is_shown_beside_its_field(
    web: WebOwner,
) -> None:
    """The bot's name and the suggested questions are plain text like the texts: a bell in
    either is refused beside its own field (it was saved, and shown by the widget as a box)."""
    for name, value in (("bot_name", "Bell\x07bot"), ("suggested_questions", "What\x07 is it?")):
        refused = await web.post(web.url("widget"), {**BASE, name: value})
        assert refused.status_code == 422, (name, refused.text[-2000:])
        error = re.search(rf'<p class="field-error" id="{name}-err">([^<]*)</p>', refused.text)
        assert error, (name, refused.text[-2000:])
        assert "control character U+0007" in html.unescape(error.group(1)), name


def _groups(page: str) -> dict[str, list[str]]:
    """Each group of the texts (its fieldset's data-text-group) and the texts' fields in it."""
    groups = re.findall(r'<fieldset data-text-group="([^"]+)">(.*?)</fieldset>', page, re.S)
    return {key: re.findall(r'id="text_([a-z_]+)"', body) for key, body in groups}


def _texts_open(page: str) -> bool:
    found = re.search(r'<details class="texts" data-testid="widget-texts"( open)?>', page)
    assert found
    return bool(found.group(1))


async def test_the_texts_are_grouped_and_open_when_written_or_refused(web: WebOwner) -> None:
    """Nineteen texts in one list under the other settings: the texts are grouped by where a
    visitor reads them (the bot's replies, the contact form, the chat window), each once, and
    folded away until the owner writes one, or one is refused (its error in sight)."""
    page = (await web.client.get(web.url("widget"))).text
    groups = _groups(page)
    assert list(groups) == [
        "replies",
        "contact-form",
        "chat-window",
        "errors",
        "screen-readers",
    ]
    placed = [name for names in groups.values() for name in names]
    assert sorted(placed) == sorted(TEXT_FIELDS)  # each text once
    assert "lead_thanks" in groups["contact-form"]
    assert "retry_button" in groups["chat-window"]
    assert not _texts_open(page)  # nothing written: folded

    refused = await web.post(web.url("widget"), {**BASE, "text_retry_button": "x" * 31})
    assert refused.status_code == 422
    assert _texts_open(refused.text)
    assert _field(refused.text, "retry_button") == "x" * 31

    saved = await web.post(web.url("widget"), {**BASE, "text_send_button": "Enviar"})
    assert saved.status_code == 303
    page = (await web.client.get(web.url("widget"))).text
    assert _texts_open(page)
    assert f"(1 of {len(TEXT_FIELDS)} written)" in page


def test_a_text_no_group_names_still_has_its_field(monkeypatch: pytest.MonkeyPatch) -> None:
    """A text added to TEXT_FIELDS but to no group gets a field in "Other texts": a missing
    field would empty that text at every save of the form."""
    first, *rest = widget_page.TEXT_GROUPS
    monkeypatch.setattr(widget_page, "TEXT_GROUPS", ((*first[:2], first[2][1:]), *rest))
    groups = widget_page.text_groups()
    assert groups[-1] == ("other", "Other texts", [first[2][0]])
    assert sorted(n for _, _, names in groups for n in names) == sorted(TEXT_FIELDS)


async def test_a_text_with_placeholders_says_under_it_what_each_stands_for(
    web: WebOwner,
) -> None:
    """Sixty texts, some with placeholders ({email}, {bot_name}, {minutes}, ...): under each
    such field, and read with it, what each of its placeholders stands for; no other is
    named (it would be refused)."""
    page = (await web.client.get(web.url("widget"))).text
    groups = _groups(page)
    assert "error_rate_limited" in groups["errors"]
    assert "open_label" in groups["screen-readers"]
    assert "lead_prompt_handoff" in groups["contact-form"]
    takes = re.search(r'<p class="hint" id="text_lead_thanks-takes">(.*?)</p>', page, re.S)
    assert takes
    assert "<code>{email}</code>: the address the visitor left" in takes.group(1)
    described = re.search(r'id="text_open_label" [^>]*aria-describedby="([^"]*)"', page)
    assert described
    assert described.group(1) == "texts-hint text_open_label-takes"
    assert 'id="text_dont_know-takes"' not in page

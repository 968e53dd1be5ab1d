"""The texts a visitor reads, in the owner's words (the widget settings' ``texts``): set through
the API, served to the widget by ``/api/v1/widget/config``, refused when they are no plain text
(HTML, control characters, too long), and merged field by field; null puts one back to its
English default. A workspace's texts are its own."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import Owner, signup
from workspaces.widget_texts import TEXT_FIELDS

GERMAN = {
    "dont_know": "Das weiß ich leider nicht.\nMöchten Sie uns Ihre E-Mail-Adresse hinterlassen?",
    "handoff": "Gern verbinde ich Sie mit unserem Team.",
    "lead_prompt": "Hinterlassen Sie Ihre Daten, wir melden uns.",
    "lead_thanks": "Danke! Wir melden uns unter {email}.",
    "placeholder": "Ihre Nachricht…",
    "send_button": "Senden",
    "skip_button": "Nicht jetzt",
    "email_label": "E-Mail",
}


async def _patch(client: httpx.AsyncClient, owner: Owner, body: dict[str, Any]) -> httpx.Response:
    return await client.patch(owner.url("/widget"), json=body, headers=owner.headers)


async def _public(client: httpx.AsyncClient, owner: Owner) -> dict[str, Any]:
    response = await client.get(
        "/api/v1/widget/config", headers={"X-Widget-Key": owner.workspace["public_key"]}
    )
    assert response.status_code == 200, response.text
    texts: dict[str, Any] = response.json()["texts"]
    return texts


async def test_texts_are_saved_served_to_the_widget_and_merged_field_by_field(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    assert await _public(client, owner) == dict.fromkeys(TEXT_FIELDS)  # all defaults

    saved = await _patch(client, owner, {"texts": GERMAN})
    assert saved.status_code == 200, saved.text
    assert saved.json()["texts"] == {**dict.fromkeys(TEXT_FIELDS), **GERMAN}
    assert await _public(client, owner) == {**dict.fromkeys(TEXT_FIELDS), **GERMAN}

    # Only the fields sent change; null (or nothing visible) puts one back to its default; a
    # PATCH without texts leaves them alone.
    changed = await _patch(
        client,
        owner,
        {"texts": {"send_button": " Abschicken ", "skip_button": None, "placeholder": "\u200b "}},
    )
    assert changed.status_code == 200, changed.text
    assert (await _patch(client, owner, {"bot_name": "Lotte"})).status_code == 200
    served = await _public(client, owner)
    assert served["send_button"] == "Abschicken"
    assert served["skip_button"] is None
    assert served["placeholder"] is None
    assert served["handoff"] == GERMAN["handoff"]

    # Another workspace still has the English defaults.
    other = await signup(client, "Other shop")
    assert await _public(client, other) == dict.fromkeys(TEXT_FIELDS)

    # ``texts: null``: every text back to its default.
    assert (await _patch(client, owner, {"texts": None})).status_code == 200
    assert await _public(client, owner) == dict.fromkeys(TEXT_FIELDS)


@pytest.mark.parametrize(
    ("texts", "code", "field"),
    [
        ({"placeholder": "x" * 81}, "validation_error", "texts.placeholder"),
        ({"dont_know": "y" * 501}, "validation_error", "texts.dont_know"),
        ({"handoff": "Schreiben Sie <b>uns</b>"}, "validation_error", "texts.handoff"),
        ({"lead_prompt": "Fish &amp; chips"}, "validation_error", "texts.lead_prompt"),
        ({"send_button": "Sen\x00den"}, "invalid_text", "texts.send_button"),
        ({"placeholder": "Tab\there"}, "invalid_text", "texts.placeholder"),
        ({"lead_thanks": "Two\nlines"}, "invalid_text", "texts.lead_thanks"),
        ({"dont_know": "bell\x07"}, "invalid_text", "texts.dont_know"),
        ({"greeting": "hi"}, "validation_error", "texts.greeting"),
        ({"placeholder": 5}, "validation_error", "texts.placeholder"),
    ],
)
async def test_texts_that_are_not_plain_text_are_refused_and_change_nothing(
    client: httpx.AsyncClient, owner: Owner, texts: dict[str, Any], code: str, field: str
) -> None:
    assert (await _patch(client, owner, {"texts": {"send_button": "Senden"}})).status_code == 200
    refused = await _patch(client, owner, {"texts": texts})
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["code"] == code
    assert error["details"][0]["field"] == field
    served = await _public(client, owner)
    assert served == {**dict.fromkeys(TEXT_FIELDS), "send_button": "Senden"}


async def test_plain_text_with_angle_brackets_apart_and_line_breaks_is_taken(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    texts = {"dont_know": "Pas de réponse :-(\r\nÉcrivez-nous: 2 < 3 & 4 > 1", "placeholder": "Q&A"}
    saved = await _patch(client, owner, {"texts": texts})
    assert saved.status_code == 200, saved.text
    served = await _public(client, owner)
    assert served["dont_know"] == "Pas de réponse :-(\nÉcrivez-nous: 2 < 3 & 4 > 1"
    assert served["placeholder"] == "Q&A"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"bot_name": "Bell\x07bot"}, "bot_name"),
        ({"bot_name": "Two\nlines"}, "bot_name"),
        ({"bot_name": "Ava\u202e"}, "bot_name"),
        ({"greeting": "Hi\x1b[31m there"}, "greeting"),
        ({"greeting": "Hallo\u2066"}, "greeting"),
        ({"suggested_questions": ["Prices?", "What\x07 is it?"]}, "suggested_questions.1"),
        ({"suggested_questions": ["Two\nlines?"]}, "suggested_questions.0"),
        ({"suggested_questions": ["One\u2028line?"]}, "suggested_questions.0"),
        ({"texts": {"placeholder": "Ihre\u2028Nachricht"}}, "texts.placeholder"),
        ({"texts": {"send_button": "Senden\u202e"}}, "texts.send_button"),
    ],
)
async def test_the_other_strings_a_visitor_reads_refuse_control_characters_too(
    client: httpx.AsyncClient, owner: Owner, body: dict[str, Any], field: str
) -> None:
    """The bot's name, the greeting and the suggested questions are shown by the widget as the
    texts are: a bell, an escape, a line break in a title or a button, or a bidirectional
    override left open (which turns "Hi! I'm <name>. How can I help?" around after the name)
    were saved and served as typed."""
    before = await _public_config(client, owner)
    refused = await _patch(client, owner, body)
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["code"] == "invalid_text"
    assert error["details"][0]["field"] == field
    assert await _public_config(client, owner) == before


async def test_line_breaks_and_direction_marks_stay_where_they_are_text(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    body = {
        "bot_name": "\u05e2\u05d5\u05d6\u05e8 \u200fBot",
        "greeting": "Hello!\nAsk me anything.",
        "suggested_questions": ["What does it cost?"],
        "texts": {"dont_know": "No idea.\nWrite to us."},
    }
    saved = await _patch(client, owner, body)
    assert saved.status_code == 200, saved.text
    served = await _public_config(client, owner)
    assert served["bot_name"] == body["bot_name"]
    assert served["greeting"] == body["greeting"]
    assert served["suggested_questions"] == body["suggested_questions"]
    assert served["texts"]["dont_know"] == "No idea.\nWrite to us."


async def _public_config(client: httpx.AsyncClient, owner: Owner) -> dict[str, Any]:
    response = await client.get(
        "/api/v1/widget/config", headers={"X-Widget-Key": owner.workspace["public_key"]}
    )
    assert response.status_code == 200, response.text
    config: dict[str, Any] = response.json()
    return config


# What a German shop's visitors read besides the texts above: the widget's other refusals, the
# contact form's own checks and prompts, and what screen readers read (all fixed English).
GERMAN_WIDGET = {
    "error_over_quota": "Der Assistent ist gerade nicht erreichbar.",
    "error_unavailable": "Dieser Chat ist gerade nicht verfügbar.",
    "error_rate_limited": "Zu viele Nachrichten. Bitte in {minutes} Minuten erneut versuchen.",
    "error_too_long": "Ihre Nachricht ist länger als {max} Zeichen.",
    "lead_prompt_before": "Bevor wir beginnen: Wie erreichen wir Sie?",
    "lead_prompt_handoff": "Hinterlassen Sie Ihre Daten, jemand meldet sich.",
    "lead_invalid_email": "Bitte eine gültige E-Mail-Adresse eingeben.",
    "open_label": "Chat mit {bot_name} öffnen",
    "typing_label": "{bot_name} schreibt",
    "you_label": "Sie:",
    "sources_label": "Quellen",
    "helpful_label": "Hilfreich",
    "not_helpful_label": "Nicht hilfreich",
    "goodbye_reply": "Danke für das Gespräch mit {bot_name}!",
    "no_contact_hint": "Sie erreichen das Team über die Kontaktseite.",
}


async def test_the_widgets_other_messages_and_labels_are_the_owners_too(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """The rate-limit, quota and key refusals, the contact form's prompts and checks, and the
    screen readers' labels were English whatever the owner wrote: each is a text now, with
    its placeholders, served to the widget."""
    saved = await _patch(client, owner, {"texts": GERMAN_WIDGET})
    assert saved.status_code == 200, saved.text
    assert await _public(client, owner) == {**dict.fromkeys(TEXT_FIELDS), **GERMAN_WIDGET}
    assert all(spec.default for spec in TEXT_FIELDS.values())  # an English default for each


@pytest.mark.parametrize(
    ("texts", "field"),
    [
        ({"dont_know": "Schreiben Sie an {email}"}, "texts.dont_know"),
        ({"lead_thanks": "Danke! Wir schreiben an {e-mail}."}, "texts.lead_thanks"),
        ({"lead_thanks": "Danke, {bot_name}!"}, "texts.lead_thanks"),
        ({"open_label": "Chat mit {name}"}, "texts.open_label"),
        ({"error_rate_limited": "Bitte in {seconds} Sekunden"}, "texts.error_rate_limited"),
        ({"lead_thanks": "Danke! Wir schreiben an { email }."}, "texts.lead_thanks"),
        # Doubled braces (a template habit) were taken: the visitor read "{Aria}".
        (
            {"goodbye_reply": "Danke, dass Sie mit {{bot_name}} gechattet haben."},
            "texts.goodbye_reply",
        ),
        ({"lead_thanks": "Danke! Wir schreiben an {{email}}."}, "texts.lead_thanks"),
        ({"lead_thanks": "Danke! Wir schreiben an {email}}."}, "texts.lead_thanks"),
    ],
)
async def test_a_placeholder_the_text_does_not_fill_in_is_refused(
    client: httpx.AsyncClient, owner: Owner, texts: dict[str, Any], field: str
) -> None:
    """A placeholder a text does not take was saved and shown to visitors as typed ("an
    {e-mail}"): 422 invalid_text naming the field and the placeholders it takes."""
    refused = await _patch(client, owner, {"texts": texts})
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert (error["code"], error["details"][0]["field"]) == ("invalid_text", field)
    assert await _public(client, owner) == dict.fromkeys(TEXT_FIELDS)
    # Braces around several words, or alone, are no placeholder: plain text.
    taken = await _patch(client, owner, {"texts": {"placeholder": "Frage {ja oder nein} {"}})
    assert taken.status_code == 200, taken.text

"""A refused widget text is explained beside its field in the form's words: the reason named
the JSON API's path of the field ("texts.page_label holds {pages}, ...", "bot_name holds the
control character U+0007"), which the owner, reading the label "The page of a cited source",
had never seen."""

from __future__ import annotations

import html
import re

from tests.dashboard.conftest import WebOwner

BASE = {"lead_capture": "on_intent", "lead_fields": ["email"], "position": "bottom-right"}


async def test_a_refused_text_is_named_as_the_form_names_it(web: WebOwner) -> None:
    for field, value, reason in (
        ("text_page_label", "S. {pages}", "This text holds {pages}, which is no placeholder"),
        ("text_unclear_reply", "Sorry?\x07", "This text holds the control character U+0007"),
        ("bot_name", "Bell\x07bot", "This text holds the control character U+0007"),
    ):
        refused = await web.post(web.url("widget"), {**BASE, field: value})
        assert refused.status_code == 422, (field, refused.text[-2000:])
        error = re.search(rf'<p class="field-error" id="{field}-err">([^<]*)</p>', refused.text)
        assert error, (field, refused.text[-2000:])
        said = html.unescape(error.group(1))
        assert said.startswith(reason), (field, said)
        assert "texts." not in said
        assert "bot_name" not in said

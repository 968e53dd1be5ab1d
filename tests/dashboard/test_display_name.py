"""The account page changes the owner's display name: trimmed, at most 200 characters, one
line of plain text, removed when left empty; the form needs the page's CSRF token like every
other, and a refused name comes back in its field with the reason."""

from __future__ import annotations

import html
import re
import uuid

from tests.dashboard.conftest import WebOwner
from tests.dashboard.test_notices import notice_of

NAME_FIELD = re.compile(r'<input id="display-name" name="name"[^>]* value="([^"]*)"')


def name_shown(page: str) -> str:
    found = NAME_FIELD.search(page)
    assert found, page
    return html.unescape(found.group(1))


async def test_an_owner_sets_changes_and_removes_their_name(web: WebOwner) -> None:
    page = await web.client.get("/app/account")
    assert name_shown(page.text) == ""
    name = f"Ada Lovelace {uuid.uuid4().hex[:6]}"
    saved = await web.post("/app/account/name", {"name": f"  {name}\u200b "})
    assert saved.status_code == 303, saved.text
    shown = await web.client.get(saved.headers["location"])
    assert notice_of(shown.text) == "Name saved"
    assert name_shown(shown.text) == name
    removed = await web.post("/app/account/name", {"name": "   "})
    assert removed.status_code == 303
    shown = await web.client.get(removed.headers["location"])
    assert notice_of(shown.text) == "Name removed"
    assert name_shown(shown.text) == ""


async def test_a_refused_name_comes_back_with_the_reason_and_changes_nothing(
    web: WebOwner,
) -> None:
    assert (await web.post("/app/account/name", {"name": "Grace Hopper"})).status_code == 303
    refused = {
        "x" * 201: "Use at most 200 characters.",
        "Grace\nHopper": "contains the control character U+000A",
        "Grace \u202eHopper": "contains the control character U+202E",
    }
    for typed, reason in refused.items():
        answer = await web.post("/app/account/name", {"name": typed})
        assert answer.status_code == 422, typed
        assert reason in answer.text
        assert name_shown(answer.text) == typed  # what was typed, to fix it
        assert 'aria-invalid="true"' in answer.text
    # 200 characters are fine; nothing refused was kept.
    assert name_shown((await web.client.get("/app/account")).text) == "Grace Hopper"
    assert (await web.post("/app/account/name", {"name": "y" * 200})).status_code == 303
    assert name_shown((await web.client.get("/app/account")).text) == "y" * 200


async def test_the_name_form_needs_the_pages_token(web: WebOwner) -> None:
    forged = await web.client.post("/app/account/name", data={"name": "Mallory"})
    assert forged.status_code == 403
    wrong = await web.client.post("/app/account/name", data={"name": "Mallory", "csrf_token": "x"})
    assert wrong.status_code == 403
    assert name_shown((await web.client.get("/app/account")).text) == ""

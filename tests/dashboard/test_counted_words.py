"""Counts read as sentences: a new owner's walk met "1 file(s) added", "1 document(s)." and
"0 lead(s)." on their first pages; one thing is named in the singular, others in the plural."""

from __future__ import annotations

import re
import uuid

from tests.dashboard.conftest import WebOwner
from tests.dashboard.test_notices import notice_of


def _file(text: str) -> tuple[str, bytes, str]:
    return (f"f-{uuid.uuid4().hex[:8]}.txt", f"{text} {uuid.uuid4().hex}".encode(), "text/plain")


async def test_the_upload_notice_and_the_lists_count_in_words(web: WebOwner) -> None:
    one = await web.post(web.url("knowledge/upload"), files={"files": _file("first")})
    shown = await web.client.get(one.headers["location"])
    assert notice_of(shown.text) == "1 file added"
    assert re.search(r"<p class=\"muted\">1 document[.;]", shown.text), shown.text
    assert "(s)" not in shown.text
    two = await web.post(
        web.url("knowledge/upload"),
        files=[("files", _file("second")), ("files", _file("third"))],
    )
    shown = await web.client.get(two.headers["location"])
    assert notice_of(shown.text) == "2 files added"
    assert re.search(r"<p class=\"muted\">3 documents[.;]", shown.text), shown.text
    leads = await web.client.get(web.url("leads"))
    assert "0 leads." in leads.text
    assert "(s)" not in leads.text
    searched = await web.client.get(web.url("leads"), params={"q": "nobody-here"})
    assert "0 leads match." in searched.text

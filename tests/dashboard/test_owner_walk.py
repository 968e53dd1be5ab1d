"""What an owner noticed walking the conversations and leads after a month of use, keyboard and
screen reader included: a transcript's tab and heading said only "Conversation"; the list's "yes"
link in the Lead column said nothing else to a screen reader; the list's older and newer pages
were no navigation landmark (the leads list's are); a search's match was not marked in its row;
a page refused for a value in its address (an old or edited link) offered only the dashboard's
home, not the page itself without it."""

from __future__ import annotations

import re
import uuid
from html import unescape

from api.runtime import Runtime
from tests.dashboard.conftest import WebOwner
from tests.dashboard.test_conversation_status import _handoff
from tests.dashboard.test_list_place import LATER, handoff_with_lead

TITLE = re.compile(r"<title>([^<]*)</title>")


async def test_a_conversation_is_named_its_lead_link_says_whose_and_pages_are_a_navigation(
    runtime: Runtime, web: WebOwner
) -> None:
    conversation_id = await handoff_with_lead(
        runtime, web, f"jo-{uuid.uuid4().hex[:8]}@example.com"
    )
    transcript = await web.client.get(web.url(f"conversations/{conversation_id}"))
    title = TITLE.search(transcript.text)
    assert title, transcript.text
    assert re.fullmatch(r"Conversation of \d{4}-\d\d-\d\d \d\d:\d\d UTC · TrulyBot", title.group(1))

    listed = await web.client.get(web.url("conversations"))
    row = re.search(
        rf'<tr data-conversation="{conversation_id}">(.*?)</tr>', listed.text, flags=re.DOTALL
    )
    assert row, listed.text
    lead_cell = re.search(r'<td data-label="Lead">(.*?)</td>', row.group(1), flags=re.DOTALL)
    assert lead_cell, row.group(1)
    spoken = re.sub(r"<[^>]+>", "", lead_cell.group(1))
    assert re.fullmatch(r"yes: the lead of the conversation of .+ UTC", spoken), spoken

    # The list's pages are a navigation.
    older = await web.client.get(
        web.url("conversations"), params={"before": LATER, "before_id": str(uuid.uuid4())}
    )
    nav = re.search(r'<nav aria-label="Conversation pages">(.*?)</nav>', older.text, re.DOTALL)
    assert nav, older.text
    assert "Newest conversations" in nav.group(1)


async def test_a_searchs_match_is_marked_and_a_refused_address_leads_to_the_page(
    runtime: Runtime, web: WebOwner
) -> None:
    marker = uuid.uuid4().hex[:8]
    await _handoff(runtime, web, message=f"I want to talk to a human about refund {marker} <b>")
    listed = await web.client.get(web.url("conversations"), params={"q": f"REFUND {marker}"})
    cell = re.search(r'data-testid="mention">(.*?)</td>', listed.text, flags=re.DOTALL)
    assert cell, listed.text
    assert cell.group(1) == (
        f"I want to talk to a human about <mark>refund {marker}</mark> &lt;b&gt;"
    )
    assert f"<title>Conversations: “REFUND {marker}” · TrulyBot</title>" in listed.text

    # A page refused for a value in its address leads to the page without it.
    for path, query in (
        ("conversations", {"before": "yesterday"}),
        ("conversations", {"q": "x" * 201}),
        ("leads", {"status": "maybe"}),
    ):
        refused = await web.client.get(web.url(path), params=query)
        assert refused.status_code == 422, refused.text
        fresh = re.search(r'<a href="([^"]+)">Open the page without it</a>', refused.text)
        assert fresh, refused.text
        assert unescape(fresh.group(1)) == web.url(path)
        assert "in the page's address" in unescape(refused.text)

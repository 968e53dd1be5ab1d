"""Text search over conversations: an owner finds "the chat where someone asked about refunds".
The conversations page searches what was written in them (visitor and bot, ignoring case, the
text as typed: LIKE's wildcards are literal), with the leads search's conventions: at most 200
characters, the list's filters and pages keep it, only the workspace's own conversations."""

from __future__ import annotations

import re
import uuid
from html import unescape
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from api.runtime import Runtime
from tests.conftest import Owner
from tests.dashboard.conftest import WebOwner
from tests.dashboard.test_list_place import LATER, _public_key

ROWS = re.compile(r'<tr data-conversation="([^"]+)">')


async def _chat(client: httpx.AsyncClient, key: str, *messages: str) -> str:
    """A visitor's conversation of ``messages``; its id."""
    conversation: str | None = None
    session_id = f"v-{uuid.uuid4().hex[:10]}"
    for message in messages:
        body = {"message": message, "session_id": session_id}
        if conversation:
            body["conversation_id"] = conversation
        sent = await client.post("/api/v1/chat", json=body, headers={"X-Widget-Key": key})
        assert sent.status_code == 200, sent.text
        conversation = str(sent.json()["conversation_id"])
    assert conversation is not None
    return conversation


async def test_search_finds_the_conversations_that_mention_the_text(
    runtime: Runtime, web: WebOwner, owner: Owner
) -> None:
    key = await _public_key(runtime, web)
    marker = uuid.uuid4().hex[:8]
    refund = await _chat(
        web.client, key, "hello", f"Can I get a REFUND for order {marker}? It arrived broken"
    )
    hours = await _chat(web.client, key, f"what are your opening hours {marker}")
    # Another workspace's conversation about the same: never listed here.
    await _chat(web.client, owner.workspace["public_key"], f"refund for order {marker}")

    async def found(q: str, **filters: str) -> tuple[list[str], httpx.Response]:
        page = await web.client.get(web.url("conversations") + "?" + urlencode({"q": q, **filters}))
        assert page.status_code == 200, page.text
        return ROWS.findall(page.text), page

    rows, page = await found(f"refund for order {marker}")
    assert rows == [refund]
    # The matching words are shown in the row, where the first message was.
    assert f"REFUND for order {marker}" in unescape(page.text)
    assert (await found(marker))[0] == [hours, refund]
    assert (await found(f"  {marker}  ", status="open"))[0] == [hours, refund]
    assert (await found(marker, status="closed"))[0] == []
    assert (await found(f"order_{marker[1:]}"))[0] == []  # "_" is no wildcard either
    assert (await found(f"%{marker}"))[0] == []  # a literal "%", in no message
    rows, page = await found(f"nothing-{marker}")
    assert rows == []
    assert "No conversations match this search" in page.text

    # The row's link carries the search to the transcript and back.
    _, listed = await found(marker)
    link = re.search(rf'<tr data-conversation="{refund}">.*?<a href="([^"]+)"', listed.text, re.S)
    assert link, listed.text
    opened = await web.client.get(unescape(link.group(1)))
    back = re.search(r'<a href="([^"]+)">← Conversations</a>', opened.text)
    assert back, opened.text
    assert parse_qs(urlsplit(unescape(back.group(1))).query) == {"q": [marker]}

    # An older page of a search links to the newest page of the same search; a search of
    # more than 200 characters (or with a NUL) is refused with a message, not a 500.
    older = await web.client.get(
        web.url("conversations")
        + "?"
        + urlencode({"q": "refund", "before": LATER, "before_id": str(uuid.uuid4())})
    )
    assert older.status_code == 200, older.text
    newest = re.search(r'<a href="([^"]+)">Newest conversations</a>', older.text)
    assert newest, older.text
    assert parse_qs(urlsplit(unescape(newest.group(1))).query)["q"] == ["refund"]
    assert re.search(r'name="q"[^>]*value="refund"', older.text), older.text

    too_long = await web.client.get(web.url("conversations") + "?q=" + "x" * 201)
    assert too_long.status_code == 422, too_long.text
    assert "Use at most 200 characters" in too_long.text
    nul = await web.client.get(web.url("conversations") + "?q=a%00b")
    assert nul.status_code == 422, nul.text

"""An owner closes a handed-off conversation (or reopens it) from the dashboard: the transcript
and the list each carry the control, and the list's "handoff" filter empties as they are dealt
with (a reviewer's finding: only the JSON API could)."""

from __future__ import annotations

import html
import re
import uuid

import pytest

from api.runtime import Runtime
from tests.dashboard.conftest import WebOwner
from workspaces import repository as ws_repo


async def _handoff(
    runtime: Runtime,
    web: WebOwner,
    session_id: str | None = None,
    message: str = "I want to talk to a human",
) -> str:
    async with runtime.db.transaction(workspace_id=uuid.UUID(web.workspace_id)) as session:
        workspace = await ws_repo.get_workspace(session, uuid.UUID(web.workspace_id))
        assert workspace is not None
    asked = await web.client.post(
        "/api/v1/chat",
        json={
            "message": message,
            "session_id": session_id or f"v-{uuid.uuid4().hex}",
        },
        headers={"X-Widget-Key": workspace.public_key},
    )
    assert asked.status_code == 200, asked.text
    assert asked.json()["intent"] == "human", asked.text
    return str(asked.json()["conversation_id"])


def _rows(html: str) -> list[str]:
    return re.findall(r'data-conversation="([^"]+)"', html)


async def test_the_owner_closes_and_reopens_a_handoff_from_the_transcript(
    runtime: Runtime, web: WebOwner
) -> None:
    conversation_id = await _handoff(runtime, web)
    page = await web.client.get(web.url(f"conversations/{conversation_id}"))
    assert page.status_code == 200
    assert 'data-testid="conversation-status"' in page.text
    assert f'action="{web.url(f"conversations/{conversation_id}/status")}"' in page.text

    closed = await web.post(
        web.url(f"conversations/{conversation_id}/status"), {"status": "closed"}
    )
    assert closed.status_code == 303, closed.text
    assert closed.headers["location"].startswith(web.url(f"conversations/{conversation_id}?"))
    shown = await web.client.get(closed.headers["location"])
    assert "Conversation closed" in shown.text
    assert '<option value="closed" selected>' in shown.text
    queue = await web.client.get(web.url("conversations") + "?status=handoff")
    assert conversation_id not in _rows(queue.text)

    reopened = await web.post(
        web.url(f"conversations/{conversation_id}/status"), {"status": "open"}
    )
    assert reopened.status_code == 303
    listed = await web.client.get(web.url("conversations") + "?status=open")
    assert conversation_id in _rows(listed.text)


async def test_the_handoff_queue_empties_from_the_list(runtime: Runtime, web: WebOwner) -> None:
    conversation_id = await _handoff(runtime, web)
    queue = await web.client.get(web.url("conversations") + "?status=handoff")
    assert conversation_id in _rows(queue.text)
    closed = await web.post(
        web.url(f"conversations/{conversation_id}/status"),
        {"status": "closed", "from": "list", "list_status": "handoff"},
    )
    assert closed.status_code == 303
    assert closed.headers["location"].startswith(web.url("conversations") + "?status=handoff&")
    after = await web.client.get(closed.headers["location"])
    assert conversation_id not in _rows(after.text)
    assert "Conversation closed" in after.text


async def test_a_status_that_is_none_of_the_three_is_refused(
    runtime: Runtime, web: WebOwner
) -> None:
    conversation_id = await _handoff(runtime, web)
    refused = await web.post(web.url(f"conversations/{conversation_id}/status"), {"status": "x"})
    assert 400 <= refused.status_code < 500
    missing = await web.post(web.url(f"conversations/{uuid.uuid4()}/status"), {"status": "closed"})
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("message", "thanks"),
    [
        ("I want to talk to a human", "Thanks! We'll be in touch at {email}."),
        # The widget thanked a German visitor in German: the transcript says what they read.
        ("Ich möchte mit einem Menschen sprechen", "Danke! Wir melden uns unter {email}."),
    ],
)
async def test_the_transcript_shows_the_contact_form_the_visitor_sent(
    runtime: Runtime, web: WebOwner, message: str, thanks: str
) -> None:
    """After "please leave your email address" the owner reads that the visitor did, with what
    they left and the widget's thanks (a reviewer's finding: the transcript ended on the
    question, the form being no message)."""
    session_id = f"v-{uuid.uuid4().hex}"
    conversation_id = await _handoff(runtime, web, session_id, message)
    async with runtime.db.transaction(workspace_id=uuid.UUID(web.workspace_id)) as session:
        workspace = await ws_repo.get_workspace(session, uuid.UUID(web.workspace_id))
        assert workspace is not None
    email = f"visitor-{uuid.uuid4().hex[:10]}@example.org"
    sent = await web.client.post(
        "/api/v1/widget/leads",
        json={
            "email": email,
            "name": "Jo Visitor",
            "session_id": session_id,
            "conversation_id": conversation_id,
        },
        headers={"X-Widget-Key": workspace.public_key},
    )
    assert sent.status_code == 202, sent.text
    page = await web.client.get(web.url(f"conversations/{conversation_id}"))
    rows = re.findall(r'data-testid="(transcript-(?:message|lead))"', page.text)
    assert rows == ["transcript-message", "transcript-message", "transcript-lead"]
    assert f"left contact details with the form: {email}, Jo Visitor" in page.text
    assert sent.json()["thanks"] == thanks.format(email=email)
    assert thanks.format(email=email) in html.unescape(page.text)


async def test_the_list_says_where_each_conversation_took_place_in_the_filters_words(
    runtime: Runtime, web: WebOwner
) -> None:
    """The list's "Where" column read "site" and "owner" (the channel's name in the database)
    while its filter offers "On your site (visitors)" and "Playground and API": an owner did
    not know the playground chat they had just had was the "owner" row."""
    await _handoff(runtime, web)
    asked = await web.post(web.url("playground"), {"message": "hello there"})
    assert asked.status_code in (200, 303), asked.text
    listed = await web.client.get(web.url("conversations"))
    cells = re.findall(r'<td data-label="Where">([^<]*)</td>', listed.text)
    assert sorted(cells) == ["On your site", "Playground or API"]


async def test_the_list_says_what_each_visitor_asked_first(runtime: Runtime, web: WebOwner) -> None:
    """Each row of the list quotes its visitor's first message: with only a time, the number
    of messages and a status, a month's thousands of rows all looked alike and the owner opened
    them one by one to find the one about, say, kayaks."""
    marker = uuid.uuid4().hex[:8]
    first = await _handoff(runtime, web, message=f"I want to talk to a human about kayak {marker}")
    second = await _handoff(runtime, web, message=f"Can I speak to a person? Order {marker}-2")
    page = await web.client.get(web.url("conversations"))
    rows = dict(
        re.findall(r'<tr data-conversation="([^"]+)">(.*?)</tr>', page.text, flags=re.DOTALL)
    )
    assert f"I want to talk to a human about kayak {marker}" in html.unescape(rows[first])
    assert f"Can I speak to a person? Order {marker}-2" in html.unescape(rows[second])
    assert "kayak" not in rows[second]


async def test_an_older_page_leads_back_to_the_newest(runtime: Runtime, web: WebOwner) -> None:
    """A page of older conversations links to the newest ones, its filters kept (it offered
    only "Older conversations": back to the top was the browser's Back, page by page)."""
    await _handoff(runtime, web)
    first = await web.client.get(web.url("conversations") + "?status=handoff")
    assert "Newest conversations" not in first.text
    older = await web.client.get(
        web.url("conversations") + "?status=handoff&before=2000-01-01T00:00:00%2B00:00"
    )
    assert older.status_code == 200
    link = re.search(r'<a href="([^"]+)">Newest conversations</a>', older.text)
    assert link is not None, older.text
    assert html.unescape(link.group(1)) == (
        web.url("conversations") + "?status=handoff&channel=&lead="
    )

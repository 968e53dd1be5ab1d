"""The dashboard's transcript of a long conversation opens on its latest messages (the handoff,
the complaint, the lead an owner opens it for), with a link to the earlier ones. It showed the
first 500 and nothing else: the newest messages of a longer conversation were not on the page."""

from __future__ import annotations

import re
import uuid
from html import unescape

from api.runtime import Runtime
from core.db import Database
from rag.chat.conversations import TRANSCRIPT_PAGE
from tests.dashboard.conftest import WebOwner
from tests.rag.test_long_transcripts import EXTRA, long_conversation
from workspaces import repository as ws_repo

MESSAGE = 'data-testid="transcript-message"'
EARLIER = re.compile(r'<a href="([^"]+)" data-testid="earlier-messages">')


async def test_a_long_transcript_opens_on_its_latest_messages(
    web: WebOwner, runtime: Runtime, owner_db: Database
) -> None:
    workspace_id = uuid.UUID(web.workspace_id)
    async with runtime.db.transaction(workspace_id=workspace_id) as session:
        workspace = await ws_repo.get_workspace(session, workspace_id)
        assert workspace is not None
    conversation_id, _, texts = await long_conversation(web.client, owner_db, workspace.public_key)
    assert len(texts) == EXTRA + 2

    url = web.url(f"conversations/{conversation_id}")
    latest = await web.client.get(url)
    assert latest.status_code == 200, latest.text
    assert latest.text.count(MESSAGE) == TRANSCRIPT_PAGE
    assert texts[-1] in latest.text  # the newest message
    assert texts[-TRANSCRIPT_PAGE] in latest.text
    assert "Where is my parcel?" not in latest.text  # the first one is a page back
    assert f"{TRANSCRIPT_PAGE} of {len(texts)} messages shown" in latest.text

    link = EARLIER.search(latest.text)
    assert link, "no link to the earlier messages"
    earlier = await web.client.get(url + unescape(link.group(1)))
    assert earlier.status_code == 200, earlier.text
    assert earlier.text.count(MESSAGE) == len(texts) - TRANSCRIPT_PAGE
    assert "Where is my parcel?" in earlier.text
    assert texts[-1] not in earlier.text
    assert EARLIER.search(earlier.text) is None  # nothing before it
    assert "Latest messages" in earlier.text


async def test_a_bad_earlier_link_is_a_clear_refusal(web: WebOwner, runtime: Runtime) -> None:
    await web.post(web.url("playground"), {"message": "hello there"})
    listing = await web.client.get(web.url("conversations") + "?channel=owner")
    found = re.search(r'data-conversation="([^"]+)"', listing.text)
    assert found
    page = await web.client.get(web.url(f"conversations/{found.group(1)}") + "?before=nope")
    assert page.status_code == 422, page.text

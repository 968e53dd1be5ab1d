"""An owner's place in a list (its filters and page) goes with them to a conversation or a lead
and back: "← Conversations" and "← Leads" led to the unfiltered first page, whatever the owner
had filtered and paged to (a browser walk's finding). The place travels as the list's own query
string in ``back``, through the transcript's paging links and the status and lead forms, and
only the list's own parameters are taken from it: no other page, no other site."""

from __future__ import annotations

import re
import uuid
from html import unescape
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from api.runtime import Runtime
from core.db import Database
from dashboard.list_place import conversations_place, leads_place
from rag.chat.conversations import TRANSCRIPT_PAGE
from tests.dashboard.conftest import WebOwner
from tests.dashboard.test_conversation_status import _handoff
from tests.rag.test_long_transcripts import long_conversation
from workspaces import repository as ws_repo

BACK_TO_CONVERSATIONS = re.compile(r'<a href="([^"]+)">← Conversations</a>')
BACK_TO_LEADS = re.compile(r'<a href="([^"]+)">← Leads</a>')
BACK_FIELD = re.compile(r'name="back" value="([^"]*)"')
LATER = "2999-01-01T00:00:00+00:00"
"""A ``before`` after every conversation: an "older" page that still lists them."""


def _link(pattern: re.Pattern[str], page: httpx.Response) -> str:
    found = pattern.search(page.text)
    assert found, page.text
    return unescape(found.group(1))


def _split(url: str) -> tuple[str, dict[str, list[str]]]:
    parts = urlsplit(url)
    return parts.path, parse_qs(parts.query)


def _row_link(page: httpx.Response, attribute: str, ident: str) -> str:
    row = re.search(rf'<tr {attribute}="{ident}">.*?<a href="([^"]+)"', page.text, flags=re.DOTALL)
    assert row, page.text
    return unescape(row.group(1))


async def _public_key(runtime: Runtime, web: WebOwner) -> str:
    async with runtime.db.transaction(workspace_id=uuid.UUID(web.workspace_id)) as session:
        workspace = await ws_repo.get_workspace(session, uuid.UUID(web.workspace_id))
        assert workspace is not None
        return workspace.public_key


async def test_back_to_the_filtered_older_page_of_conversations(
    runtime: Runtime, web: WebOwner
) -> None:
    """Filter by "handoff", go to an older page, open a conversation, change its status:
    "← Conversations" still leads to that page, and so does closing it from the list."""
    conversation_id = await _handoff(runtime, web)
    place = {"status": ["handoff"], "before": [LATER], "before_id": [str(uuid.uuid4())]}
    listed = await web.client.get(
        web.url("conversations") + "?" + urlencode({k: v[0] for k, v in place.items()})
    )
    assert listed.status_code == 200, listed.text
    opened = await web.client.get(_row_link(listed, "data-conversation", conversation_id))
    assert opened.status_code == 200, opened.text
    assert _split(_link(BACK_TO_CONVERSATIONS, opened)) == (web.url("conversations"), place)

    # The transcript's status form keeps the place, and the page it leads to too.
    back = BACK_FIELD.findall(opened.text)
    assert len(back) == 1, opened.text
    saved = await web.post(
        web.url(f"conversations/{conversation_id}/status"),
        {"status": "open", "back": unescape(back[0])},
    )
    assert saved.status_code == 303, saved.text
    shown = await web.client.get(saved.headers["location"])
    assert "Conversation reopened" in shown.text
    assert _split(_link(BACK_TO_CONVERSATIONS, shown)) == (web.url("conversations"), place)

    # Closing it from the list's own form comes back to that list page, not its first one.
    await web.post(
        web.url(f"conversations/{conversation_id}/status"),
        {"status": "handoff", "back": unescape(back[0])},
    )
    listed = await web.client.get(
        web.url("conversations") + "?" + urlencode({k: v[0] for k, v in place.items()})
    )
    row = re.search(
        rf'<tr data-conversation="{conversation_id}">(.*?)</tr>', listed.text, flags=re.DOTALL
    )
    assert row, listed.text
    fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', row.group(1)))
    fields = {name: unescape(value) for name, value in fields.items()}
    fields.pop("csrf_token")
    closed = await web.post(web.url(f"conversations/{conversation_id}/status"), fields)
    assert closed.status_code == 303, closed.text
    path, query = _split(closed.headers["location"])
    assert path == web.url("conversations")
    assert {k: v for k, v in query.items() if k not in ("notice", "ns")} == place


async def test_the_transcripts_pages_keep_the_place(
    runtime: Runtime, web: WebOwner, owner_db: Database
) -> None:
    """A long transcript's "← Earlier messages" and "Latest messages →" keep the list's
    place."""
    conversation_id, _, _ = await long_conversation(
        web.client, owner_db, await _public_key(runtime, web), extra=TRANSCRIPT_PAGE
    )
    place = {"status": ["open"], "channel": ["widget"]}
    url = web.url(f"conversations/{conversation_id}")
    latest = await web.client.get(url + "?" + urlencode({"back": "status=open&channel=widget"}))
    assert latest.status_code == 200, latest.text
    earlier_link = re.search(r'<a href="([^"]+)" data-testid="earlier-messages">', latest.text)
    assert earlier_link, latest.text
    earlier = await web.client.get(url + unescape(earlier_link.group(1)))
    assert earlier.status_code == 200, earlier.text
    assert _split(_link(BACK_TO_CONVERSATIONS, earlier)) == (web.url("conversations"), place)
    newest = re.search(r'<a href="([^"]+)">Latest messages →</a>', earlier.text)
    assert newest, earlier.text
    assert _split(unescape(newest.group(1))) == (url, {"back": ["status=open&channel=widget"]})


async def test_back_to_the_searched_leads(runtime: Runtime, web: WebOwner) -> None:
    """Search and status filter, open a lead, save it (and have a save refused), delete it:
    each way back leads to the leads that were searched."""
    marker = uuid.uuid4().hex[:12]
    email = f"buyer-{marker}@example.com"
    sent = await web.client.post(
        "/api/v1/widget/leads",
        json={"email": email, "name": "Jo Buyer"},
        headers={"X-Widget-Key": await _public_key(runtime, web)},
    )
    assert sent.status_code == 202, sent.text
    place = {"status": ["new"], "q": [marker]}
    listed = await web.client.get(web.url("leads") + f"?status=new&q={marker}")
    lead_id = re.findall(r'data-lead="([^"]+)"', listed.text)
    assert len(lead_id) == 1, listed.text
    opened = await web.client.get(_row_link(listed, "data-lead", lead_id[0]))
    assert opened.status_code == 200, opened.text
    assert _split(_link(BACK_TO_LEADS, opened)) == (web.url("leads"), place)

    back = [unescape(value) for value in BACK_FIELD.findall(opened.text)]
    assert len(back) == 2, opened.text  # the lead's form and its deletion
    refused = await web.post(
        web.url(f"leads/{lead_id[0]}"), {"status": "won", "notes": "x" * 10_001, "back": back[0]}
    )
    assert refused.status_code == 422, refused.text
    assert _split(_link(BACK_TO_LEADS, refused)) == (web.url("leads"), place)
    saved = await web.post(
        web.url(f"leads/{lead_id[0]}"), {"status": "new", "notes": "Call back", "back": back[0]}
    )
    assert saved.status_code == 303, saved.text
    shown = await web.client.get(saved.headers["location"])
    assert "Call back" in shown.text
    assert _split(_link(BACK_TO_LEADS, shown)) == (web.url("leads"), place)
    deleted = await web.post(web.url(f"leads/{lead_id[0]}/delete"), {"back": back[1]})
    assert deleted.status_code == 303, deleted.text
    assert _split(deleted.headers["location"]) == (web.url("leads"), place)


async def handoff_with_lead(runtime: Runtime, web: WebOwner, email: str) -> str:
    """A visitor's conversation handed off, then the widget's form sent from it with ``email``
    (the conversation's lead); the conversation's id."""
    session_id = f"v-{uuid.uuid4().hex}"
    conversation_id = await _handoff(runtime, web, session_id)
    sent = await web.client.post(
        "/api/v1/widget/leads",
        json={"email": email, "session_id": session_id, "conversation_id": conversation_id},
        headers={"X-Widget-Key": await _public_key(runtime, web)},
    )
    assert sent.status_code == 202, sent.text
    return conversation_id


BACK_TO_LEAD = re.compile(r'<a href="([^"]+)">the lead they left</a>')
TO_CONVERSATION = re.compile(r'<a href="([^"]+)">Read the conversation</a>')
LEAD_IN_ROW = re.compile(r'<td data-label="Lead"><a href="([^"]+)">yes<')


async def test_a_lead_and_its_conversation_keep_both_places(
    runtime: Runtime, web: WebOwner
) -> None:
    """From the filtered conversations to a conversation's lead, its form saved, and on to the
    conversation: "← Conversations" still leads to the filtered list; from the searched leads
    to a lead's conversation, its status saved, and back to the lead: "← Leads" still leads to
    the searched leads. The links between the two dropped the place."""
    marker = uuid.uuid4().hex[:12]
    conversation_id = await handoff_with_lead(runtime, web, f"buyer-{marker}@example.com")
    conversations = {"status": ["handoff"], "lead": ["yes"]}
    leads_searched = {"status": ["contacted"], "q": [marker]}

    listed = await web.client.get(web.url("conversations") + "?status=handoff&lead=yes")
    lead = await web.client.get(_link(LEAD_IN_ROW, listed))
    assert lead.status_code == 200, lead.text
    assert _split(_link(BACK_TO_LEADS, lead)) == (web.url("leads"), {})
    saved = await web.post(urlsplit(str(lead.url)).path, {"status": "contacted", **_places(lead)})
    assert saved.status_code == 303, saved.text
    lead = await web.client.get(saved.headers["location"])
    read = await web.client.get(_link(TO_CONVERSATION, lead))
    assert read.status_code == 200, read.text
    assert _split(_link(BACK_TO_CONVERSATIONS, read)) == (web.url("conversations"), conversations)

    listed = await web.client.get(web.url("leads") + f"?status=contacted&q={marker}")
    opened = await web.client.get(_row_link(listed, "data-lead", _link_id(listed)))
    read = await web.client.get(_link(TO_CONVERSATION, opened))
    moved = await web.post(
        web.url(f"conversations/{conversation_id}/status"), {"status": "open", **_places(read)}
    )
    assert moved.status_code == 303, moved.text
    read = await web.client.get(moved.headers["location"])
    back = await web.client.get(_link(BACK_TO_LEAD, read))
    assert back.status_code == 200, back.text
    assert _split(_link(BACK_TO_LEADS, back)) == (web.url("leads"), leads_searched)


def _places(page: httpx.Response) -> dict[str, str]:
    """The places a page's form sends (its hidden ``back`` and ``other``)."""
    fields = re.findall(r'name="(back|other)" value="([^"]*)"', page.text)
    return {name: unescape(value) for name, value in fields}


def _link_id(listed: httpx.Response) -> str:
    found = re.findall(r'data-lead="([^"]+)"', listed.text)
    assert len(found) == 1, listed.text
    return str(found[0])


async def test_a_back_that_is_not_the_lists_own_place_is_dropped(
    runtime: Runtime, web: WebOwner
) -> None:
    """Only the list's own parameters, with values the list takes, come back from ``back``:
    another site, another page or a parameter of none of them leads to the list's first
    page, never elsewhere."""
    conversation_id = await _handoff(runtime, web)
    url = web.url(f"conversations/{conversation_id}")
    for back, kept in [
        ("https://evil.example/x", {}),
        ("//evil.example/conversations?status=handoff", {}),
        ("status=handoff&next=https://evil.example&before=garbage", {"status": ["handoff"]}),
        ("status=nope&channel=owner&lead=yes&before_id=1", {"channel": ["owner"], "lead": ["yes"]}),
    ]:
        page = await web.client.get(url + "?" + urlencode({"back": back}))
        assert page.status_code == 200, page.text
        assert _split(_link(BACK_TO_CONVERSATIONS, page)) == (web.url("conversations"), kept)
        moved = await web.post(url + "/status", {"status": "handoff", "back": back, "from": "list"})
        assert moved.status_code == 303
        path, query = _split(moved.headers["location"])
        assert path == web.url("conversations")
        assert {k: v for k, v in query.items() if k not in ("notice", "ns")} == kept
    too_long = await web.client.get(url + "?" + urlencode({"back": "q=" + "x" * 3001}))
    assert too_long.status_code == 422


def test_a_place_keeps_the_lists_own_parameters_only() -> None:
    cursor = "MjAyNi0xMi0wMVQwMDowMDowMCswMDowMHwxMjM0fGFiYw"
    assert leads_place(f"q=Jo%20B%C3%BCyer&status=won&cursor={cursor}&x=1").query == (
        f"status=won&q=Jo+B%C3%BCyer&cursor={cursor}"
    )
    assert leads_place("status=maybe&q=" + "x" * 201).query == ""
    assert leads_place("q=a%00b").query == ""
    assert conversations_place("lead=no&lead=yes&channel=").query == "lead=no"
    assert conversations_place(None).query == ""
    assert conversations_place("before=2026-12-01T10:00:00").query == (
        "before=2026-12-01T10%3A00%3A00"
    )

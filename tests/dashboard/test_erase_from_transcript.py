"""A visitor's erasure request acted on from the dashboard alone: the transcript shows the
conversation's widget session id and, to whoever may erase a visitor (owners), links to
Settings' erase form filled in with it, which posts to the one erasure handler (before, the
transcript showed no session id, and the form had to be filled in by hand with an id only the
webhook or the API gave)."""

from __future__ import annotations

import html
import re
import uuid
from urllib.parse import unquote

import httpx
import pytest

from api.runtime import Runtime
from core.jobs import JobQueue
from lifecycle.erasure import SESSION_ID_REFUSED
from tests.conftest import Owner, client_for, join, signup
from tests.dashboard.conftest import WebOwner, csrf_of, web_login, widget_key
from tests.dashboard.test_notices import notice_of

SESSION_SHOWN = re.compile(r'data-testid="session-id">Widget session id: <code>([^<]*)</code>')
ERASE_LINK = re.compile(r'<a href="([^"]+)" data-testid="erase-visitor">Erase this visitor')
ERASE_VALUE = re.compile(r'<input id="erase-value" name="value"[^>]* value="([^"]*)"')
CHECKED = re.compile(r'<input type="radio" name="key" value="([a-z_]+)" checked>')


async def _visitor(client: httpx.AsyncClient, public_key: str, session: str) -> str:
    """A visitor's conversation through the widget's API, with a contact form sent from it:
    its id."""
    key = {"X-Widget-Key": public_key}
    chat = await client.post(
        "/api/v1/chat",
        json={"message": "please delete my data", "session_id": session},
        headers=key,
    )
    assert chat.status_code == 200, chat.text
    conversation: str = chat.json()["conversation_id"]
    form = await client.post(
        "/api/v1/widget/leads",
        json={
            "email": f"{session}@example.com",
            "conversation_id": conversation,
            "session_id": session,
        },
        headers=key,
    )
    assert form.status_code < 300, form.text
    return conversation


async def test_an_owner_erases_the_visitor_from_their_conversation(
    web: WebOwner, runtime: Runtime, jobs: JobQueue
) -> None:
    session = f"visitor-{uuid.uuid4().hex[:10]}"
    conversation = await _visitor(web.client, await widget_key(runtime, web), session)
    await jobs.drain()

    transcript = await web.client.get(web.url(f"conversations/{conversation}"))
    assert transcript.status_code == 200, transcript.text
    assert SESSION_SHOWN.findall(transcript.text) == [session]
    [link] = ERASE_LINK.findall(transcript.text)

    form_page = await web.client.get(html.unescape(link).split("#")[0])
    assert form_page.status_code == 200, form_page.text
    assert html.unescape(link).endswith("#erase-h")
    assert 'id="erase-h"' in form_page.text
    assert CHECKED.findall(form_page.text) == ["session_id"]
    assert [html.unescape(v) for v in ERASE_VALUE.findall(form_page.text)] == [session]
    # The existing form, its confirmation kept, posting to the existing handler.
    assert 'hx-confirm="Erase this visitor\'s data for good?"' in form_page.text
    action = re.search(r'<form method="post" action="([^"]+/settings/erasures)"', form_page.text)
    assert action, form_page.text
    erased = await web.client.post(
        action.group(1),
        data={"csrf_token": csrf_of(form_page.text), "key": "session_id", "value": session},
    )
    assert erased.status_code == 303, erased.text
    shown = await web.client.get(erased.headers["location"])
    notice = unquote(notice_of(shown.text) or "")
    assert notice.startswith("Visitor erased: 1 conversations, 2 messages, 1 leads"), notice
    gone = await web.client.get(web.url(f"conversations/{conversation}"))
    assert gone.status_code == 404
    assert f"{session}@example.com" not in (await web.client.get(web.url("leads"))).text


@pytest.mark.parametrize("role", ["admin", "member"])
async def test_a_role_that_may_not_erase_sees_the_session_id_without_the_link(
    role: str, client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner = await signup(client, f"Erasure for an {role}")
    person = await signup(client, f"The {role}")
    await join(client, owner, person, role)
    session = f"visitor-{uuid.uuid4().hex[:10]}"
    conversation = await _visitor(client, owner.workspace["public_key"], session)
    async with client_for(runtime) as browser:
        assert (await web_login(browser, person.email, person.password)).status_code == 303
        transcript = await browser.get(f"/app/w/{owner.workspace_id}/conversations/{conversation}")
        assert transcript.status_code == 200, transcript.text
        assert SESSION_SHOWN.findall(transcript.text) == [session]
        assert 'data-testid="erase-visitor"' not in transcript.text
        # The filled-in address opened anyway: no erase form, the session id nowhere.
        settings = await browser.get(
            f"/app/w/{owner.workspace_id}/settings", params={"erase_session": session}
        )
        assert settings.status_code == 200, settings.text
        assert 'data-testid="erase-section"' not in settings.text
        assert session not in settings.text
    async with client_for(runtime) as browser:  # the owner is offered it
        assert (await web_login(browser, owner.email, owner.password)).status_code == 303
        transcript = await browser.get(f"/app/w/{owner.workspace_id}/conversations/{conversation}")
        assert len(ERASE_LINK.findall(transcript.text)) == 1


async def test_the_teams_own_test_chat_offers_no_erasure(
    client: httpx.AsyncClient, owner: Owner, runtime: Runtime
) -> None:
    """A conversation of the owner's own session (``owner-<user id>``: the playground, the
    API's owner chat) shows its session id, but is no visitor's to erase."""
    said = await client.post(owner.url("/chat"), json={"message": "hello"}, headers=owner.headers)
    assert said.status_code == 200, said.text
    async with client_for(runtime) as browser:
        assert (await web_login(browser, owner.email, owner.password)).status_code == 303
        transcript = await browser.get(
            f"/app/w/{owner.workspace_id}/conversations/{said.json()['conversation_id']}"
        )
        assert SESSION_SHOWN.findall(transcript.text) == [f"owner-{owner.user_id}"]
        assert 'data-testid="erase-visitor"' not in transcript.text


@pytest.mark.parametrize(
    "given", ["not a session id", '<b>"x"</b>', "v" * 129], ids=["spaces", "markup", "too-long"]
)
async def test_a_filled_in_value_no_session_can_have_is_shown_and_refused(
    given: str, web: WebOwner, runtime: Runtime, jobs: JobQueue
) -> None:
    """Shown as given (escaped), and refused by the handler as the API refuses it (422
    ``erasure_key``), beside the field, what was typed kept: never "Visitor erased" with nothing
    found (before, the handler took any text as a session id and said so)."""
    session = f"visitor-{uuid.uuid4().hex[:10]}"
    conversation = await _visitor(web.client, await widget_key(runtime, web), session)
    await jobs.drain()
    page = await web.client.get(web.url("settings"), params={"erase_session": given})
    assert page.status_code == 200, page.text
    assert [html.unescape(v) for v in ERASE_VALUE.findall(page.text)] == [given]
    assert "<b>" not in page.text  # escaped
    refused = await web.post(web.url("settings/erasures"), {"key": "session_id", "value": given})
    assert refused.status_code == 422, refused.text
    said = re.findall(r'id="erase-value-err" role="alert">([^<]*)<', refused.text)
    assert [html.unescape(s) for s in said] == [SESSION_ID_REFUSED + "."]
    assert [html.unescape(v) for v in ERASE_VALUE.findall(refused.text)] == [given]
    assert CHECKED.findall(refused.text) == ["session_id"]
    kept = await web.client.get(web.url(f"conversations/{conversation}"))
    assert kept.status_code == 200


async def test_a_filled_in_value_with_a_nul_is_refused_as_a_page_not_a_500(web: WebOwner) -> None:
    page = await web.client.get(web.url("settings"), params={"erase_session": "a\x00b"})
    assert page.status_code == 422, page.text

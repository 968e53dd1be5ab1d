"""A conversation belongs to its channel as well as its session: a widget caller cannot post
into the owners' test chat (the playground's session is ``owner-<user id>``), nor the owners'
chat API (which may name any session) into a visitor's conversation. Either is 404
``not_found``, as for another session's conversation, and records nothing. Nor can one member
post into another's test chat by naming their ``owner-<user id>`` session: 422. The widget's
ratings and contact form do not reach the test chat either."""

from __future__ import annotations

import uuid

import httpx

from tests.conftest import Owner, join, signup


def _widget(owner: Owner) -> dict[str, str]:
    return {"X-Widget-Key": owner.workspace["public_key"]}


async def _message_count(client: httpx.AsyncClient, owner: Owner, conversation: str) -> int:
    read = await client.get(owner.url(f"/conversations/{conversation}"), headers=owner.headers)
    assert read.status_code == 200, read.text
    return len(read.json()["messages"])


async def test_a_widget_caller_cannot_post_into_the_owners_test_chat(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    tried = await client.post(
        owner.url("/chat"), json={"message": "hello there"}, headers=owner.headers
    )
    assert tried.status_code == 200, tried.text
    conversation = str(tried.json()["conversation_id"])
    before = await _message_count(client, owner, conversation)

    posted = await client.post(
        "/api/v1/chat",
        json={
            "message": "hello from outside",
            "session_id": f"owner-{owner.user_id}",
            "conversation_id": conversation,
        },
        headers=_widget(owner),
    )
    assert posted.status_code == 404, posted.text
    assert posted.json()["error"]["code"] == "not_found"
    assert await _message_count(client, owner, conversation) == before
    # The owner's own chat goes on in it.
    again = await client.post(
        owner.url("/chat"),
        json={"message": "thanks", "conversation_id": conversation},
        headers=owner.headers,
    )
    assert again.status_code == 200, again.text
    assert again.json()["conversation_id"] == conversation


async def test_a_widget_caller_cannot_rate_or_leave_a_lead_in_the_owners_test_chat(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """The widget key with the test chat's guessable session id rated the team's answer as a
    visitor's and linked a planted lead to the test chat (a red-team finding): the rating is
    404 ``not_found`` as for another session's answer, the lead is taken but not linked."""
    tried = await client.post(
        owner.url("/chat"), json={"message": "hello there"}, headers=owner.headers
    )
    assert tried.status_code == 200, tried.text
    conversation = str(tried.json()["conversation_id"])
    message = tried.json()["message_id"]
    session = f"owner-{owner.user_id}"

    rated = await client.post(
        "/api/v1/widget/feedback",
        json={"message_id": message, "rating": "down", "comment": "planted", "session_id": session},
        headers=_widget(owner),
    )
    assert rated.status_code == 404, rated.text
    assert rated.json()["error"]["code"] == "not_found"
    stats = (await client.get(owner.url("/chat/stats"), headers=owner.headers)).json()
    assert stats["feedback"].get("down", 0) == 0, stats

    planted = await client.post(
        "/api/v1/widget/leads",
        json={
            "email": "planted@example.com",
            "conversation_id": conversation,
            "session_id": session,
        },
        headers=_widget(owner),
    )
    assert planted.status_code == 202, planted.text
    listed = (await client.get(owner.url("/conversations"), headers=owner.headers)).json()
    assert [(c["id"], c["lead_id"]) for c in listed["items"]] == [(conversation, None)], listed
    # The team still rates its own answer.
    team = await client.post(
        owner.url("/feedback"), json={"message_id": message, "rating": "up"}, headers=owner.headers
    )
    assert team.status_code == 204, team.text


async def test_the_owners_chat_cannot_post_into_a_visitors_conversation(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    session_id = f"v-{uuid.uuid4().hex[:10]}"
    visited = await client.post(
        "/api/v1/chat", json={"message": "hello", "session_id": session_id}, headers=_widget(owner)
    )
    assert visited.status_code == 200, visited.text
    conversation = str(visited.json()["conversation_id"])
    before = await _message_count(client, owner, conversation)

    posted = await client.post(
        owner.url("/chat"),
        json={"message": "hello", "session_id": session_id, "conversation_id": conversation},
        headers=owner.headers,
    )
    assert posted.status_code == 404, posted.text
    assert posted.json()["error"]["code"] == "not_found"
    assert await _message_count(client, owner, conversation) == before
    # The visitor's own chat goes on in it.
    again = await client.post(
        "/api/v1/chat",
        json={"message": "thanks", "session_id": session_id, "conversation_id": conversation},
        headers=_widget(owner),
    )
    assert again.status_code == 200, again.text
    assert again.json()["conversation_id"] == conversation


async def test_a_member_cannot_post_into_another_members_test_chat(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """Members read every conversation (the owner's session id shows in the list), but write
    only as themselves: naming the owner's playground session is refused, with or without the
    conversation's id, and records nothing; their own session and a team session still work."""
    member = await signup(client, "Member's own")
    await join(client, owner, member, "member")
    started = await client.post(
        owner.url("/chat"), json={"message": "hello there"}, headers=owner.headers
    )
    assert started.status_code == 200, started.text
    conversation = str(started.json()["conversation_id"])
    before = await _message_count(client, owner, conversation)

    for body in (
        {"session_id": f"owner-{owner.user_id}", "conversation_id": conversation},
        {"session_id": f"owner-{owner.user_id}"},
    ):
        posted = await client.post(
            owner.url("/chat"), json={"message": "hello as you", **body}, headers=member.headers
        )
        assert posted.status_code == 422, posted.text
        assert posted.json()["error"]["code"] == "validation_error"
    assert await _message_count(client, owner, conversation) == before
    listed = await client.get(owner.url("/conversations"), headers=owner.headers)
    assert len(listed.json()["items"]) == 1, listed.text

    for session in (f"owner-{member.user_id}", f"team-{uuid.uuid4().hex[:8]}"):
        own = await client.post(
            owner.url("/chat"),
            json={"message": "hello", "session_id": session},
            headers=member.headers,
        )
        assert own.status_code == 200, own.text

"""Widget feedback proves the visitor owns the conversation it rates."""

from __future__ import annotations

import httpx

from tests.conftest import Owner
from tests.rag.test_chat import widget_headers


async def test_feedback_without_a_session_id_is_refused(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    answer = (
        await client.post(
            "/api/v1/chat",
            json={"message": "hello", "session_id": "rated-visitor"},
            headers=widget_headers(owner),
        )
    ).json()
    # Another visitor who learned the message id rates it without naming a session.
    anonymous = await client.post(
        "/api/v1/widget/feedback",
        json={"message_id": answer["message_id"], "rating": "down"},
        headers=widget_headers(owner),
    )
    assert anonymous.status_code == 422
    assert anonymous.json()["error"]["details"][0]["field"] == "session_id"
    wrong = await client.post(
        "/api/v1/widget/feedback",
        json={"message_id": answer["message_id"], "rating": "down", "session_id": "someone-else"},
        headers=widget_headers(owner),
    )
    assert wrong.status_code == 404
    stats = (await client.get(owner.url("/chat/stats"), headers=owner.headers)).json()
    assert stats["feedback"].get("down", 0) == 0

    own = await client.post(
        "/api/v1/widget/feedback",
        json={"message_id": answer["message_id"], "rating": "up", "session_id": "rated-visitor"},
        headers=widget_headers(owner),
    )
    assert own.status_code == 204
    stats = (await client.get(owner.url("/chat/stats"), headers=owner.headers)).json()
    assert stats["feedback"]["up"] == 1


async def test_owners_rate_without_a_session(client: httpx.AsyncClient, owner: Owner) -> None:
    answer = (
        await client.post(
            "/api/v1/chat",
            json={"message": "hello", "session_id": "v-owner"},
            headers=widget_headers(owner),
        )
    ).json()
    response = await client.post(
        owner.url("/feedback"),
        json={"message_id": answer["message_id"], "rating": "down"},
        headers=owner.headers,
    )
    assert response.status_code == 204
    stats = (await client.get(owner.url("/chat/stats"), headers=owner.headers)).json()
    assert stats["feedback"] == {"up": 0, "down": 0, "team_up": 0, "team_down": 1}


async def test_the_team_never_replaces_a_visitors_rating(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """A visitor's thumbs-up and comment stay theirs: a teammate's rating of that answer is a
    409 (it replaced them, and analytics counted the teammate's as the visitor's). The visitor
    may still change their mind."""
    answer = (
        await client.post(
            "/api/v1/chat",
            json={"message": "hello", "session_id": "v-kept"},
            headers=widget_headers(owner),
        )
    ).json()
    visitor = await client.post(
        "/api/v1/widget/feedback",
        json={
            "message_id": answer["message_id"],
            "rating": "up",
            "comment": "spot on",
            "session_id": "v-kept",
        },
        headers=widget_headers(owner),
    )
    assert visitor.status_code == 204
    team = await client.post(
        owner.url("/feedback"),
        json={"message_id": answer["message_id"], "rating": "down"},
        headers=owner.headers,
    )
    assert team.status_code == 409
    assert team.json()["error"]["code"] == "already_rated"
    stats = (await client.get(owner.url("/chat/stats"), headers=owner.headers)).json()
    assert stats["feedback"] == {"up": 1, "down": 0, "team_up": 0, "team_down": 0}
    again = await client.post(
        "/api/v1/widget/feedback",
        json={"message_id": answer["message_id"], "rating": "down", "session_id": "v-kept"},
        headers=widget_headers(owner),
    )
    assert again.status_code == 204
    stats = (await client.get(owner.url("/chat/stats"), headers=owner.headers)).json()
    assert stats["feedback"] == {"up": 0, "down": 1, "team_up": 0, "team_down": 0}

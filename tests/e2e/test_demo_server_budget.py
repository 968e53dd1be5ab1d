"""The browser tests of a session all visit the demo server from one address (127.0.0.1) and
one workspace, as if one visitor ran them all: the server must give them more than one
visitor's hourly budget, or the tests that run last are refused by what the others spent."""

from __future__ import annotations

import uuid

import httpx

from tests.e2e.conftest import DemoServer

# More new conversations than WIDGET_CONVERSATIONS_PER_IP_PER_HOUR (20) lets one visitor
# start: the five widget and accessibility files already start 20 between them.
CONVERSATIONS = 25


def test_the_sessions_browsers_are_not_held_to_one_visitors_budget(
    demo_server: DemoServer,
) -> None:
    headers = {
        "X-Widget-Key": demo_server.credentials["public_key"],
        "Origin": demo_server.base_url,  # the demo page, as the widget sends it
    }
    statuses = []
    for _ in range(CONVERSATIONS):
        response = httpx.post(
            f"{demo_server.base_url}/api/v1/chat",
            headers=headers,
            json={"session_id": f"budget-{uuid.uuid4().hex[:12]}", "message": "Hello!"},
            timeout=60,
        )
        statuses.append((response.status_code, response.text[:200]))
    refused = [s for s in statuses if s[0] != 200]
    assert not refused, refused

"""The pseudonymous visitor id sent to the model (the OpenAI ``user`` field) signs nothing the
server accepts.

It was the hex HMAC of the visitor's ``session_id`` under the JWT secret itself, the key that
also signs unsubscribe links (``<value>.<HMAC(key, "unsubscribe:<value>")>``, no stored token)
and the dashboard's CSRF tokens. A visitor chooses their ``session_id``: one shaped like
``unsubscribe:<workspace>-<member>-<kind>`` made the model's request carry that link's
signature, so whoever reads the model endpoint's logs could turn off any member's
notifications.
"""

from __future__ import annotations

import base64
import re
import uuid
from typing import Any

from rag.chat.schemas import SESSION_ID_PATTERN
from tests.conftest import signup
from tests.fakes.openai_server import FakeOpenAI
from tests.rag.test_answers import REFUNDS, fake_llm, ingest, llm_client, llm_settings
from tests.rag.test_chat import chat
from workspaces.notifications import KINDS, UNSUBSCRIBE_PURPOSE, unsubscribe_token

FIXTURES = (fake_llm, llm_settings, llm_client)
"""The fake model, its settings and a client of them, shared with tests/rag/test_answers.py."""


def _link_signature(hex_digest: str) -> str:
    """An unsubscribe link's signature made from a hex HMAC (its first 18 bytes, base64url)."""
    return base64.urlsafe_b64encode(bytes.fromhex(hex_digest)[:18]).decode().rstrip("=")


async def test_a_chosen_session_id_does_not_get_an_unsubscribe_link_signed(
    llm_client: Any, fake_llm: FakeOpenAI
) -> None:
    client, runtime = llm_client
    owner = await signup(client, f"Victim {uuid.uuid4().hex[:6]}")
    await ingest(client, owner, runtime, "Refunds", REFUNDS)
    kind = KINDS[0]
    value = f"{uuid.UUID(owner.workspace_id).hex}-{uuid.UUID(owner.user_id).hex}-0"
    chosen = f"{UNSUBSCRIBE_PURPOSE}:{value}"
    assert re.fullmatch(SESSION_ID_PATTERN, chosen)  # a session id the widget accepts
    answered = await chat(
        client, owner, "Can I get my money back on a yearly plan?", session_id=chosen
    )
    assert answered.status_code == 200, answered.text
    sent = fake_llm.chat_requests[-1].json["user"]
    assert len(sent) == 64  # still a stable pseudonymous id
    forged = f"{value}.{_link_signature(sent)}"
    workspace_id, user_id = uuid.UUID(owner.workspace_id), uuid.UUID(owner.user_id)
    real = unsubscribe_token(runtime.settings.jwt_key, workspace_id, user_id, kind)
    assert forged != real
    refused = await client.post("/api/v1/notifications/unsubscribe", params={"token": forged})
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["code"] == "link_invalid"

"""A rating sent while the retention sweep deletes the rated answer's conversation.

The rating read the answer (still there: the sweep had not committed), then inserted its row,
whose foreign key waited for the answer the sweep was deleting; once the sweep committed, the
insert broke its key: 500 internal_error, where rating an answer deleted a moment before
answers 404 not_found."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from core.db import Database
from core.models import utcnow
from lifecycle import retention
from lifecycle.retention import purge_old_conversations
from tests.conftest import Owner
from tests.lifecycle.data import widget
from tests.lifecycle.test_erasure_session_race import _Stop
from tests.lifecycle.test_retention_races import RETENTION, _backdate, _left


@pytest.mark.parametrize("by", ["visitor", "team"])
async def test_a_rating_sent_while_the_sweep_deletes_its_answer_is_told_so(
    client: httpx.AsyncClient,
    owner: Owner,
    db: Database,
    owner_db: Database,
    monkeypatch: pytest.MonkeyPatch,
    by: str,
) -> None:
    tag = uuid.uuid4().hex[:10]
    session = f"v-{tag}"
    first = await client.post(
        "/api/v1/chat",
        json={"message": f"Hi {tag}", "session_id": session},
        headers=widget(owner),
    )
    assert first.status_code == 200, first.text
    conversation, answer = first.json()["conversation_id"], first.json()["message_id"]
    await _backdate(owner_db, conversation)
    stop = _Stop()  # the sweep held once it deleted its batch, before it commits
    monkeypatch.setattr(
        retention.mail_repo, "forget_about", stop.before(retention.mail_repo.forget_about)
    )
    sweep = asyncio.create_task(
        purge_old_conversations(
            db, workspace_id=uuid.UUID(owner.workspace_id), before=utcnow() - RETENTION
        )
    )

    async def rate() -> httpx.Response:
        body = {"message_id": answer, "rating": "up"}
        if by == "visitor":
            return await client.post(
                "/api/v1/widget/feedback",
                json=body | {"session_id": session},
                headers=widget(owner),
            )
        return await client.post(owner.url("/feedback"), json=body, headers=owner.headers)

    rated = await stop.meanwhile(owner_db, rate)
    assert await sweep == 1
    response = await rated
    assert response.status_code == 404, response.text
    assert response.json()["error"]["code"] == "not_found"
    assert await _left(owner_db, conversation) == (0, 0, None)

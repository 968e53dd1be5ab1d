"""The visitor's limit remembers a try it let through (api.throttling.rate_limit_chat): the next
tries of that client_message_id are not counted for 10 minutes. A client cannot turn that into
more messages: the id names one message once recorded (rag/chat/repeats.py)."""

from __future__ import annotations

import asyncio
import functools
import uuid

from core.db import Database
from tests.conftest import RuntimeFactory, client_for, signup
from tests.hardening.conftest import fresh_ip
from tests.rag.test_client_message_ids import QUESTION, post, recorded


async def test_a_try_the_visitors_limit_let_through_carries_one_message_at_most(
    runtime_factory: RuntimeFactory, owner_db: Database
) -> None:
    """A try let through and then refused before it was recorded (an empty message), its id
    sent again with a question, then with other questions one after another and at once: the
    question is answered (the visitor fixed the message), every other text under the id is
    refused with 409 ``client_message_id_reused``, and a new message is over the limit."""
    limited = functools.partial(
        runtime_factory, rate_limits="on", rate_limit_chat_visitor="1/minute"
    )
    async with limited() as runtime, client_for(runtime, ip=fresh_ip()) as client:
        owner = await signup(client)
        cid = str(uuid.uuid4())
        empty = await post(client, owner, "   ", cid)
        answered = await post(client, owner, QUESTION, cid)
        others = [await post(client, owner, f"Do you ship to country {n}?", cid) for n in range(2)]
        others += await asyncio.gather(
            *(post(client, owner, f"Is there a discount number {n}?", cid) for n in range(3))
        )
        new = await post(client, owner, "Do you ship to Bhutan?", str(uuid.uuid4()))
    assert empty.status_code == 422, empty.text
    assert answered.status_code == 200, answered.text
    codes = [(r.status_code, r.json()["error"]["code"]) for r in others]
    assert codes == [(409, "client_message_id_reused")] * 5, codes
    assert new.status_code == 429, new.text
    assert new.json()["error"]["code"] == "rate_limited"
    assert (await recorded(owner_db, owner))["visitor_messages"] == 1

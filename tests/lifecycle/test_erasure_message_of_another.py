"""A form or a lead filed under another address (number) than the visitor's, whose message
merely names the visitor's ("my colleague jo@example.com wants a demo too", "referred by
jo@example.com"), is that other person's: an erasure of the visitor leaves it, its lead and
its conversations, the visitor's address (number) in its message replaced by "[erased]"
(``test_erasure_redaction.py``). The message is read for the visitor's address (number) only
where the form's or the lead's own field of that kind is empty or the visitor's, as
docs/deploy.md says ("a widget form sent with the email field empty").

Before, any message holding it made the submission the visitor's: erasing jo@example.com
deleted Asha's form, her lead (name, address, notes), the conversation she sent it from and
her browser session's other conversations; by phone alike."""

from __future__ import annotations

import uuid

import httpx

from core.db import Database
from tests.conftest import Owner
from tests.lifecycle.test_erasure_by_phone import _erase, _national, _tag, _user_messages
from tests.lifecycle.test_erasure_email_in_message import _messages_left
from tests.lifecycle.test_erasure_form_message import _form, erased_after_a_form_from_a_chat

NOTHING = (0, 0, 0)


def _counts(erased: dict[str, int]) -> tuple[int, int, int]:
    return erased["leads"], erased["lead_submissions"], erased["conversations"]


async def _left_on_lead_and_form(owner_db: Database, owner: Owner, tag: str, message: str) -> None:
    """The only lead and submission holding ``tag`` kept ``message``, the visitor's address
    (number) replaced."""
    left = await _messages_left(owner_db, owner, tag)
    assert left == [f"lead: {message}", f"submission: {message}"], left


async def test_a_form_sent_with_another_address_naming_the_visitors_stays(
    client: httpx.AsyncClient, owner: Owner, owner_db: Database
) -> None:
    tag = uuid.uuid4().hex[:8]
    message = f"my colleague JO-{tag}@EXAMPLE.COM wants a demo too, {tag}"
    erased = await erased_after_a_form_from_a_chat(
        client,
        owner,
        tag,
        {"email": f"asha-{tag}@example.com", "message": message},
        email=f"jo-{tag}@example.com",
    )
    assert _counts(erased) == NOTHING, erased
    kept = f"my colleague [erased] wants a demo too, {tag}"
    await _left_on_lead_and_form(owner_db, owner, tag, kept)
    assert await _user_messages(owner_db, owner, tag) == [f"jo-{tag}", f"other-{tag}"]


async def test_a_form_sent_with_another_number_naming_the_visitors_stays(
    client: httpx.AsyncClient, owner: Owner, owner_db: Database
) -> None:
    n, tag = _national(), _tag()  # never all digits: no part of the number
    message = f"or ring my colleague on 0{n} ({tag})"
    await _form(client, owner, phone=f"+91 {_national()}", message=message)
    response = await _erase(client, owner, phone=f"+91 {n}")
    assert response.status_code == 200, response.text
    assert _counts(response.json()["erased"]) == NOTHING, response.text
    await _left_on_lead_and_form(owner_db, owner, tag, f"or ring my colleague on [erased] ({tag})")


async def test_a_lead_of_another_address_naming_the_visitors_stays(
    client: httpx.AsyncClient, owner: Owner, owner_db: Database
) -> None:
    """The owner typed Asha's lead in, her address in its field and the visitor's in its
    message: it is hers, and stays."""
    tag = uuid.uuid4().hex[:8]
    message = f"referred by jo-{tag}@example.com ({tag})"
    typed = await client.post(
        owner.url("/leads"),
        json={"email": f"asha-{tag}@example.com", "name": "Asha", "message": message},
        headers=owner.headers,
    )
    assert typed.status_code == 201, typed.text
    response = await _erase(client, owner, email=f"jo-{tag}@example.com")
    assert response.status_code == 200, response.text
    assert response.json()["erased"]["leads"] == 0
    assert await _messages_left(owner_db, owner, tag) == [f"lead: referred by [erased] ({tag})"]

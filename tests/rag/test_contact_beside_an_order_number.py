"""A visitor who leaves their email address or phone number and names their order's (invoice's,
ticket's...) number in the same message ("my email is jo@example.com, where is my order
5779079277?", "my number is +91 98765 43210, where is my order 5779079277?", "my order
5779079277 is late, my number is +91 98765 43210") leaves a lead with their address or their
number, never the order's, the order's number kept in the lead's message.

Before, no lead was saved: beside an address, the question naming the order's number was taken
for one naming a number of its own (``contact_beside._question_only``); beside a number, the
order's word anywhere made the visitor's number an order's (``contact_beside._a_number_to_keep``
and ``contact_details.leaves_a_phone`` read ``_not_to_call`` on the whole message), so the
turn was a sales lead asking for an email address, or a question answered with the address
asked for again. Test numbers drawn per test, as in the neighbouring tests."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.conftest import Owner
from tests.rag.test_chat import chat
from tests.rag.test_contact_beside_a_question import _email
from tests.rag.test_lead_capture_never import leads_of
from tests.rag.test_phone_callbacks import _phone
from tests.rag.test_phone_other_number_beside_a_call import _order, _spanish

# (the message, {e} the visitor's address, {n} their number, {o} the order's; the number's
# format)
LEFT_BESIDE_AN_ORDER = [
    ("my email is {e}, where is my order {o}?", _phone),
    ("where is my order {o}? my email is {e}", _phone),
    ("hi, my email is {e}. Invoice {o} shows the wrong amount, why?", _phone),
    ("mi correo es {e}, ¿dónde está mi pedido {o}?", _phone),
    ("my number is {n}, where is my order {o}?", _phone),
    ("where is my order {o}? my number is {n}", _phone),
    ("my order {o} is late, my number is {n}. Where is it?", _phone),
    ("my order {o} is late, my number is {n}", _phone),
    ("{o} is my order number, my number is {n}", _phone),
    ("mi número es {n}, ¿dónde está mi pedido {o}?", _spanish),
    # An order asked about with no number of its own: the visitor's number in its own clause
    # is theirs all the same (before, the word "order" anywhere made it an order's).
    ("my number is {n}, where is my order?", _phone),
    ("where is my order? my number is {n}", _phone),
    ("mi número es {n}, ¿dónde está mi pedido?", _spanish),
]


@pytest.mark.parametrize(("message", "phone"), LEFT_BESIDE_AN_ORDER)
async def test_the_lead_has_the_visitors_contact_and_the_order_in_its_message(
    client: httpx.AsyncClient, owner: Owner, message: str, phone: object
) -> None:
    assert callable(phone)
    email, number, order = _email(), phone(), _order()
    text = message.format(e=email, n=number, o=order)
    body = (await chat(client, owner, text, session_id=f"v-{uuid.uuid4().hex}")).json()
    assert body["lead_saved"] is True, (text, body)
    assert body["intent"] != "lead", (text, body)
    [lead] = await leads_of(client, owner)
    given = (email, None) if "{e}" in message else (None, number)
    assert (lead["email"], lead["phone"]) == given, (text, lead)
    assert (lead["message"], lead["conversation_id"]) == (text, body["conversation_id"]), lead


@pytest.mark.parametrize(
    "message",
    [
        # The order's number the only one: no number of the visitor's, no lead.
        "my order number is {o}, where is it?",
        "{o} is my order number, where is it?",
        # A number asked about beside the address is still none of theirs.
        "my email is {e}, is {n} your support line?",
    ],
)
async def test_no_lead_without_the_visitors_own_contact(
    client: httpx.AsyncClient, owner: Owner, message: str
) -> None:
    text = message.format(e=_email(), n=_phone(), o=_order())
    body = (await chat(client, owner, text, session_id=f"v-{uuid.uuid4().hex}")).json()
    assert body["lead_saved"] is False, (text, body)
    assert await leads_of(client, owner) == []

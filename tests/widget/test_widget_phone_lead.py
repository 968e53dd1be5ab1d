"""The widget's form takes a phone number instead of an email address (a visitor without one, or
who would rather be called). Before, ``POST /widget/leads`` required ``email``: a number alone
was 422 ``validation_error``, and the form could not be sent."""

from __future__ import annotations

import uuid

import httpx

from tests.conftest import Owner
from tests.widget.test_widget_leads import submit


async def test_a_visitor_leaves_a_number_instead_of_an_address(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    number = f"+91 9{uuid.uuid4().int % 10**4:04d} {uuid.uuid4().int % 10**5:05d}"
    response = await submit(client, owner, phone=number, name="Ravi")
    assert response.status_code == 202, response.text
    assert response.json() == {
        "status": "received",
        "thanks": f"Thanks! We'll be in touch at {number}.",
    }
    listing = await client.get(owner.url("/leads"), headers=owner.headers)
    [lead] = listing.json()["items"]
    assert (lead["email"], lead["phone"], lead["name"], lead["source"]) == (
        None,
        number,
        "Ravi",
        "widget",
    )


async def test_a_form_with_neither_or_a_number_no_one_could_call_is_refused_by_its_code(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    for body in ({"name": "Nobody"}, {"phone": "12345"}, {"email": None, "phone": None}):
        response = await submit(client, owner, **body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["error"]["code"] == "contact_required", body
    listing = await client.get(owner.url("/leads"), headers=owner.headers)
    assert listing.json()["total"] == 0

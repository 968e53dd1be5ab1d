"""A number written without a country code goes on the lead whose national number it is digit
for digit, before one it matches only once its leading "0" is read as a trunk prefix (README,
lead capture). Two numbers both written without a country code are compared without that "0"
(no country is set per workspace), so "0331 234567" was the lead "331 234567" (an Italian
mobile typed without "+39") before the lead "+39 0331 234567" (the landline whose number it
is whole): the lead of the same country code ('' for both) came first. The landline visitor's
form went on the mobile visitor's lead, and the owner called the wrong person back."""

from __future__ import annotations

import uuid

import httpx

from tests.conftest import Owner
from tests.widget.test_widget_leads import submit
from tests.widget.test_widget_phone_lead import submitted_phones


def _italian() -> tuple[str, str, str]:
    """An Italian landline with "+39", the mobile typed without "+39" with the same digits
    after the landline's "0", and the landline typed without "+39": of this test alone."""
    digits = f"{uuid.uuid4().int % 10**8:08d}"
    area, rest = f"3{digits[:2]}", digits[2:]
    return f"+39 0{area} {rest}", f"{area} {rest}", f"0{area} {rest}"


async def _phone_leads(client: httpx.AsyncClient, owner: Owner) -> dict[str, str]:
    listing = await client.get(owner.url("/leads"), headers=owner.headers)
    return {str(lead["phone"]): lead["id"] for lead in listing.json()["items"] if not lead["email"]}


async def test_a_landline_typed_without_its_country_code_goes_on_the_landlines_lead(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    landline, mobile, typed = _italian()
    for phone, name in ((landline, "Lucia"), (mobile, "Marco")):
        sent = await submit(client, owner, phone=phone, name=name)
        assert sent.status_code == 202, sent.text
    leads = await _phone_leads(client, owner)
    assert set(leads) == {landline, mobile}, leads
    again = await submit(client, owner, phone=typed, message="call after 6")
    assert again.status_code == 202, again.text
    assert set(await _phone_leads(client, owner)) == {landline, mobile}
    assert typed in await submitted_phones(client, owner, leads[landline])
    assert typed not in await submitted_phones(client, owner, leads[mobile])


async def test_the_owner_api_finds_the_landline_for_its_number_typed_without_the_code(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    landline, mobile, typed = _italian()
    ids = {}
    for phone in (landline, mobile):
        made = await client.post(owner.url("/leads"), json={"phone": phone}, headers=owner.headers)
        assert made.status_code == 201, made.text
        ids[phone] = made.json()["id"]
    again = await client.post(owner.url("/leads"), json={"phone": typed}, headers=owner.headers)
    assert again.status_code == 200, again.text
    assert again.json()["id"] == ids[landline]

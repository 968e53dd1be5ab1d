"""One visitor's number written with and without its country code is one lead (README, lead
capture: one lead per national number). Before, "+91 98765 43210" then "98765 43210",
"098765 43210" or "0091 98765 43210" from the same workspace made two to four phone-only
leads: the index and the lookup compared every digit, the country code and the trunk "0"
included."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from sqlalchemy import text

from core.db import Database
from tests.conftest import Owner
from tests.widget.test_widget_leads import submit
from tests.widget.test_widget_phone_lead import submitted_phones
from workspaces import lead_repository as lead_repo


def _national() -> str:
    """A 10-digit Indian mobile number of this test alone, digits only."""
    return f"9{uuid.uuid4().int % 10**9:09d}"


def _variants(n: str) -> list[str]:
    spaced = f"{n[:5]} {n[5:]}"
    return [f"+91 {spaced}", spaced, f"0{spaced}", f"0091 {spaced}", f"+91 (0) {spaced}"]


async def _phone_leads(client: httpx.AsyncClient, owner: Owner) -> list[dict[str, object]]:
    listing = await client.get(owner.url("/leads"), headers=owner.headers)
    return [lead for lead in listing.json()["items"] if lead["email"] is None]


async def test_the_owner_api_keeps_one_lead_for_a_number_with_and_without_its_country_code(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    n = _national()
    first, *others = _variants(n)
    created = await client.post(owner.url("/leads"), json={"phone": first}, headers=owner.headers)
    assert created.status_code == 201, created.text
    for variant in others:
        again = await client.post(
            owner.url("/leads"), json={"phone": variant}, headers=owner.headers
        )
        assert again.status_code == 200, (variant, again.text)
        assert again.json()["id"] == created.json()["id"], variant
        assert again.json()["phone"] == first  # the number as first written
    # A different national number is another lead.
    other = await client.post(
        owner.url("/leads"), json={"phone": f"+91 {_national()}"}, headers=owner.headers
    )
    assert other.status_code == 201, other.text
    assert len(await _phone_leads(client, owner)) == 2


async def test_visitors_forms_with_the_variants_make_one_lead_with_every_submission(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    n = _national()
    for variant in _variants(n):
        response = await submit(client, owner, phone=variant, name="Ravi")
        assert response.status_code == 202, (variant, response.text)
    [lead] = await _phone_leads(client, owner)
    submissions = await client.get(
        owner.url(f"/leads/{lead['id']}/submissions"), headers=owner.headers
    )
    assert len(submissions.json()["items"]) == len(_variants(n))


async def test_an_owner_taking_a_variant_of_another_leads_number_is_told_which_lead(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    n = _national()
    first = await client.post(
        owner.url("/leads"), json={"phone": f"+91 {n}"}, headers=owner.headers
    )
    second = await client.post(
        owner.url("/leads"), json={"phone": f"+91 {_national()}"}, headers=owner.headers
    )
    moved = await client.patch(
        owner.url(f"/leads/{second.json()['id']}"), json={"phone": f"0{n}"}, headers=owner.headers
    )
    assert moved.status_code == 409, moved.text
    error = moved.json()["error"]
    assert (error["code"], error["details"]) == (
        "lead_exists",
        [{"lead_id": first.json()["id"]}],
    )


@pytest.mark.parametrize("typed", ["+91 {a} {b}", "{a} {b}", "0{a}-{b}", "0091{a}{b}", "{b}"])
async def test_a_search_for_the_number_finds_it_however_either_side_wrote_it(
    client: httpx.AsyncClient, owner: Owner, typed: str
) -> None:
    n = _national()
    stored = await client.post(
        owner.url("/leads"), json={"phone": f"0{n[:5]} {n[5:]}"}, headers=owner.headers
    )
    assert stored.status_code == 201, stored.text
    q = typed.format(a=n[:5], b=n[5:])
    found = await client.get(owner.url("/leads"), params={"q": q}, headers=owner.headers)
    assert [lead["id"] for lead in found.json()["items"]] == [stored.json()["id"]], q


async def test_concurrent_visitors_forms_with_variants_cannot_make_two_leads(
    client: httpx.AsyncClient, owner: Owner, owner_db: Database
) -> None:
    """The rule is the unique index's: two forms sent at once, each its own transaction, meet
    at the index (one waits for the other's commit and adds to its lead)."""
    variants = _variants(_national())
    responses = await asyncio.gather(*(submit(client, owner, phone=v) for v in variants))
    assert {r.status_code for r in responses} == {202}, [r.text for r in responses]
    async with owner_db.transaction() as session:
        await session.execute(
            text("SELECT set_config('app.workspace_id', :ws, true)"), {"ws": owner.workspace_id}
        )
        count = (
            await session.execute(
                text("SELECT count(*) FROM leads WHERE workspace_id = :ws AND email IS NULL"),
                {"ws": owner.workspace_id},
            )
        ).scalar_one()
    assert count == 1


@pytest.mark.parametrize("q", ["0", "00", "+", "+0"])
async def test_a_search_of_a_prefix_alone_finds_no_number_without_it(
    client: httpx.AsyncClient, owner: Owner, q: str
) -> None:
    """A search whose national number is empty (a trunk "0", an international prefix alone)
    matched every lead with a number: "0" found "98765 43219"."""
    stored = await client.post(
        owner.url("/leads"), json={"phone": "98765 43219"}, headers=owner.headers
    )
    assert stored.status_code == 201, stored.text
    found = await client.get(owner.url("/leads"), params={"q": q}, headers=owner.headers)
    assert found.json()["items"] == [], q


# Real numbers of two countries with the same national digits: a UK mobile ("07911 123456")
# and an Indian one ("79111 23456"); a New York one ("917 555 0123") and an Indian one.
_TWINS = [
    ("+44 7911 {a}", "+91 7911{b} {c}"),
    ("+1 917 {a}", "+91 9179{b} {c}"),
]


def _twins() -> list[tuple[str, str]]:
    """Each pair: two numbers of two countries whose national numbers are the same digits."""
    tail = f"{uuid.uuid4().int % 10**6:06d}"
    return [(uk.format(a=tail), india.format(b=tail[0], c=tail[1:])) for uk, india in _TWINS]


async def test_two_visitors_of_two_countries_with_the_same_national_digits_are_two_leads(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """Before, "+44 7911 123456" (London) and "+91 79111 23456" (Delhi) were one lead: the
    second visitor's form went on the first visitor's lead, and an erasure of either took
    both. A number written without a country code is still the lead of the one written with
    it ("07911 123456" is "+44 7911 123456")."""
    twins = _twins()
    for first, second in twins:
        one = await submit(client, owner, phone=first, name="Amelia")
        two = await submit(client, owner, phone=second, name="Arjun")
        assert (one.status_code, two.status_code) == (202, 202)
    leads = await _phone_leads(client, owner)
    assert sorted((str(lead["phone"]), lead["name"]) for lead in leads) == sorted(
        [(first, "Amelia") for first, _ in twins] + [(second, "Arjun") for _, second in twins]
    )
    # The UK visitor again, writing their number as at home: their lead, not the other's.
    [uk] = [lead for lead in leads if lead["phone"] == twins[0][0]]
    home = "0" + twins[0][0][4:]
    again = await submit(client, owner, phone=home, message="call after 6")
    assert again.status_code == 202, again.text
    assert len(await _phone_leads(client, owner)) == len(leads)
    assert home in await submitted_phones(client, owner, uk["id"])


async def test_an_owner_giving_a_lead_another_countrys_twin_number_is_no_conflict(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    [(uk, india), _] = _twins()
    first = await client.post(owner.url("/leads"), json={"phone": uk}, headers=owner.headers)
    assert first.status_code == 201, first.text
    second = await client.post(owner.url("/leads"), json={"phone": india}, headers=owner.headers)
    assert second.status_code == 201, second.text
    assert second.json()["id"] != first.json()["id"]


async def test_an_italian_landline_and_mobile_with_the_same_digits_are_two_leads(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """Italy keeps its "0" after "+39": "+39 0331 234567" (a landline) and "+39 331 234567" (a
    mobile) were one lead, the second visitor's form on the first's. Written without "+39",
    each finds its own."""
    landline = await client.post(
        owner.url("/leads"), json={"phone": "+39 0331 234567"}, headers=owner.headers
    )
    mobile = await client.post(
        owner.url("/leads"), json={"phone": "+39 331 234567"}, headers=owner.headers
    )
    assert (landline.status_code, mobile.status_code) == (201, 201), mobile.text
    for typed, lead in (("0331 234567", landline), ("331-234567", mobile)):
        again = await client.post(owner.url("/leads"), json={"phone": typed}, headers=owner.headers)
        assert again.status_code == 200, (typed, again.text)
        assert again.json()["id"] == lead.json()["id"], typed
    assert len(await _phone_leads(client, owner)) == 2


@pytest.mark.parametrize("written", ["07911 {t}", "+44 7911 {t}"])
async def test_removing_a_leads_email_cannot_make_a_second_lead_with_anothers_number(
    client: httpx.AsyncClient, owner: Owner, owner_db: Database, written: str
) -> None:
    """A lead with an address and a number, its address removed (the one path a lead becomes
    one without email; the owner's PATCH takes no email yet), while a lead without email has
    that number: refused with that lead (409 ``lead_exists`` in the service), not a second lead
    with the number (written without "+44": the index could not see it) nor a 500 (written
    alike: the index's conflict looked up a number the edit did not give)."""
    tail = f"{uuid.uuid4().int % 10**6:06d}"
    alone = await client.post(
        owner.url("/leads"), json={"phone": f"+44 7911 {tail}"}, headers=owner.headers
    )
    mailed = await client.post(
        owner.url("/leads"),
        json={"email": f"{uuid.uuid4().hex[:8]}@example.com", "phone": written.format(t=tail)},
        headers=owner.headers,
    )
    assert (alone.status_code, mailed.status_code) == (201, 201), mailed.text
    workspace_id = uuid.UUID(owner.workspace_id)
    async with owner_db.transaction() as session:
        await session.execute(
            text("SELECT set_config('app.workspace_id', :ws, true)"), {"ws": owner.workspace_id}
        )
        with pytest.raises(lead_repo.PhoneTaken) as taken:
            await lead_repo.update_lead(
                session,
                workspace_id=workspace_id,
                lead_id=uuid.UUID(mailed.json()["id"]),
                values={"email": None},
            )
    assert str(taken.value.lead_id) == alone.json()["id"]
    kept = await client.get(owner.url(f"/leads/{mailed.json()['id']}"), headers=owner.headers)
    assert kept.json()["email"] == mailed.json()["email"]

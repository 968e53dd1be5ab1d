"""A lead who left only a phone number: created through the API, one per number (its digits)
in a workspace as leads with an email are one per address, listed, exported, and refused
with a stable code when it has neither an address nor a number anyone could call. Before,
``email`` was required: a phone-only lead was a 422 ``validation_error`` on ``email``."""

from __future__ import annotations

import csv
import io

import httpx

from tests.conftest import Owner, signup


async def test_a_lead_with_only_a_phone_number_is_a_lead_deduplicated_by_its_digits(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    first = await client.post(
        owner.url("/leads"),
        json={"phone": "+91 98765 43210", "name": "Ravi"},
        headers=owner.headers,
    )
    assert first.status_code == 201, first.text
    lead = first.json()
    assert (lead["email"], lead["phone"], lead["name"]) == (None, "+91 98765 43210", "Ravi")

    # The same number written otherwise: the same lead, its number as first written.
    again = await client.post(
        owner.url("/leads"),
        json={"phone": "+91-98765-43210", "message": "Call after 6"},
        headers=owner.headers,
    )
    assert again.status_code == 200, again.text
    assert again.json()["id"] == lead["id"]
    assert (again.json()["phone"], again.json()["name"]) == ("+91 98765 43210", "Ravi")
    assert again.json()["message"] == "Call after 6"

    # Another number is another lead; an address with the same number is its own lead.
    other = await client.post(
        owner.url("/leads"), json={"phone": "+91 98765 43211"}, headers=owner.headers
    )
    assert other.status_code == 201, other.text
    by_email = await client.post(
        owner.url("/leads"),
        json={"email": "ravi@example.com", "phone": "+91 98765 43210"},
        headers=owner.headers,
    )
    assert by_email.status_code == 201, by_email.text

    listing = (await client.get(owner.url("/leads"), headers=owner.headers)).json()
    assert listing["total"] == 3
    assert {item["email"] for item in listing["items"]} == {None, "ravi@example.com"}

    exported = await client.get(owner.url("/leads/export"), headers=owner.headers)
    assert exported.status_code == 200
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    ravi = next(row for row in rows if row["id"] == lead["id"])
    assert (ravi["email"], ravi["phone"], ravi["name"]) == ("", "'+91 98765 43210", "Ravi")


async def test_a_lead_with_neither_an_address_nor_a_number_is_refused_with_its_code(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    for body in (
        {"name": "Nobody"},
        {"email": None, "phone": None},
        {"phone": "   "},
        {"phone": "123"},  # no one could call it
        {"phone": "+1 234 567 890 123 456 7"},  # 17 digits: more than E.164 allows
    ):
        response = await client.post(owner.url("/leads"), json=body, headers=owner.headers)
        assert response.status_code == 422, (body, response.text)
        error = response.json()["error"]
        assert error["code"] == "contact_required", (body, error)
        assert [d["field"] for d in error["details"]] == ["email", "phone"]
    listing = (await client.get(owner.url("/leads"), headers=owner.headers)).json()
    assert listing["total"] == 0
    # With an address, a short number is only a detail.
    fine = await client.post(
        owner.url("/leads"), json={"email": "x@example.com", "phone": "123"}, headers=owner.headers
    )
    assert fine.status_code == 201, fine.text


async def test_one_number_in_two_workspaces_is_two_leads_each_its_own(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    other = await signup(client, "Globex")
    mine = await client.post(
        owner.url("/leads"), json={"phone": "98765 43210"}, headers=owner.headers
    )
    theirs = await client.post(
        other.url("/leads"), json={"phone": "98765 43210"}, headers=other.headers
    )
    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert mine.json()["id"] != theirs.json()["id"]
    seen = await client.get(other.url(f"/leads/{mine.json()['id']}"), headers=other.headers)
    assert seen.status_code == 404


async def test_a_phone_only_leads_number_cannot_be_removed_nor_made_anothers(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """Its number is all that reaches a lead without email: a PATCH taking it away (null, or a
    number no one could call) is 422 ``contact_required``, and one giving it another such lead's
    number is 409 ``lead_exists``; both were 500 (the check constraint, the unique index)."""
    first = await client.post(
        owner.url("/leads"), json={"phone": "98765 43210"}, headers=owner.headers
    )
    second = await client.post(
        owner.url("/leads"), json={"phone": "98765 43211"}, headers=owner.headers
    )
    lead_id = first.json()["id"]
    for phone in (None, "", "123"):
        refused = await client.patch(
            owner.url(f"/leads/{lead_id}"), json={"phone": phone}, headers=owner.headers
        )
        assert refused.status_code == 422, (phone, refused.text)
        assert refused.json()["error"]["code"] in ("contact_required", "validation_error")
    taken = await client.patch(
        owner.url(f"/leads/{lead_id}"), json={"phone": "098765-43211"}, headers=owner.headers
    )
    assert taken.status_code == 409, taken.text
    assert taken.json()["error"]["code"] == "lead_exists"
    assert taken.json()["error"]["details"] == [{"lead_id": second.json()["id"]}]
    kept = await client.get(owner.url(f"/leads/{lead_id}"), headers=owner.headers)
    assert kept.json()["phone"] == "98765 43210"
    # Another number of its own, and any number on a lead with an email, are fine.
    moved = await client.patch(
        owner.url(f"/leads/{lead_id}"), json={"phone": "98765 43219"}, headers=owner.headers
    )
    assert moved.status_code == 200, moved.text
    with_email = await client.post(
        owner.url("/leads"), json={"email": "e@example.com", "phone": "123"}, headers=owner.headers
    )
    cleared = await client.patch(
        owner.url(f"/leads/{with_email.json()['id']}"), json={"phone": None}, headers=owner.headers
    )
    assert cleared.status_code == 200, cleared.text


async def test_a_lead_without_email_is_found_by_its_number(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """A reviewer's finding: the search looked at the email and the name only, so a lead who
    left only a number (a chat's has no name) was listed by its number and found by no search
    for it. Its digits are compared, as they are when leads are told apart."""
    made = await client.post(
        owner.url("/leads"), json={"phone": "+91 98765-43210"}, headers=owner.headers
    )
    assert made.status_code == 201, made.text
    await client.post(
        owner.url("/leads"), json={"email": "jane@example.com"}, headers=owner.headers
    )
    for q in ("98765", "98765 43210", "+91 9876543210", "8765-4321"):
        found = (
            await client.get(owner.url("/leads"), params={"q": q}, headers=owner.headers)
        ).json()
        assert [item["id"] for item in found["items"]] == [made.json()["id"]], (q, found)
        assert found["total"] == 1, (q, found)
    # Words still search the addresses and names only: no number matches them.
    found = await client.get(owner.url("/leads"), params={"q": "jane"}, headers=owner.headers)
    assert [item["email"] for item in found.json()["items"]] == ["jane@example.com"]

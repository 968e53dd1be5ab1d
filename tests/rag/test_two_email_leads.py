"""A chat message with two email addresses, one given as the visitor's ("email me at A or B",
"my colleague B wants a demo, write to me at A", "my colleague and I want a demo: A or B"),
saves the visitor's lead with theirs (the first of "A or B"), the other address left in the
lead's message. Before, any second address made the message no one leaving theirs: the
visitor who had just given an address was asked for one, and no lead was saved. Two
addresses with nothing saying which is the visitor's still give none."""

from __future__ import annotations

import httpx
import pytest

from rag.chat.contact_details import contact_email
from rag.chat.intents import detect_intent
from tests.conftest import Owner
from tests.rag.test_chat import chat
from tests.rag.test_lead_capture_never import leads_of

ASHA = "asha@example.org"

GIVEN = [
    ("email me at asha@example.org or asha.work@example.org", "asha.work@example.org"),
    ("my colleague ravi@example.org wants a demo, write to me at asha@example.org", "ravi@"),
    ("my colleague and I want a demo: asha@example.org or ravi@example.org", "ravi@"),
    ("reach me at asha@example.org, my colleague is ravi@example.org", "ravi@"),
    ("my email is asha@example.org (cc ravi@example.org)", "ravi@"),
]


@pytest.mark.parametrize(("message", "other"), GIVEN)
def test_the_address_given_as_the_visitor_s_is_read(message: str, other: str) -> None:
    assert contact_email(message) == ASHA
    assert detect_intent(message).intent == "contact"


@pytest.mark.parametrize(
    "message",
    [
        # Any word between "my" and "email" was read as the visitor's own: a colleague's
        # address typed without its apostrophe, or the old one beside the new, was the lead.
        "my colleagues email is ravi@example.org, write to me at asha@example.org",
        "my old email is ravi@example.org, my new email is asha@example.org",
        # Said so in the words that make a lead beside a question, unread among two.
        "my mail id is asha@example.org, ravi@example.org is my colleague",
        "email me back at asha@example.org, not ravi@example.org",
        "my company email is asha@example.org; ravi@example.org is on leave",
    ],
)
def test_of_two_addresses_the_one_the_lead_words_give_as_theirs_is_read(message: str) -> None:
    """One list of words gives an address as the visitor's (``email_phrases.GIVEN_AS_THEIRS``),
    here and beside a question (``contact_beside``)."""
    assert contact_email(message) == ASHA


@pytest.mark.parametrize(
    "kind",
    ["own", "private", "home", "preferred", "gmail", "real", "correct", "updated", "usual"],
)
def test_an_address_given_as_one_of_the_visitor_s_own_kinds_is_theirs(kind: str) -> None:
    """Of "my own email is A" beside a colleague's B, A was the lead until the kinds of one's own
    address became a list of eleven words: then neither was read as theirs, and no lead."""
    said = f"my colleague's email is ravi@example.org, my {kind} email is {ASHA}"
    assert contact_email(said) == ASHA
    assert contact_email(f"my {kind} email address is {ASHA}, cc ravi@example.org") == ASHA


@pytest.mark.parametrize(
    "message",
    [
        "our company email is info@example.org, but write to me at asha@example.org",
        "our main address is info@example.org and my email is asha@example.org",
        "you can email us at team@example.org, or write to me at asha@example.org",
    ],
)
def test_the_visitor_s_own_address_goes_before_their_company_s(message: str) -> None:
    """The company's shared address, named first, was the lead of a visitor who said where to
    write to them."""
    assert contact_email(message) == ASHA


@pytest.mark.parametrize(
    "message",
    [
        "asha@example.org ravi@example.org",
        "asha@example.org and ravi@example.org both got the invoice",
        "should I log in with asha@example.org or ravi@example.org?",
        "I emailed asha@example.org or ravi@example.org, no reply",
    ],
)
def test_two_addresses_with_nothing_saying_which_give_none(message: str) -> None:
    assert contact_email(message) is None
    assert detect_intent(message).intent != "contact"


@pytest.mark.parametrize(("message", "other"), GIVEN[:3])
async def test_the_lead_is_saved_with_the_visitor_s_address(
    client: httpx.AsyncClient, owner: Owner, message: str, other: str
) -> None:
    body = (await chat(client, owner, message, session_id="visitor-two-emails")).json()
    assert (body["intent"], body["lead_saved"]) == ("contact", True), body
    assert "email you" in body["answer"], body
    assert "don't know" not in body["answer"], body
    [lead] = await leads_of(client, owner)
    assert (lead["email"], lead["source"]) == (ASHA, "chat"), lead
    assert lead["conversation_id"] == body["conversation_id"], lead
    submissions = await client.get(
        owner.url(f"/leads/{lead['id']}/submissions"), headers=owner.headers
    )
    assert submissions.status_code == 200, submissions.text
    assert other in str(submissions.json()), submissions.json()

"""People of the visitor's own team, company or school, counted in a price ask, are seats:
the sales route, the contact form under the FAQ's answer. The lexicon that made "price for 2
people" an ordinary price question (a hotel's, a restaurant's guests) took the team only right
after "our" and one of five words before it: "pricing for 20 people on our support team",
"price for 30 students at our school", "Preis für 20 Personen aus unserem Support-Team" lost
the form they had before. Through the chat API with a widget key."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import Owner
from tests.rag.test_people_priced import asked_with_an_faq

# (the message, whether the contact form comes under the FAQ's answer): people of the
# visitor's team, company or school are buyers; a hotel's or a restaurant's guests are not.
ASKED = [
    ("What's the pricing for 20 people on our support team?", True),
    ("pricing for 15 people in our customer support team", True),
    ("costs for 20 people on our support team", True),
    ("price for 20 people for our team", True),
    ("pricing for 20 people across our company", True),
    ("pricing for 30 students at our school", True),
    ("price for 30 students at my school", True),
    ("Preis für 20 Personen aus unserem Support-Team", True),
    ("price for 2 people in our room", False),
    ("price for 4 people at our table", False),
    ("What's the price for 2 people per night?", False),
]


@pytest.mark.parametrize(("message", "form"), ASKED)
async def test_people_of_the_visitors_team_get_the_form_under_the_faqs_answer_guests_do_not(
    client: httpx.AsyncClient, owner: Owner, message: str, form: bool
) -> None:
    body = await asked_with_an_faq(client, owner, message)
    assert (body["intent"], body["lead_capture"]) == ("lead", form), body

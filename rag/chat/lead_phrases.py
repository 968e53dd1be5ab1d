"""The English lexicon of sales leads ``rag.chat.intents`` reads: a price asked about
(``PRICE_PATTERNS``: a lead, yet a question the knowledge may answer) and a quote, a demo, sales,
pricing for the visitor's team or a number of seats, a call back or a phone number asked for or
left (``SALES_PATTERNS``: a lead whatever the answer, so the contact form comes with an answer
from the knowledge too: ``stages.Turn.lead_capture``).
Other languages' are ``rag.chat.lead_languages``. ``first_asked``: the first lead of them a
message asks. Split from ``intents.py`` when it passed 500
lines."""

from __future__ import annotations

import re

from rag.chat.courtesy import phrases
from rag.chat.human_requests import turned_down_before

# Asking what something costs: a lead, yet a question the knowledge may answer (then no
# contact form: ``price_question``).
PRICE_PATTERNS = (
    r"pric(?:e|es|ing)",
    r"price (?:list|plans?)",
    r"plans? and pric(?:e|es|ing)",
    r"how much (?:does|do|would|will|did) (?:\S+ ){1,4}(?:cost|charge)",
    r"how much (?:is|are|for) (?:it|this|that|they|(?:the|your|a|an) \w+|\w+)",
    r"how much(?=$)",
    r"what (?:does|do|would|will) (?:it|this|that|they|you|u) (?:cost|charge)",
    r"whats the cost",
    r"costs?(?: of| for)? (?:it|this|that|the plan|the plans|your plans|a plan|the subscription)",
    r"^costs?$",
    r"how expensive",
)
# A phone number, as ``courtesy.words`` leaves it ("+91 98765-43210" is "91 98765 43210"): 7
# to 15 digits, in groups.
PHONE_DIGITS = r"\d(?: ?\d){6,14}"
# The visitor's own number named after "my" ("my number", "my mobile no", and of a kind: "my
# work number", "my office landline", "my new number", "my cell phone number"; not "my old
# number", "my order number": no number to call now, or another's).
_OWN_KIND = (
    r"(?:new|current|other|alternate|alternative|second|secondary|personal|private|work|office"
    r"|home|business|direct|primary|main|daytime|landline|line|phone|mobile|cell|cellphone|contact"
    r"|whatsapp|telephone|tel|ph|mob)"
)
OWN_NUMBER = (
    rf"(?:{_OWN_KIND} ){{0,2}}(?:number|no|num|phone|mobile|cell|cellphone|whatsapp|landline)"
)
# When a call is asked for: "call me back", "call me at 555 123 4567" ("call me at home" is no
# more than "call me"; "why did you call me at 3am?" asks about one made). The number is
# matched whole: a lookahead for its first digit could never be followed by the phrase's end
# (``phrases``' "(?!\S)"), so "call me at 9876543210" was a question.
_CALL_WHEN = rf"(?:back|asap|today|tomorrow|now|soon|later|please|pls|plz|(?:at|on) {PHONE_DIGITS})"
# A number left ("my number is 555 123 4567", "my whatsapp is ..."; not "my order number is
# 12345678"; the number first, "555 123 4567 is my number": ``number_first``).
# "Mine" names the visitor's own after another's ("my wife's number is A and mine is B").
_NUMBER_LEFT = rf"(?:my {OWN_NUMBER}(?: is)?|mine is|mines) {PHONE_DIGITS}"
# Asking to buy, for a quote, a demo or sales: a lead whatever the answer.
SALES_PATTERNS = (
    r"(?:get|request|need|want|send me|give me) (?:a |an )?(?:price |custom )?quot(?:e|ation)s?",
    r"^quot(?:e|ation)s?$",
    # "I'd like a quote for 20 licences", "we'd love a demo", "could I have a quote?", "can
    # you quote me for 20 seats?", "quote for 20 licences" (an owner's walk: each was a
    # question, answered from the documents without the contact form)
    r"(?:id|wed|would|d) (?:like|love)(?: to (?:get|have|request|receive|see|book|schedule"
    r"|arrange))? (?:a |an |your |some )?(?:price |custom |formal |free |quick |short "
    r"|live |product )?(?:quot(?:e|ation)s?|demo|demonstration|consultation|walkthrough)",
    r"(?:can|could|may) (?:i|we) (?:please )?have (?:a |an )?(?:price |custom |formal )?"
    r"(?:quot(?:e|ation)s?|demo)",
    r"(?:can|could|would|will) (?:you|u) (?:please )?quote (?:me|us)",
    r"^(?:a |an )?(?:price |custom )?quot(?:e|ation)s? (?:for|on)",
    # Pricing for the visitor's team or a number of seats, not for one plan ("pricing for my
    # team", "pricing for 50 users?", "volume pricing"): a buyer, offered the form
    r"(?:pric(?:e|es|ing)|costs?|quot(?:e|ation)s?)(?: \S+){0,2} for (?:(?:my|our|the whole)"
    r" (?:team|company|organi[sz]ation|business|firm|office|staff|department|school"
    r"|employees)|a (?:team|company) of)",
    # Seats counted, not people: "price for 2 people" (a hotel's, a restaurant's, a class's
    # guests, adults, students) is an ordinary price question, unless they are the visitor's
    # team or company ("price for 20 people in our team")
    r"(?:pric(?:e|es|ing)|costs?|quot(?:e|ation)s?) for \d+ (?:\S+ )?(?:users|seats|licen[cs]es"
    r"|employees|members|agents|staff|accounts)",
    # (with a word or two before the team: "20 people on our support team", and students of
    # the visitor's school: "price for 30 students at our school")
    r"(?:pric(?:e|es|ing)|costs?|quot(?:e|ation)s?) for \d+ (?:people|persons|students|pupils)"
    r"(?: \S+)? (?:in|at|from|of|on|for|across|within) (?:my|our)(?: \S+){0,2} (?:team|company"
    r"|organi[sz]ation|business|firm|office|department|school)",
    r"(?:team|volume|bulk|group|corporate) (?:pric(?:e|es|ing)|discounts?|licen[cs]ing)",
    r"(?:book|schedule|request|get|arrange|set ?up|want|see) (?:a |an |the |your )?"
    r"(?:free |quick |short |live |product )?(?:demo|call|meeting|consultation|walkthrough)",
    r"^(?:a |free )?demo$",
    r"contact (?:the |your )?sales(?: team)?",
    r"(?:talk|speak|chat|get in touch|connect) (?:to|with) (?:the |your |a |someone (?:in|from) )?"
    r"sales(?: team| rep| representative| person)?",
    r"sales (?:team|rep|representative|department)",
    r"^sales$",
    r"(?:i|we) (?:want|would like|d like|wish|plan|am planning|are planning) to "
    r"(?:buy|purchase|subscribe|sign up|upgrade)",
    r"interested in (?:buying|purchasing|your product|your products|your service|your services"
    r"|a subscription|subscribing|the enterprise plan|enterprise)",
    r"free trial",
    r"enterprise plan",
    # A call asked for ("please call me", "can someone call me back?", "give me a call"), not
    # a name given ("please call me Bob", "you can call me Sam": ``contact_names``).
    r"(?<!did )(?<!didnt )(?<!why )(?:please|pls|plz|pl|kindly|can you|could you|can u|could u"
    r"|can someone|could someone|can somebody|could somebody|can anyone|could anyone|would you"
    rf"|someone|somebody) call me(?! (?!{_CALL_WHEN})[a-z]+(?: [a-z]+)?$)",
    r"(?<!did )(?<!didnt )(?<!who )(?<!you )(?<!they )(?<!someone )(?<!never )"
    rf"call me {_CALL_WHEN}",
    r"give me a (?:call|ring|callback|call back)(?: back)?",
    r"(?:request|want|need|like|get|arrange|book|schedule) (?:a )?(?:call ?back|phone call)",
    _NUMBER_LEFT,
)

LEAD = phrases(*PRICE_PATTERNS, *SALES_PATTERNS)
SALES = phrases(*SALES_PATTERNS)


def first_asked(pattern: re.Pattern[str], words: str) -> re.Match[str] | None:
    """The first lead of ``pattern`` in ``words``, but a demo, a quote or sales turned down or
    asked about just before it, as a person is ("I don't want a demo", "do I have to request
    a quote?": ``human_requests.turned_down_before``); a price asked is asked whatever comes
    before it ("no pricing on your site?")."""
    for found in pattern.finditer(words):
        sales = SALES.fullmatch(found.group(0)) is not None
        if not sales or not turned_down_before(words[: found.start()].rstrip(), found.group(0)):
            return found
        if _LEFT.fullmatch(found.group(0)):
            return found  # "no, my number is ...": a correction, no number turned down
    return None


_LEFT = re.compile(_NUMBER_LEFT)
"""A number left: no word before it turns it down ("no, my number is ..." corrects one)."""

"""A call asked on the number a message gives, read beside what else the message says (split
from ``intents.py`` when it neared 500 lines): how many words of its own the visitor says
besides the call (``beside_the_call``, read once per message by ``intents.detect_intent``): a
complaint or a question beside it (``complains_beside_a_call``), or nothing but the call
(``asks_only_a_call``); and the question without the call's clause (``without_callback``)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

from rag.chat.call_phrases import (
    CALL_FRAMING,
    CLAUSE_END,
    called_on,
    number_at,
    when_to_call,
)
from rag.chat.contact_details import (
    CONTACT_WORDS,
    callback_number,
    orders_or_books,
    phone_candidates,
)
from rag.chat.courtesy import (
    FILLER,
    GOODBYE,
    GREETING,
    THANKS,
    after_greetings,
    courtesy_only,
    how_are_you_alone,
    without_courtesy,
)
from rag.chat.courtesy import words as _words
from rag.chat.lead_languages import sales_asked
from rag.chat.lead_phrases import LEAD, first_asked
from rag.chat.offered_numbers import others_offered

COMPLAINT_WORDS = 2
"""Words of its own beside the call that make a complaint or a question of a message."""

_LOOSE_ENDS = " ,;:\n\u060c\u061b\u3001\uff0c\uff1a\uff1b"
# The courtesy around a call, goodbyes taken out first ("have a good day" whole, not its
# greeting "good day"), then thanks and greetings (``courtesy.without_courtesy``).
_COURTESY = (GOODBYE, THANKS, GREETING)


def without_callback(text: str) -> str:
    """``text`` without the clause asking for a call on its number (``callback_number``): "Where
    is my order? Please call me on +91 98765 43210" is "Where is my order?", "my order is late,
    please call me on ..." is "my order is late", and a Chinese complaint before its call
    ("我的订单还没到") is that complaint; a call asked before the number, in a clause of its own,
    goes with it ("Where is my order? Can you call me? My number is ..." is "Where is my
    order?"). When that clause is all the text ("why is my refund
    late and can you call me on ...") or all of it but courtesy ("hi, where is my parcel call
    me on ..."), the number alone is left out. ``text`` itself when it
    asks for no call: a number asked about ("Is 0171 2345678 your support line?") is part of
    the question."""
    number = callback_number(text)
    at = -1 if number is None else number_at(text, number)
    if number is None or at < 0:
        return text
    after = _numbers_end(text, at)
    ends = [m.end() for m in CLAUSE_END.finditer(text, 0, _call_start(text, at))]
    start = ends[-1] if ends else 0
    closing = CLAUSE_END.search(text, after)
    end = closing.end() if closing else len(text)
    kept = (text[:start] + text[end:]).strip(_LOOSE_ENDS)
    if not any(ch.isalnum() for ch in kept) or courtesy_only(_words(kept), _COURTESY):
        # The call's clause holds the question ("hi, where is my parcel call me on ..."): the
        # greeting kept alone would be the question asked, so only the number is left out.
        kept = (text[:at] + text[after:]).strip(_LOOSE_ENDS)
    return kept or text


def _numbers_end(text: str, at: int) -> int:
    """Where the number a call is asked on, typed at ``at`` in ``text``, ends, with the
    numbers offered after it ("call me on A, or B. Where is my order?": after B), not a number
    named as another's after them ("call me on A, my order B is late": ``phone_candidates``)."""
    last = phone_candidates(text)[-1]
    return max(at, number_at(text, last, at)) + len(last)


# Characters ``courtesy.words`` drops inside a word ("don't" is "dont"): no word ends there.
_JOINING = "'\u2018\u2019\u02bc\u0060\u00b4\ufe0e\ufe0f"


def _call_start(text: str, at: int) -> int:
    """Where in ``text`` the call asked on the number typed at ``at`` starts ("call" in "Can
    you call me? My number is ..."), when it starts a word; else ``at``."""
    words = _words(text)
    call = called_on(words)
    if call is None or (call.start() and words[call.start() - 1] != " "):
        return at
    first = words[call.start() :].split(" ", 1)[0]
    nth = len(words[: call.start()].split())
    start = next((pos for i, pos in enumerate(_word_starts(text)) if i == nth), at)
    # (a character NFKC makes two words of, "½", would misplace it: the word is checked)
    return start if start < at and _words(text[start:]).startswith(first) else at


def _word_starts(text: str) -> Iterator[int]:
    """Where each word of ``text`` starts, as ``courtesy.words`` splits it into words."""
    inside = False
    for i, ch in enumerate(text):
        if ch in _JOINING:
            continue
        word = unicodedata.category(ch)[0] in "LMN"
        if word and not inside:
            yield i
        inside = word


def call_asked(text: str, words: str) -> re.Match[str] | None:
    """The call asked on the message's number (``callback_number``), None for none."""
    return called_on(words) if callback_number(text) is not None else None


def complains_beside_a_call(text: str, words: str) -> bool:
    """Whether a message asks to be called back on its number (``callback_number``) and says
    besides what is wrong or asks something ("my order is late", "the app keeps crashing",
    "Mi pedido llega tarde"): two words or more of its own, no courtesy, none of a sales lead,
    an order or a booking (those are a lead's own details: "I want to order 50 units, call me
    on ..." is a lead). A message short enough to be a number left (``leaves_a_phone``: "I'd
    like a table for 2 at 8, call me on ...", "This is Ravi Kumar, call me on ...") is a
    complaint only when it states a problem or asks (``problems.states_a_problem``: "the app
    crashes, call me on ...")."""
    own = beside_the_call(text, words)
    return own is not None and own >= COMPLAINT_WORDS


def asks_only_a_call(text: str, words: str) -> bool:
    """Whether a message asks to be called back on its number (``callback_number``) and
    nothing else: no complaint, no question (``complains_beside_a_call``), no sales lead, order
    or booking beside the call; politeness, courtesy and when to call are the request's own
    ("Could you call me back on ...?", "Können Sie mich unter ... zurückrufen?", "Potete
    richiamarmi al ...?", "Would you be able to call me on ... tomorrow morning?"). A number
    left, as "call me on ..." is."""
    own = beside_the_call(text, words)
    return own is not None and own < COMPLAINT_WORDS


def beside_the_call(text: str, words: str) -> int | None:
    """How many words of its own a message says besides the call asked on its number (Chinese
    and Japanese, which write a sentence as one word, count four characters or more as two);
    None when it asks no call on its number, or asks a sales lead, an order or a booking
    besides it. Greetings, thanks, when to call and a how are you that is all of its clause
    but greetings ("ciao, come stai, chiamami al ...") are none of its own."""
    number = callback_number(text)
    call = None if number is None else called_on(words)
    if number is None or call is None:
        return None
    rest = f"{words[: call.start()]} {words[others_offered(words, call.end()) :]}"
    if first_asked(LEAD, rest) or sales_asked(rest, rest) or orders_or_books(rest):
        return None
    rest = without_courtesy(rest, _COURTESY)
    at = number_at(text, number)
    before = CLAUSE_END.split(text[: max(_call_start(text, at), 0)])
    after = CLAUSE_END.split(text[_numbers_end(text, at) :]) if at >= 0 else []
    # When to call, all its clause but greetings ("when you get a chance, call me on ...",
    # "call me on ..., whenever you are free"), is the call's; so is how are you before it.
    for said, greeted in [
        *((_words(c), True) for c in before),
        *((_words(c), False) for c in after),
    ]:
        asked = when_to_call(said, after_greetings(said))
        if asked := asked or (how_are_you_alone(said) if greeted else None):
            rest = re.sub(rf"(?<!\S){re.escape(asked)}(?!\S)", " ", rest, count=1)
    own = [
        w
        for w in rest.split()
        if w not in FILLER and w not in CONTACT_WORDS and w not in CALL_FRAMING and not w.isdigit()
    ]
    return len(own) + sum(len(w) >= 4 and w[0] >= "\u3040" for w in own)

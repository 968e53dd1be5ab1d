"""Numbers offered as one another's alternatives after the visitor's first ("call me on A or B",
"A, or on my other number B", "chiamami al A oppure al B", "my number is A or B"), or named
after it as not theirs ("my number is A, not B"): the first is the one to call
(``contact_details.contact_phone``), the others stay in the visitor's message
(``others_offered``: their "or" is the call's, no words of the visitor's own). Split from
``call_phrases.py`` when it reached 500 lines."""

from __future__ import annotations

import re
from itertools import pairwise

from rag.chat.call_phrases import (
    _DE_ON,
    _EN_NUMBER,
    _EN_ON,
    _EN_THE,
    _HI_ON,
    _MINE,
    _N,
    _RU_ON,
    CLAUSE_END,
    _plain,
    called_on,
    digits_of,
    number_at,
)
from rag.chat.courtesy import after_greetings
from rag.chat.courtesy import words as _words

# "Or", offering another number ("call me on A or B", "chiamami al A oppure al B", "A или B"),
# and the words that may come with it ("or on my other number B", "o al B", "oder unter B").
_OR = frozenset(
    {"or", "alternatively", "otherwise", "oder", "o", "u", "oppure", "ou", "или", "либо"}
    | {"ya", "या", "أو", "او", "或", "或者", "または", "か"}
)
# Of the links above, those of English, German "unter"/"auf", Russian "по"/"на" and Hindi all
# go with "or"; of the others only some, as before (all of them would change what "or" offers:
# "oder unter meiner Nummer B" offers another number, "oder unter der Rufnummer B" does not).
_OR_LINKS = frozenset(
    {*_EN_ON, *_EN_THE, *_EN_NUMBER, *_DE_ON, *_RU_ON, *_HI_ON}
    | {"other", "second", "landline", "whatsapp", "meine", "meiner", "nummer", "handy"}
    | {"al", "allo", "sul", "il", "mio", "numero", "cellulare", "mi", "número", "celular"}
    | {"au", "sur", "le", "mon", "numéro", "portable", "pelo", "para", "meu", "telefone"}
    | {"номеру", "мой", "على", "الرقم", "رقم"}
)


def or_numbers(text: str, numbers: list[str]) -> bool:
    """Whether the first of ``numbers`` (as ``contact_details.phones_in`` gives them) is the
    visitor's, a call asked on it or "my number is" before it, and each other number is offered
    right after the one before it as another way to reach them: "call me on A or B", "A, or on
    my other number B", "chiamami al A oppure al B", "my number is A or B". The first is then
    the one to call (``contact_details.contact_phone``); the others stay in the visitor's
    message. Numbers merely quoted ("call 98765 43210 or 98765 43211") are none. (The text's
    digits read once, not once per number: "A or B or B ..." to the message's end.)"""
    if not _given_as_theirs(text, numbers[0]):
        return False
    plain = _plain(text)
    end = 0
    for i, number in enumerate(numbers):
        at = plain.find(number, end)
        if at < 0 or (i and not _offers_another(text[end:at])):
            return False
        end = at + len(number)
    return True


def _given_as_theirs(text: str, number: str) -> bool:
    """Whether ``text`` asks a call on ``number`` (``called_on``) or gives it as the visitor's,
    "my number is" all its clause before it but greetings ("hi, my number is ...", "here is
    my number ..."; not asked of: "which is my number ...", "Is my number ...?")."""
    call = called_on(_words(text), bare=False)  # ("call A or B" merely quotes them)
    if call is not None and digits_of(call[0]) == digits_of(number):
        return True
    before = text[: max(number_at(text, number), 0)].rstrip().rstrip(":\uff1a")  # "my no: ..."
    clause = _words(CLAUSE_END.split(before)[-1])
    return _MINE.fullmatch(clause, after_greetings(clause)) is not None


def _offers_another(between: str) -> bool:
    """Whether the text between two numbers offers the second as another way to reach the
    visitor: "or" with its words ("or on my other number", "oppure al"). (Not a slash: the
    call phrases, reading reduced text, take "A / B" for one long number.)"""
    linked = _words(between).split()
    if any(w in _OR_NOT and then == "no" for w, then in pairwise(linked)):
        return False  # "call me on A, or no, B": A taken back ("ou no B": "or on the B")
    if linked[:1] == ["not"] or linked[:2] in (["but", "not"], ["and", "not"]):
        # "my number is A, not B", "call me on A, not on B": B is the wrong one, A theirs.
        return all(w in _NOT_LINKS or w in _OR_LINKS for w in linked)
    return any(w in _OR for w in linked) and all(w in _OR or w in _OR_LINKS for w in linked)


# The words of a number named as not the visitor's after theirs ("A, not B", "but not on my
# old number B").
_NOT_LINKS = frozenset({"not", "but", "and", "old", "previous", "wrong", "former"})


# "Or" that "no" after turns to "or not" ("or no", "o no").
_OR_NOT = frozenset({"or", "o", "u"})


_ANOTHER = re.compile(
    r"(?:(?: (?:"
    + "|".join(re.escape(w) for w in sorted(_OR | _OR_LINKS, key=len, reverse=True))
    + rf"))+ {_N}(?!\S))+"
)


def others_offered(words: str, end: int) -> int:
    """Where the numbers offered after the one a call is asked on (``or_numbers``: "or on my
    other number ...", "oppure al ...") end in ``words`` (reduced), the call's number ending
    at ``end``; ``end`` for none. Their "or" is the call's, not the visitor's words beside
    it; an "or" elsewhere is ("¿ya pagaron o no?")."""
    others = _ANOTHER.match(words, end)
    return end if others is None else others.end()

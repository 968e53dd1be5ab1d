"""Which of two or more email addresses in a message is the visitor's own: the one given as
theirs ("write to me at A", "email me at A", "my email is A", "reach me at A"), or, offered as
theirs as one another's alternatives, the first ("email me at A or B", "my colleague and I want
a demo: A or B"). A colleague's address named beside ("my colleague B wants a demo, write to me
at A") is not the visitor's; it stays in their message. Two addresses with nothing saying which
("A and B both got the invoice", "should I log in with A or B?") give none
(``contact_details.contact_email``). English only, as ``contact_details.leaves_an_address``."""

from __future__ import annotations

import re

from rag.chat.courtesy import words

MAIL = r"(?:e ?mail|mail|email id|e mail id|mail id)"
"""An email named, as ``courtesy.words`` spells it ("e-mail" is "e mail")."""
_WHICH = (
    r"(?:work|personal|contact|business|company|office|official|new|current|main|primary"
    r"|own|private|home|preferred|best|direct|real|actual|correct|right|updated|latest|usual"
    r"|regular|active|permanent|professional|corporate|school|university|college|student"
    r"|account|login|billing|other|alternate|alternative|backup|secondary|second"
    r"|gmail|googlemail|yahoo|hotmail|outlook|live|icloud|proton|protonmail|zoho)"
)
"""The kinds of one's own address ("my work email is", "my own email is", "my gmail address
is"): a list, not any word, for "my colleagues email is", "my old email is" name an address
that is not the one to write to. (Any word was read so before the list; the list's first
eleven words left out "my own", "my private", "my preferred" email..., and the visitor who
said so beside another address left no lead.)"""
GIVEN_AS_THEIRS = (
    rf"(?:(?:my|our) (?:{_WHICH} )?(?:{MAIL}(?: address)?|address)(?: id)?(?: is)?"
    r"|(?:email|e mail|mail|write|reach|contact|message)(?: back)?(?: to)? (?:me|us)(?: back)?"
    r"|get back to (?:me|us))(?: at| on| via)?"
)
"""The English words giving the address right after them as the visitor's own ("my email is",
"write to me at", "get back to me at"), as ``courtesy.words`` spells them. One list for both
readers, which differ only in where the words stand: here they end right before one of several
addresses, whatever came before them in the message ("my colleague B wants a demo, write to me
at A"); ``contact_beside._EMAIL_BEFORE`` takes them (with a few leading words, and the other
languages of the lead tables) as the whole clause of an address left beside a question."""
_ENDING_IN_THEIRS = re.compile(rf"(?:^| )(?:{GIVEN_AS_THEIRS})$")
_SINGULAR = frozenset({"my", "me"})
"""Words giving an address as the visitor's own, not their company's shared one ("our
company email is info@..., write to me at A": A, where the first, info@..., was the lead)."""
# An address after a colon ending a clause where the visitor speaks of themselves ("my
# colleague and I want a demo: ..."): with others offered beside it ("A or B"), theirs.
_CLAUSE_END = re.compile(r"[.!?;,]")
_FIRST_PERSON = re.compile(r"\b(?:i|me|my|we|us|our)\b")
_NEAR = 80
"""Characters before an address read for the words giving it (bounded: linear in the text)."""
# Between one address and another offered as another way to reach the same visitor.
_OR_ANOTHER = re.compile(r"\s*,?\s*or(?: at| on| to)?\s*$")


def visitors_address(text: str, found: list[re.Match[str]]) -> str | None:
    """The address (as typed, its final "." dropped) of ``found`` (the addresses in ``text``, in
    order) that is the visitor's: the only one; the first given as theirs, as their own
    ("my", "me") before as their company's ("our", "us"); or the first of alternatives ("A or
    B") after a colon they speak before. None for none said to be theirs."""
    addresses = [m.group(0).rstrip(".") for m in found]
    if len(set(addresses)) < 2:
        return addresses[0] if addresses else None
    ours = None  # the first given as their company's ("our email is", "email us at")
    for i, match in enumerate(found):
        start = max(found[i - 1].end() if i else 0, match.start() - _NEAR)
        given = _ENDING_IN_THEIRS.search(words(text[start : match.start()]))
        if given is not None and _SINGULAR.intersection(given.group().split()):
            return addresses[i]
        if given is not None and ours is None:
            ours = addresses[i]
    if ours is not None:
        return ours
    first, second = found[0], found[1]
    clause = _CLAUSE_END.split(text[: first.start()].lower())[-1].rstrip()
    between = text[first.end() : second.start()].lower()
    if clause.endswith(":") and _FIRST_PERSON.search(clause) and _OR_ANOTHER.fullmatch(between):
        return addresses[0]
    return None

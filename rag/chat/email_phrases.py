"""Which of two or more email addresses in a message is the visitor's own: the one given as
theirs ("write to me at A", "email me at A", "my email is A", "reach me at A"), or, offered as
theirs as one another's alternatives, the first ("email me at A or B", "my colleague and I want
a demo: A or B"). A colleague's address named beside ("my colleague B wants a demo, write to me
at A") is not the visitor's; it stays in their message. Two addresses with nothing saying which
("A and B both got the invoice", "should I log in with A or B?") give none
(``contact_details.contact_email``). English only, as ``contact_details.leaves_an_address``."""

from __future__ import annotations

import re

# The words giving the address right after them as the visitor's, ending where it starts.
_GIVEN_AS_THEIRS = re.compile(
    r"(?:\b(?:write|email|e-mail|mail|reach|contact|message)(?: back)?(?: to)? (?:me|us)"
    r"|\bget back to (?:me|us)|\b(?:my|our) (?:\w+ )?(?:e-?mail|address)(?: address)?"
    r"(?: id)?(?: is)?)(?: at| on| via| is)?\W*$"
)
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
    order) that is the visitor's: the only one; the first given as theirs; or the first of
    alternatives ("A or B") after a colon they speak before. None for none said to be theirs."""
    addresses = [m.group(0).rstrip(".") for m in found]
    if len(set(addresses)) < 2:
        return addresses[0] if addresses else None
    for i, match in enumerate(found):
        start = max(found[i - 1].end() if i else 0, match.start() - _NEAR)
        if _GIVEN_AS_THEIRS.search(text[start : match.start()].lower()) is not None:
            return addresses[i]
    first, second = found[0], found[1]
    clause = _CLAUSE_END.split(text[: first.start()].lower())[-1].rstrip()
    between = text[first.end() : second.start()].lower()
    if clause.endswith(":") and _FIRST_PERSON.search(clause) and _OR_ANOTHER.fullmatch(between):
        return addresses[0]
    return None

"""The words check on a semantic match: a visitor's question near a stored one (an FAQ variant,
a cached question) by embedding, but asking about something else.

MiniLM puts questions that differ in their one decisive word very close together ("enable" /
"disable" 2FA 0.882, Saturday / Sunday hours 0.956, "what is included" / "what is not included"
0.978), so a similarity threshold alone gives the stored answer to the opposite question. Before
a semantic match is served, ``contradicts`` compares the words: the match is refused when

- one question is negated and the other is not (``not``, ``no``, ``don't``, ``without``, ...);
- they name different numbers ("30 days" / "60 days", "$50", "10%");
- each has a content word the other lacks ("monthly" / "yearly", "Shopify" / "WooCommerce",
  "enable" / "disable", "opened" / "unopened"): a word swapped for another;
- they point opposite ways with words the content check leaves out as stop words
  (``OPPOSITES``: "orders over / under $50", "more / fewer than 5 users", "opt in / out",
  "from / to the UK": only about one same thing, "to" being the infinitive's too), or hold the
  same words swapped around one ("from monthly to yearly" / "from yearly to monthly"), or name
  the same two places in the opposite order ("bought in store ... online" / "bought online ...
  in store").

"same" counts as a content word though it is a stop word elsewhere ("same day" / "next day"
delivery).

A question that only adds or drops words ("Can I get a refund?" / "Can I get a refund on my
order?") passes. Content words are ``content_terms``' stems with common FAQ synonyms folded
together (``money back`` and ``refund``, ``2FA`` and ``two factor authentication``, ``annual``
and ``yearly``, ``turn on`` and ``enable``...), so the usual paraphrases survive.

Measured on ``eval/faq_matches.jsonl`` (hand-written same/different pairs, tune and held-out
halves) by ``python -m bench.faq_matches``; the results are in docs/retrieval.md ("FAQ and cache
matches").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.text import short_text_cache
from rag.chat.courtesy import FILLER, GREETING
from rag.chat.courtesy import words as reduce_words
from rag.chat.normalize import STOPWORDS, WORD, is_sign, normalize_question, stem, terms

_NEGATION_TEXT = (
    "not no never without dont doesnt didnt cant cannot wont isnt arent wasnt werent "
    "shouldnt wouldnt couldnt havent hasnt nor non none nothing"
)
NEGATIONS = frozenset(_NEGATION_TEXT.split())
"""Words (apostrophes already dropped by ``normalize_question``) that turn a question around."""

# Phrases and words that ask the same thing, each folded to one form before stemming. Common
# small-business FAQ vocabulary; a pair that says the same thing in other words is what the
# embedding is for, this only keeps the words check from refusing the usual synonyms.
_SYNONYMS: dict[str, tuple[str, ...]] = {
    "2fa": (
        "two factor authentication",
        "two factor auth",
        "2 factor authentication",
        "two step verification",
        "2 step verification",
        "multi factor authentication",
        "mfa",
    ),
    "refund": ("money back", "reimbursement", "reimburse", "refundable", "refunded"),
    "yearly": ("annual", "annually", "per year", "a year", "every year"),
    "monthly": ("per month", "a month", "every month"),
    "enable": ("turn on", "switch on", "activate", "set up"),
    "disable": ("turn off", "switch off", "deactivate"),
    "login": ("log in", "sign in", "signin", "logon", "log on"),
    "signup": ("sign up", "register", "registration", "create an account"),
    "ship": ("shipping", "delivery", "deliver", "delivered", "shipped", "send", "sent"),
    "price": ("cost", "costs", "pricing", "prices", "charge", "fee", "fees"),
    "cancel": ("cancellation", "terminate", "end"),
    "email": ("e mail", "mail"),
    "phone": ("telephone", "mobile", "cell"),
    "buy": ("purchase", "order"),
    "shop": ("store",),
    "change": ("update", "modify", "edit", "switch"),
    "discount": ("promo", "coupon", "voucher"),
    "account": ("profile",),
    "app": ("application",),
    "support": ("help", "customer service"),
}
OPPOSITES: tuple[frozenset[str], ...] = (
    frozenset({"over", "under"}),
    frozenset({"more", "less", "fewer"}),
    frozenset({"most", "least"}),
    frozenset({"up", "down"}),
    frozenset({"in", "out"}),
    frozenset({"from", "to"}),
)
"""Words of a direction or a comparison that are stop words (no content) yet turn a question
around: a question naming only one of a group and another naming only others ("orders over
$50" / "orders under $50") ask opposite things. One that names none of the group passes ("Can
I pay in cash?" / "Can I pay by cash?"), and so does one naming a word of the other's ("Can I
switch to yearly?" / "Can I switch from monthly to yearly?")."""
_POLES = frozenset().union(*OPPOSITES)
_OF_ONE_THING = frozenset({"from", "to"})
"""Groups whose words turn a question around only about one same thing: "to" is also the
infinitive's ("Is it possible to get a refund?" / "Can I get a refund from you?" ask the same),
so "from" and "to" are opposite only when each is followed by the same content word ("ship
from the UK" / "ship to the UK"), or by none ("transfer my domain to you" / "from you")."""
KEPT = frozenset({"same"})
"""Stop words that are content here: "same day delivery" is not "next day delivery"."""
_PLACES = frozenset(stem(word) for word in ("online", "offline", "shop", "person"))
"""Where something happens ("in store" is ``shop``, "in person" ``person``): two questions
naming the same two places in the opposite order ("bought in store, returned online" / "bought
online, returned in store") ask opposite things."""
_NUMBER = re.compile(r"(?:(?<!\w)[-.]+)?\w+")
_FOLD = {variant: canonical for canonical, variants in _SYNONYMS.items() for variant in variants}
_PHRASE = re.compile(
    r"\b(" + "|".join(re.escape(v) for v in sorted(_FOLD, key=len, reverse=True)) + r")\b"
)


@dataclass(frozen=True)
class Words:
    """What of a question the check compares."""

    content: frozenset[str]
    numbers: frozenset[str]
    negated: bool
    poles: frozenset[str] = frozenset()
    """The words of ``OPPOSITES`` the question holds."""
    objects: tuple[tuple[str, str], ...] = ()
    """Each of ``poles`` with the first content stem after it, in order ("from monthly to
    yearly": ``from`` monthly, ``to`` yearly)."""
    places: tuple[str, ...] = ()
    """The places (``_PLACES``) the question names, in their order."""


@short_text_cache(4096)  # a long question (a visitor's) is worked out each time, never kept
def words(question: str, *, synonyms: bool = True) -> Words:
    """A question's content stems (synonyms folded), numbers, and whether it is negated."""
    normalized = normalize_question(question)
    # A number keeps its sign and leading point ("-40" is not "40", ".5" not "5").
    numbers = frozenset(t for t in _NUMBER.findall(normalized) if t.lstrip("-.").isdigit())
    text = " ".join(terms(normalized.replace("-", " ")))
    tokens = WORD.findall(_PHRASE.sub(lambda m: _FOLD[m.group(1)], text) if synonyms else text)
    stems = [
        stem(token)
        if len(token) >= 2
        and (token not in STOPWORDS or token in KEPT)
        and token not in NEGATIONS
        and not token.isdigit()
        else None
        for token in tokens
    ]
    content = frozenset(s for s in stems if s is not None)
    objects = tuple(
        (token, next((s for s in stems[i + 1 :] if s is not None), ""))
        for i, token in enumerate(tokens)
        if token in _POLES
    )
    # Math signs and emoji are words too: "< $50" is not "> $50", "🍕" is not "🍔".
    signs = frozenset(ch for ch in normalized.split() if len(ch) == 1 and is_sign(ch))
    negated = any(token in NEGATIONS for token in tokens)
    places = tuple(dict.fromkeys(s for s in stems if s in _PLACES))
    poles = frozenset(tokens) & _POLES
    return Words(content | signs, numbers, negated, poles, objects, places)


def contradicts(asked: str, stored: str, *, synonyms: bool = True) -> str | None:
    """Why the visitor's question ``asked`` must not get the answer of the ``stored`` one it is
    near to (``negation``, ``number``, ``swapped word``, ``opposite``), or None when the words
    allow it."""
    a, s = words(asked, synonyms=synonyms), words(stored, synonyms=synonyms)
    if a.negated != s.negated:
        return "negation"
    if a.numbers != s.numbers:
        return "number"
    if a.content - s.content and s.content - a.content:
        return "swapped word"
    for group in OPPOSITES:
        mine, theirs = a.poles & group, s.poles & group
        if mine and theirs and not mine & theirs and _about_one_thing(a, s, group):
            return "opposite"
    if _swapped_around(a, s) or _swapped_around(s, a):
        return "opposite"
    if len(a.places) > 1 and set(a.places) == set(s.places) and a.places != s.places:
        return "opposite"
    return None


def says_more(stored: str, asked: str) -> bool:
    """The ``stored`` question holds a content word (or a sign) the ``asked`` one lacks: its
    answer was written for words the asker did not say (``contradicts`` lets a question that
    only adds words through). The response cache serves no such answer: what one visitor added
    ("... (answer in all caps)", "... Be rude.", a name) shaped it, and MiniLM puts such
    questions 0.98 from the plain one, above the semantic cache's bound (a red-team's
    finding: one visitor's instruction reached every visitor asking the plain question).
    A greeting is no such word (``_greetings``): "hi, what is your refund policy?" kept its
    answer from every later visitor asking without it (a reviewer's finding)."""
    more = words(stored).content - words(asked).content
    return bool(more and more - words(_greetings(stored)).content)


def _greetings(question: str) -> str:
    """The greetings (``courtesy.GREETING``, in any of its languages) and filler words ("hey
    there", "hello dear") a question opens with, as one text. Only at its start: "do you
    deliver in the morning" asks about mornings."""
    reduced, found, at = reduce_words(question), [], 0  # words one space apart
    while at < len(reduced):  # by position: a long run of them is read once
        greeting = GREETING.match(reduced, at)
        if greeting is not None:
            end = greeting.end()
        else:
            end = reduced.find(" ", at)
            end = len(reduced) if end < 0 else end
            if reduced[at:end] not in FILLER:
                break
        found.append(reduced[at:end])
        at = end + 1
    return " ".join(dict.fromkeys(found))  # each once: "hi hi hi ..." is one greeting


def _about_one_thing(a: Words, s: Words, group: frozenset[str]) -> bool:
    """Whether the two questions' words of ``group`` point at one same content word (always,
    for a group other than ``_OF_ONE_THING``)."""
    if group != _OF_ONE_THING:
        return True
    mine = {thing for pole, thing in a.objects if pole in group}
    return any(pole in group and thing in mine for pole, thing in s.objects)


def _swapped_around(a: Words, s: Words) -> bool:
    """The same words on either side of a direction, swapped: "from monthly to yearly" /
    "from yearly to monthly", "bought in store online" / "bought online in store". A pole
    followed by another word that the other question also holds; a new word there is the
    swapped-word check's."""
    theirs = dict(s.objects)
    for pole, mine in a.objects:
        other = theirs.get(pole)
        if other and mine and mine != other and mine in s.content and other in a.content:
            return True
    return False


__all__ = ["NEGATIONS", "OPPOSITES", "Words", "contradicts", "words"]

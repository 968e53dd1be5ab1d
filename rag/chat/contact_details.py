# ruff: noqa: RUF001 (words written in their own scripts)
"""Contact details a visitor types in a message: an email address (``contact_email``,
``leaves_an_address``) or a phone number (``contact_phone``, ``leaves_a_phone``, and one left
beside an address, ``number_left``), and a message giving them right after the bot asked
(``gives_asked_address``): what ``rag.chat.intents`` calls ``contact`` and
``rag.chat.shortcuts.contact`` makes a lead. Split from ``intents.py`` when it passed 500
lines."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

from core.text import lowered_as_postgres, short_text_cache
from rag.chat.call_phrases import called_back_on
from rag.chat.courtesy import GREETING, QUESTION_STARTERS, has_question_mark
from rag.chat.courtesy import words as _words
from rag.chat.details_withheld import anothers_at, asked_about, quoted, removal_asked, withheld
from rag.chat.email_phrases import visitors_address
from rag.chat.lead_languages import sales_asked
from rag.chat.lead_phrases import SALES, first_asked
from rag.chat.number_first import given_first
from rag.chat.offered_numbers import or_numbers
from rag.chat.other_numbers import (
    BOOKING_REACH,
    BOOKINGS,
    CLAUSES,
    JOINERS,
    LINKS,
    NOT_PHONE_PARTS,
    NOT_PHONE_STEMS,
    NOT_PHONE_WORDS,
    REFERENCES,
    TO_BOOK,
    named_span,
)
from workspaces.schemas import LeadIn

# An address typed in a message: something@domain.tld, not inside a longer token (an erasure
# marks where it reads the visitor's, ``lifecycle.erasure_text_repository.redact_written``).
EMAIL_IN_TEXT = re.compile(
    r"(?<![\w.+-])[\w.+-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.[A-Za-z]{2,24}(?![\w@-])"
)


def _addresses(text: str) -> set[str]:
    return {m.group(0).rstrip(".") for m in EMAIL_IN_TEXT.finditer(text)}


def emails_in(text: str) -> set[str]:
    """Every email address typed in a text, lowered as PostgreSQL lowers (a visitor's erasure
    by email finds the messages that gave it with the database's ``lower``, then here)."""
    return {lowered_as_postgres(address) for address in _addresses(text)}


def contact_email(text: str) -> str | None:
    """The email address a message gives as the visitor's (``email_phrases``), valid as a
    lead's; None for none, or for others (a message quoting addresses leaves none of theirs)."""
    email = visitors_address(text, list(EMAIL_IN_TEXT.finditer(text)))
    if email is None:
        return None
    try:
        return LeadIn(email=email).email
    except ValueError:
        return None


_LEAVING_WORDS = frozenset(
    {"my", "me", "email", "e", "mail", "address", "is", "at", "on", "reach", "contact"}
    | {"write", "get", "back", "to", "you", "can", "please", "thanks", "thank", "here", "it"}
    | {"s", "i", "m", "am", "and", "or", "the", "a", "in", "touch"}
)


# First words of a question about something ("how do I change my email from ...", "can I
# share it with ..."): with any word beyond the leaving words, not someone leaving an address.
_ASKING_STARTERS = QUESTION_STARTERS - {"i", "my", "any", "need", "help"}
# Words telling of mail already sent or received ("I emailed support@... yesterday"): the
# address is where it went, not the visitor's own.
_REPORTING_WORDS = frozenset(
    {"emailed", "mailed", "wrote", "written", "sent", "contacted", "messaged", "replied"}
    | {"received", "forwarded", "bounced", "tried", "cced", "got", "answered", "responded"}
)
MAX_OWN_WORDS = 6
"""Words besides the leaving words a message giving an address may hold."""


def leaves_an_address(text: str, *, asked: bool = False) -> bool:
    """A message that is someone leaving their email address: one valid address, and besides
    it at most a few words of their own ("my email is jane@example.com, please get back to me",
    "contact me at bob@example.com about the Business plan"). A question that mentions an
    address ("I emailed support@... last week, how long do refunds take?", "can I share it
    with bob@...?") is a question (a tester's finding: it was swallowed, and the address made a
    lead); so is one shaped as a question without its "?" ("how do I change my account email
    from jane@...") and one telling of mail sent or received ("I emailed support@... yesterday
    and got no reply", a reviewer's finding: the site's own address became a lead).

    ``asked``: the bot's last answer asked for an address: whatever few words come with one
    give it ("I emailed you before, it's jane@..." is the visitor answering)."""
    email = contact_email(text)
    if email is None or removal_asked(text):  # "please delete my email jane@..."
        return False
    same = email.casefold()  # (as typed: "Nemo.Diver@Example.com")
    typed = next((m for m in EMAIL_IN_TEXT.finditer(text) if m[0].casefold() == same), None)
    if typed and (quoted(text, *typed.span()) or asked_about(text, typed.start(), called=False)):
        return False  # '"my email is ..."', "this is not my email ...", "my wife's email is ..."
    rest = _words(EMAIL_IN_TEXT.sub(" ", text)).split()
    # Digits are no words of their own: a number left beside the address ("call me on +91
    # 98765 43210" is three groups of them) or a quantity ("50 units").
    own = [w for w in rest if w not in _LEAVING_WORDS and not w.isdigit()]
    if len(own) > MAX_OWN_WORDS:
        return False
    if asked:
        return True
    if own and rest[0] in _ASKING_STARTERS:
        return False
    return not any(w in _REPORTING_WORDS for w in rest)


def gives_asked_address(text: str) -> bool:
    """Right after the bot asked for an address: a message giving one (not asking about it), or
    giving a phone number instead (``leaves_a_phone``)."""
    if has_question_mark(text):
        return False
    return leaves_an_address(text, asked=True) or leaves_a_phone(text, asked=True)


# A phone number typed in a message: 7 to 15 digits (any script's, ``contact_phone`` writes them
# as ASCII) in groups of digits, spaces, dots, hyphens and brackets, an optional "+" first; not
# inside a longer Latin token (an address, a code: "AB12345678"), but right after Chinese or
# Japanese, which write no spaces ("我的手机号是13812345678", "電話番号は090-1234-5678です").
# A number right after "#" or "№" is an order's or a ticket's in any language ("#123456789").
PHONE_IN_TEXT = re.compile(
    r"(?<![A-Za-z\d_+@.#№-])\+?\(?\d[\d ().\-\u00a0]{5,38}\d(?![A-Za-z\d_@])"
)
_PHONE_DIGITS = (7, 15)
# Besides the leaving words, the words of someone leaving a number ("call me on ...", "my
# mobile no is ..."); the words that make a number something else's are
# ``other_numbers.NOT_PHONE_WORDS``.
_PHONE_WORDS = frozenset(
    {"call", "ring", "number", "no", "num", "phone", "mobile", "cell", "whatsapp", "tel"}
    | {"telephone", "text", "sms", "back", "anytime", "asap", "today", "tomorrow", "now"}
)
# Words that label the number beside an address as a phone number.
_PHONE_LABELS = frozenset({"phone", "mobile", "cell", "tel", "telephone", "whatsapp"})


# The act of ordering, which names no order's number: the verb ("I want to order 50 units",
# "we order every month", "je commande souvent", "ऑर्डर करना है", "order karna hai", "he
# pedido una demo": Spanish "pedido" is also "asked for"), an order placed ("place an order",
# "hacer un pedido", "passer une commande", "fare un ordine", "fazer uma encomenda", "eine
# Bestellung aufgeben", "сделать заказ") and a new one ("an order of 200 units", "une
# commande de 50 pièces", "d'une commande": an indefinite article, no number right after
# it). Never the noun before a word naming its number ("to order number ...", "an order
# 123456789"), nor the number right after the phrase in its clause (``_ordered_number``).
_NUMBER_NAMED = r"(?! (?:number|no|num|nr|id|ref|reference|code|status|confirmation)\b)"
_ORDERING = re.compile(
    r"(?<!\w)(?:"
    r"(?:to|i|we|they|you|will|would|can|could|shall|should|may|might|must|wanna|gonna"
    r"|please|ll|also|just|always|usually|often|regularly|then) order(?:s|ed)?\b"
    r"|(?:place|placing|make|making|put in|submit|give) (?:a |an |my |our |the )?(?:\w+ )?order\b"
    r"|(?:hacer|realizar|hago|har[ée]|hacemos|haremos) (?:un |el |mi |nuestro )?(?:\w+ )?pedidos?\b"
    r"|(?:he|has|ha|hemos|han|hab[íi]a|haber|tinha|tenho|tem|ter) pedido\b"
    r"|(?:fazer|fa[çc]o|fazemos|realizar) (?:um |uma |o |a |meu |minha )?(?:pedido|encomenda)s?\b"
    r"|(?:je|j|tu|il|elle|on) (?:vous |te |leur |lui )?commandes?\b"
    r"|pass(?:er|e|ons|ez) (?:une |la |ma |des |votre |notre )?commandes?\b"
    r"|(?:fare|faccio|facciamo|fa) (?:un |l |il )?ordine\b"
    r"|(?:(?:a|an) (?:\w+ )?order|(?:d|qu)?une (?:\w+ )?commande|un (?:\w+ )?(?:pedido|ordine)"
    r"|um (?:\w+ )?pedido|uma (?:\w+ )?encomenda|eine (?:\w+ )?bestellung)\b(?! \d)"
    r"|(?:eine |die )?bestellung (?:aufgeben|machen|t[äa]tigen)\b"
    r"|(?:gebe|geben) (?:eine |die )?bestellung auf\b"
    r"|(?:сделать|оформить|сделаю|оформлю|сделаем|оформим|разместить|размещу) заказы?(?!\w)"
    r"|(?:ऑर्डर|आर्डर|ऑडर) (?:कर|करना|करनी|करने|करूं|करूँ|करें|करो|किया|दे|देना|देने|देनी)(?!\w)"
    r"|order (?:kar|karna|karni|karne|karu|karun|karo|karenge|kiya|krna|krne|dena|dene|deni)\b"
    r")" + _NUMBER_NAMED
)


def _ordered_number(text: str, words: str) -> bool:
    """Whether the number typed in ``text`` follows an ordering phrase (``_ORDERING``) in its
    clause with no call asked between them: the order's ("une commande numéro ...", "un
    pedido con el número ...", "eine Bestellung mit der Nummer ...", "can order ... be
    cancelled", "he pedido ... y no ha llegado"), which ``names_another_number`` would no
    longer see once the phrase is struck out. "I want to order 50 units, call me on ..." and
    "Für eine Bestellung von 500 Stück rufen Sie mich an: ..." leave the visitor's number.
    ``words``: ``text`` reduced (``_number_words``), to skip a message with no such phrase."""
    if _ORDERING.search(words) is None:
        return False
    for clause in CLAUSES.split(text):
        for match, _ in phone_matches(clause):
            before = _number_words(clause[: match.start()])
            # The last phrase before the number: a call asked after it is after any other.
            phrases = list(_ORDERING.finditer(before))
            if not phrases:
                continue
            last = phrases[-1]
            if _the_visitors(clause[: match.start()], match[0], before[last.end() :]):
                continue
            # With the number: "call me on ...", "my number is ..." are asked with it.
            between = f"{before[last.end() :]} {_words(match[0])}"
            if first_asked(SALES, between) is None and sales_asked(between, between) is None:
                return True
    return False


def _the_visitors(before: str, number: str, after_phrase: str) -> bool:
    """Whether a number after an ordering phrase is the visitor's all the same: written with its
    country code (no order's is), labelled a phone ("email ... phone ..."), or after an address
    that came after the phrase ("I'd like to place an order: jane@example.com +44 ...")."""
    if number.lstrip().startswith("+") or not _PHONE_LABELS.isdisjoint(after_phrase.split()):
        return True
    addresses = list(EMAIL_IN_TEXT.finditer(before))
    if not addresses:
        return False
    return _ORDERING.search(_number_words(before[addresses[-1].end() :])) is None


def names_another_number(words: str) -> bool:
    """Whether a message (its ``words``) names an order's, an invoice's, a parcel's, an
    account's, a booking's or a ticket's number, in any lexicon language: the number it holds
    is that, not a phone number to call. Ordering itself names none (``_ORDERING``), but the
    number it is followed by in its clause (``_ordered_number``)."""
    words = _ORDERING.sub(" ", words)
    return (
        any(word in NOT_PHONE_WORDS for word in words.split())
        or NOT_PHONE_STEMS.search(words) is not None
        or any(part in words for part in NOT_PHONE_PARTS)
    )


def booking_reference(text: str) -> bool:
    """Whether a message names a booking's or a reservation's own number or reference: the
    booking word beside a word naming a number ("booking reference", "numéro de réservation",
    "номер брони"), or the number right after the booking word ("reservation 4432 8871",
    "reserva nº 5532 1987", "my booking is 4432 8871"). A visitor asking to book or reserve who
    leaves a number to call ("I want a reservation for 4 tonight, call me on +44 7911 123456",
    "Vorrei una prenotazione, chiamatemi al 333 123 4567") names none: a lead."""
    for clause in CLAUSES.split(text):
        tokens = _words(clause).split()
        for i, token in enumerate(tokens):
            if token in BOOKINGS and _beside_a_reference(tokens, i):
                return True
        for match in PHONE_IN_TEXT.finditer(clause):
            # The words just before the number, not the whole clause before it once per number
            # (quadratic: "12345678901234567 " repeated); the first may be cut, so not read.
            start = max(0, match.start() - BOOKING_REACH)
            before = _words(clause[start : match.start()]).split()[1 if start else 0 :]
            while before and before[-1] in LINKS:
                before.pop()
            if before and before[-1] in BOOKINGS:
                return True
    return False


def _beside_a_reference(tokens: list[str], i: int) -> bool:
    """Whether the booking word ``tokens[i]`` has a word naming a number right after it
    ("booking number", "prenotazione numero") or before it, joined by "de", "of"...
    ("número de reserva", "numero della prenotazione", "номер брони")."""
    if i + 1 < len(tokens) and tokens[i + 1] in REFERENCES:
        return True
    j = i - 1
    while j >= 0 and tokens[j] in JOINERS:
        j -= 1
    return j >= 0 and tokens[j] in REFERENCES


def phones_in(text: str) -> list[str]:
    """Every phone number typed in a text, as typed (its digits in ASCII, its spaces one each):
    a visitor's erasure by phone finds the messages that gave theirs."""
    return [number for _, number in phone_matches(text)]


def phone_matches(text: str) -> Iterator[tuple[re.Match[str], str]]:
    """The phone numbers typed in ``text`` (``phones_in``), each with where it was typed (an
    erasure marks where it reads the visitor's)."""
    for match in PHONE_IN_TEXT.finditer(text):
        number = "".join(str(unicodedata.decimal(ch)) if ch.isdigit() else ch for ch in match[0])
        number = " ".join(number.replace("\u00a0", " ").split())
        digits = sum(ch.isdigit() for ch in number)
        if _PHONE_DIGITS[0] <= digits <= _PHONE_DIGITS[1] and len(number) <= 40:
            yield match, number


def contact_phone(text: str) -> str | None:
    """The one phone number a message gives, as typed (``phones_in``), or the first of numbers
    offered as one another's alternatives ("A or B": ``offered_numbers.or_numbers``); None for
    none, or for others (a message quoting numbers is not someone leaving theirs). A number the
    message names as another's beside one it does not ("my order 5779079277 is late, please
    call me on +91 98765 43210": ``others_blanked``) is no candidate."""
    text = others_blanked(text)
    found = phones_in(text)
    return found[0] if len(found) == 1 or (found and or_numbers(text, found)) else None


def phone_candidates(text: str) -> list[str]:
    """The numbers of ``text`` that may be the visitor's (``phones_in`` of ``others_blanked``),
    as typed, in their order."""
    return phones_in(others_blanked(text))


def others_blanked(text: str) -> str:
    """``text`` with each number it names as another's (an order's, an invoice's, a ticket's, a
    parcel's, an account's, a booking's, a reference, before or after it:
    ``other_numbers.named_span``; another person's, named in its clause before it, "my
    husband's number is ...": ``details_withheld.anothers_at``) blanked with the words
    naming it, the same length, when a
    number not named so remains: that one is the visitor's ("my order 5779079277 is late,
    please call me on +91 98765 43210", "5779079277 is my order number, call me on ...", "Mi
    pedido ... llega tarde, llámame al ..."). Before, both were phone numbers: two, none to
    call, and the call asked for was lost. ``text`` itself when every number is named so (no
    lead) or none is."""
    named: list[tuple[int, int]] = []
    kept, since = False, 0
    for match, _ in phone_matches(text):
        span = named_span(text, *match.span())
        if span is None and (another := anothers_at(text, match.start(), since)) is not None:
            span = (another, match.end())  # "my husband's number is ..., call me on ..."
        since = match.end()
        if span is None:
            kept = True
        else:
            named.append(span)
    for start, end in reversed(named if kept else []):
        text = f"{text[:start]}{' ' * (end - start)}{text[end:]}"
    return text


def _not_to_call(text: str, words: str) -> bool:
    """Whether the number ``text`` holds is no one's to call back: an order's, an invoice's or
    a ticket's (``names_another_number``), a booking's (``booking_reference``), the one after an
    ordering phrase (``_ordered_number``), or left with a call turned down (``_NO_CALLS``).
    ``words``: ``text`` reduced (``_number_words``)."""
    return names_another_number(words) or _turned_down_or_numbered(text, words)


def _turned_down_or_numbered(text: str, words: str) -> bool:
    """A call turned down, its removal asked (``details_withheld.removal_asked``: "... is my
    number, delete it"), a booking's number, or the number an ordering phrase names."""
    return (
        _NO_CALLS.search(words) is not None
        or removal_asked(text)
        or booking_reference(text)
        or _ordered_number(text, words)
    )


def number_withheld(text: str) -> bool:
    """Whether a message withholds the first number it types (``withheld``: the one its "my
    number is ..." names) or asks its removal: that phrase asks no call and leaves no number
    (``intents.detect_intent``). One number read: each costs a pass over the message."""
    first = next(iter(phones_in(text)), None)
    return removal_asked(text) or (first is not None and withheld(text, first))


@short_text_cache(512)
def callback_number(text: str) -> str | None:
    """The one phone number a message asks to be called back on, whatever else it says: a
    call asked on that very number (``call_phrases``: "my order is late, please call me on +91
    98765 43210", "the app keeps crashing, can someone phone me at 020 7946 0958"). An order,
    an invoice or a parcel named elsewhere in it names no number: the call names this one.
    None for none, for a call turned down, a booking's number or the one an ordering phrase
    names (``_turned_down_or_numbered``), and beside an address (``number_left``). Cached: a
    turn asks it of the same message when it reads the intent, the question to answer, the
    lead to save and the reply's opening. A number named as another's beside the one the call
    is asked on (``others_blanked``) is none of the message's for these checks."""
    text = others_blanked(text)
    number = contact_phone(text)
    if number is None or contact_email(text) is not None or _DATE_LIKE.fullmatch(number):
        return None
    words = _number_words(text)
    if not called_back_on(text, words, number):  # (not "Can you call me? 1800 ... is busy")
        return None
    return None if _turned_down_or_numbered(text, words) else number


def number_left(text: str) -> str | None:
    """The phone number a message leaves beside an address ("my email is jane@example.com, my
    number is +91 98765 43210"): its one number, when a call or a number is asked for or left
    in it (an order's number beside an address is none, and beside another number, not named
    so, is no candidate: ``others_blanked``)."""
    text = others_blanked(text)
    number = contact_phone(text)
    if number is None or _DATE_LIKE.fullmatch(number):
        return None
    words = _number_words(text)
    if _not_to_call(text, words) or withheld(text, number):
        return None
    if number.startswith("+") or not _PHONE_LABELS.isdisjoint(words.split()):
        # Written as an international number ("reach me at jane@example.com or +49 151
        # 23456789"), or labelled a phone ("email ... phone 0171 2345678"): theirs, with no
        # call asked for (the lead showed no phone, and a search by the number found nobody).
        return number
    return number if _left_as_theirs(text, words) else None


# "I'd" ("I would"), which ``courtesy.words`` makes "id" once the apostrophe goes: no ID.
_I_WOULD = re.compile(r"(?<!\w)i['’]d(?!\w)", re.IGNORECASE)


def _number_words(text: str) -> str:
    """``text`` reduced by ``courtesy.words``, "I'd" read as "I would" ("I'd like a table for
    4, call me on ..." names no ID)."""
    return _words(_I_WOULD.sub("I would", text))


# A date or a span of years written with 7 to 15 digits ("2026-12-05", "05.12.2026", "2024 2025"):
# never a phone number.
_DATE_LIKE = re.compile(
    r"(?:19|20)\d\d([-./ ])\d{1,2}\1\d{1,2}|\d{1,2}([-./ ])\d{1,2}\2(?:19|20)\d\d"
    r"|(?:19|20)\d\d ?[-/ ] ?(?:19|20)\d\d"
)
# Words a number given where the bot asked may come with besides the leaving words ("it's
# ...", "ok, 98765 43210").
_GIVING_WORDS = frozenset({"its", "ok", "okay", "sure", "yes", "yeah", "this", "that", "hi"})
# A call turned down ("don't call me", "please do not call, email only", "stop calling me on
# ..."; in the languages the replies are translated into: "call mat karo", "ne m'appelez pas",
# "no me llames", "nicht anrufen", "не звоните", "不要打电话", "smettete di chiamarmi"...): a
# number left with it is not one to call.
_NO_CALLS = re.compile(
    r"\b(?:dont|do not|never|not to|no) (?:call|ring|phone)"
    r"|(?:call|phone|fone|कॉल|फ़ोन|फोन) (?:mat|मत|na|ना)(?: |$)"
    r"|\bne m ?appel|\bpas d ?appels?\b"
    r"|\bno me (?:llames|llame|llamen|llaméis|telefonees)\b"
    r"|\bnicht an(?:rufen)?(?: |$)|\bkeine anrufe\b"
    r"|\bn[ãa]o me (?:lig|telefon)|\bnon (?:mi |ci )?chiam"
    r"|не (?:звони|перезвани)|لا (?:تتصل|تتصلوا)"
    r"|(?:不要|别|別|不用|請勿|请勿)再?(?:给我|給我)?打(?:电话|電話)|電話(?:は)?(?:しないで|不要)"
    # Asked to stop, or why the calls go on ("stop calling me on ...", "smettete di chiamarmi
    # al ...", "parem de ligar-me", "توقفوا عن الاتصال بي", "call karna band karo")
    r"|\bstop (?:calling|phoning|ringing|texting)|\bkeep (?:calling|phoning|ringing)"
    r"|\barr[êe]t\w* de (?:m ?|me )(?:appel|rappel|t[ée]l[ée]phon)"
    r"|\bcontinu\w* (?:a|à) (?:me |m ?)?(?:chiamar|richiamar|telefonar|lig|appel|rappel)"
    r"|\bsmett\w* di (?:chiamar|richiamar|telefonar)|\bpi[ùu] (?:chiamar|richiamar|telefonar)"
    r"|\b(?:par(?:em|e|a|ar)|deix(?:em|e|a|ar)) de (?:me )?(?:lig|telefon)"
    r"|\bdej(?:en|e|a|ar) de (?:llamar|telefonear)"
    r"|(?:توقفوا|توقف|توقفي|كفوا|كفى) عن الاتصال|(?:تستمرون|تستمر|تستمروا) في الاتصال"
    r"|\b(?:call|phone|fone) (?:karna|karne) band|(?:कॉल|फोन|फ़ोन) (?:करना|करने) बंद"
)


def leaves_a_phone(text: str, *, asked: bool = False) -> bool:
    """A message that is someone leaving their phone number and no address: one number, asked
    to call or left as theirs (a sales lead's call or number: "call me on +91 98765 43210",
    "mera number 98765 43210 hai", "mi número es 612 345 678"; or given first: "98765 43210 is
    my number", ``_left_as_theirs``), and besides it at most a few
    words of their own, none making the number an order's or a ticket's. ``asked``: the bot's
    last answer asked for contact details: a number with those few words gives it. An order's
    number named beside it, with no call asked (``callback_number`` reads those: a question
    answered, the number on a lead), is none of the message's (``others_blanked``: "my order
    5779079277 is late, my number is ...")."""
    blanked = others_blanked(text)
    if blanked != text and callback_number(text) is None:
        text = blanked
    number = contact_phone(text)
    if number is None or contact_email(text) is not None or _DATE_LIKE.fullmatch(number):
        return False
    words = _number_words(text)
    if _not_to_call(text, words):
        return False
    found = _left_as_theirs(text, words)
    if (found is None and not asked) or withheld(text, number):
        return False
    # The words of the call asked for or the number left are theirs in any language ("mera
    # number ... hai", "Позвоните мне по номеру ..."); the number's digits and a greeting
    # ("привет", "hola") are no words of their own.
    rest = f"{words[: found.start()]} {words[found.end() :]}" if found else words
    own = [
        w
        for w in GREETING.sub(" ", rest).split()
        if w not in _LEAVING_WORDS and w not in _PHONE_WORDS and not w.isdigit()
    ]
    # Where the bot asked and no call or number is named, the number comes alone or with the
    # leaving words ("it's ...", "reach me on ..."): other words make it a date, a price or a
    # number called ("I called 1800 123 4567 and nobody answered"), not theirs.
    if found is None:
        return all(w in _GIVING_WORDS for w in own)
    # A booking or an order asked for comes with its details ("a table for 4 on Friday at 8",
    # "zwei Nächte ab Samstag", "an order for 200 units"): twice the words.
    booking = any(w in BOOKINGS or w in TO_BOOK for w in own) or _ORDERING.search(words)
    return len(own) <= MAX_OWN_WORDS * (2 if booking else 1)


def _left_as_theirs(text: str, words: str) -> re.Match[str] | None:
    """A call asked or a number left in ``text`` (reduced: ``words``): a sales lead's
    (``first_asked``, ``sales_asked``: "call me on ...", "my number is ...") or the number
    given first (``number_first``: "98765 43210 is my number", "... es mi número")."""
    return first_asked(SALES, words) or sales_asked(text, words) or given_first(words)


CONTACT_WORDS = _LEAVING_WORDS | _PHONE_WORDS | _GIVING_WORDS
"""The words of someone leaving their contact details ("my", "call", "number", "please")."""


def orders_or_books(words: str) -> bool:
    """Whether ``words`` (a reduced message) ask to order or to book: a lead's own details."""
    tokens = set(words.split())
    return _ORDERING.search(words) is not None or not tokens.isdisjoint(BOOKINGS | TO_BOOK)

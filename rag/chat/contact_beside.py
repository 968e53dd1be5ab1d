"""Contact details left beside a question in one message ("hi, my email is jo@example.com, how
do I upload a document?", "jo@example.com is my email, can I restore deleted files?", "my
number is +91 98765 43210. What does the Pro plan cost?"): the address (or number) is taken
as the lead (``shortcuts.callback``, as a call asked on a number beside a question is) and the
question is what the FAQs, the cache and the model answer (``intents.question_of``), as it
would be asked alone. Before, the question mark made the whole message a question: the address
was searched with it, no lead was made, and the "I don't know" asked for the address again.

The detail is the visitor's when it has a clause of its own that gives it as theirs, in the
languages of the lead tables: "my email is ...", "mi correo es ...", "meine E-Mail ist ...",
"mon e-mail est ...", "meu e-mail é ...", "la mia email è ...", "mera email ... hai", "мой
email ...", "... is my email", "... here"; for a number, "my number is ..." and its
translations (``call_phrases``). An address asked about ("can I share it with bob@...?", "I
emailed support@... last week") has no such clause: the message stays a question, no lead."""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.text import short_text_cache
from rag.chat.call_phrases import _MINE, number_at
from rag.chat.contact_details import (
    _DATE_LIKE,
    CONTACT_WORDS,
    EMAIL_IN_TEXT,
    PHONE_IN_TEXT,
    _number_words,
    _turned_down_or_numbered,
    callback_number,
    contact_email,
    contact_phone,
    names_another_number,
    others_blanked,
)
from rag.chat.courtesy import (
    FILLER,
    GOODBYE,
    GREETING,
    QUESTION_STARTERS,
    THANKS,
    after_greetings,
    courtesy_only,
    has_question_mark,
)
from rag.chat.courtesy import words as _words
from rag.chat.details_withheld import quoted, removal_asked
from rag.chat.email_phrases import GIVEN_AS_THEIRS, MAIL, visitors_address
from rag.chat.lead_phrases import OWN_NUMBER
from rag.chat.other_numbers import named_span

# Where a clause ends: punctuation of the lead tables' scripts (no colon: "email: ..." gives the
# address in its clause), a dash between spaces ("my email is ... - how do I ..."), and the
# Spanish opening marks ("..., ¿cómo ...?").
_CLAUSE_END = re.compile(
    r"[,;.!?\n¿¡\u060c\u061b\u061f\u0964\u3001\u3002\uff01\uff0c\uff1b\uff1f]|\s[-\u2013\u2014]+\s"
)
_LOOSE_ENDS = " ,;:-\u2013\u2014\n\u060c\u3001\uff0c"
# The words before an address giving it as the visitor's, all its clause but greetings: the
# English ones the picker of two addresses reads too (``GIVEN_AS_THEIRS``: there they only
# need to end right before the address), then those of the lead tables' other languages.
_EMAIL_BEFORE = re.compile(
    rf"(?:(?:here is|heres|this is|its|and|please|pls|you can) )?{GIVEN_AS_THEIRS}"
    r"|mi (?:correo(?: electrónico| electronico)?|email|e mail|mail"
    r"|dirección de (?:correo|email|e mail)(?: electrónico| electronico)?"
    r"|direccion de (?:correo|email|e mail)(?: electrónico| electronico)?)(?: es)?"
    r"|(?:hier ist )?meine (?:e mail|email|mail)(?: adresse)?(?: ist| lautet)?"
    r"|(?:hier ist )?meine (?:emailadresse|mailadresse|adresse)(?: ist| lautet)?"
    r"|mon (?:e mail|email|mail|courriel|adresse(?: e mail| email| mail)?)(?: est| cest)?"
    r"|(?:o )?meu (?:e mail|email|endereço de (?:e mail|email)|endereco de (?:e mail|email))"
    r"(?: é| e)?"
    r"|(?:la )?mia (?:e mail|email|mail)(?: è| e)?"
    r"|(?:il )?mio (?:indirizzo(?: e mail| email| mail)?|email|e mail)(?: è| e)?"
    r"|(?:mera|meri) (?:email|e mail|mail)(?: id)?(?: hai| h)?"
    r"|(?:मेरा|मेरी) (?:ईमेल|ई मेल|email|मेल)(?: आईडी| id)?(?: है)?"
    r"|(?:мой|моя) (?:email|e mail|имейл|емейл|мейл|адрес|почта|электронная почта)(?: это)?"
)
# The words after an address giving it as the visitor's, all its clause.
_EMAIL_AFTER = re.compile(
    rf"(?:is|s) (?:my|our) (?:{MAIL}(?: address)?|address|contact)|is mine|here|its me"
    r"|es mi (?:correo(?: electrónico| electronico)?|email|e mail|mail)"
    r"|ist meine (?:e mail|email|mail)(?: adresse)?"
    r"|(?:est|cest) mon (?:e mail|email|mail|courriel|adresse)"
    r"|(?:é|e) (?:o )?meu (?:e mail|email)|(?:è|e) (?:la )?mia (?:e mail|email|mail)"
)
# A number given as the visitor's in the other languages of the lead tables (``_MINE``: English,
# German, Spanish, French, Portuguese, Italian).
_PHONE_BEFORE = re.compile(
    rf"{_MINE.pattern}"
    r"|(?:mera|meri|hamara) (?:number|no|mobile|phone|whatsapp)(?: number)?(?: hai| h)?"
    r"|(?:मेरा|हमारा) (?:नंबर|नम्बर|मोबाइल|फोन|फ़ोन)(?: नंबर)?(?: है)?"
    r"|мой (?:номер|телефон|мобильный)(?: телефона)?(?: это)?"
)
_PHONE_AFTER = re.compile(rf"(?:is|s) my {OWN_NUMBER}|here")
# What a clause giving the detail may end with besides: the verb the Hindi puts last.
_CLOSING = frozenset({"", "hai", "h", "है"})
# First words of a question without its "?" ("how do I ...", "what does ...").
_ASKING_STARTERS = QUESTION_STARTERS - {"i", "my", "any", "need", "help"}
_COURTESY = (GOODBYE, THANKS, GREETING)


@dataclass(frozen=True, slots=True)
class Beside:
    """The visitor's contact details a message leaves, and the question it asks besides."""

    email: str | None
    phone: str | None
    question: str


@short_text_cache(512)
def contact_beside(text: str) -> Beside | None:
    """The address (or, without one, the phone number) a message gives as the visitor's in a
    clause of its own, and the question the rest of it asks ("?" or a question's first word;
    the courtesy around it left out); None for a message leaving no detail so, asking nothing
    besides ("my email is ..., please get back to me": ``leaves_an_address``), asking only to
    be contacted ("... can you email me?"), or naming another address or number in its
    question. A call asked on a number is ``callback_number``'s. Cached: a turn reads it for
    the intent, the question, the lead and the reply."""
    if ("@" not in text and not any(ch.isdigit() for ch in text)) or removal_asked(text):
        return None
    found = list(EMAIL_IN_TEXT.finditer(text))
    email = contact_email(text) if found else None
    phone = None
    if email is not None:
        typed = visitors_address(text, found)
        span = next(m.span() for m in found if m.group(0).rstrip(".") == typed)
        before, after = _EMAIL_BEFORE, _EMAIL_AFTER
    else:
        phone = contact_phone(text)
        if phone is None or found or not _a_number_to_keep(text, phone):
            return None
        at = number_at(text, phone)
        span = (at, at + len(phone))
        before, after = _PHONE_BEFORE, _PHONE_AFTER
    if quoted(text, *span):
        return None
    rest = _without_the_clause(text, span, before, after)
    if rest is None:
        return None
    question = _question_only(rest)
    if question is None:
        return None
    return Beside(email, phone, question)


def without_contact(text: str) -> str:
    """``text`` without the clause leaving the visitor's contact details beside its question
    (``contact_beside``): the question alone; ``text`` itself when it leaves none so."""
    beside = contact_beside(text)
    return text if beside is None else beside.question


def _a_number_to_keep(text: str, phone: str) -> bool:
    """A number that is no date, no order's or booking's, and not one a call is asked on
    (``callback_number`` takes that one). An order's (an invoice's...) words name it only in
    its own clause (``names_another_number``: "my order number is ..., where is it?"): the
    question beside it may ask about an order ("my number is ..., where is my order?"), or
    name an order's number with its words, set aside (``others_blanked``: "... where is my
    order 5779079277?"). Before, the order's word anywhere made the visitor's number an
    order's: no lead, and a sales lead's reply asking for an email address. A call turned
    down, a booking's number, an ordering phrase's are read in the whole message
    (``_turned_down_or_numbered``)."""
    at = number_at(text, phone)
    if at < 0 or _DATE_LIKE.fullmatch(phone):
        return False
    blanked = others_blanked(text)
    opening = [m.end() for m in _CLAUSE_END.finditer(blanked, 0, at)]
    closing = _CLAUSE_END.search(blanked, at + len(phone))
    clause = blanked[opening[-1] if opening else 0 : closing.start() if closing else len(text)]
    if names_another_number(_number_words(clause)):
        return False
    return (
        not _turned_down_or_numbered(blanked, _number_words(blanked))
        and callback_number(text) is None
    )


def _without_the_clause(
    text: str, span: tuple[int, int], before: re.Pattern[str], after: re.Pattern[str]
) -> str | None:
    """``text`` without the clause of the detail typed at ``span``, when that clause gives it as
    the visitor's (``before`` it, or ``after`` it with nothing before it but greetings); a
    question right after the detail in its clause ("my email is ... how do I ...") is kept."""
    start, end = span
    head = text[:start]
    ends = list(_CLAUSE_END.finditer(head))
    clause_start = ends[-1].end() if ends else 0
    said_before = _words(head[clause_start:].rstrip().rstrip(":\uff1a"))
    said_before = said_before[after_greetings(said_before) :]
    closing = _CLAUSE_END.search(text, end)
    clause_end = closing.end() if closing else len(text)
    said_after = _words(text[end : closing.start() if closing else len(text)])
    given_before = before.fullmatch(said_before) is not None
    if given_before and said_after not in _CLOSING:
        if said_after.split()[0] not in _ASKING_STARTERS:
            return None
        clause_end = end  # "my email is ... how do I upload a document?": the question kept
    elif not given_before and (said_before or not after.fullmatch(said_after)):
        return None
    return f"{text[:clause_start]} {text[clause_end:]}"


def _question_only(rest: str) -> str | None:
    """What ``rest`` asks, its clauses of courtesy alone left out ("hi", "hello!"); None when it
    asks nothing, only to be contacted, or names an address or a number of its own (not one
    it names as an order's, an invoice's...: "where is my order 5779079277?",
    ``other_numbers.named_span``)."""
    if EMAIL_IN_TEXT.search(rest) or any(
        named_span(rest, *number.span()) is None for number in PHONE_IN_TEXT.finditer(rest)
    ):
        return None
    kept: list[str] = []
    at = 0
    for end in [*_CLAUSE_END.finditer(rest), None]:
        piece = rest[at : end.end() if end else len(rest)]
        said = _words(piece)
        if not said or not courtesy_only(said, _COURTESY):
            kept.append(piece)
        at = end.end() if end else len(rest)
    question = "".join(kept).strip(_LOOSE_ENDS)
    said = _words(question)
    if not said or not (has_question_mark(question) or said.split()[0] in _ASKING_STARTERS):
        return None
    own = [w for w in said.split() if w not in CONTACT_WORDS and w not in FILLER]
    return question if any(w not in QUESTION_STARTERS for w in own) else None

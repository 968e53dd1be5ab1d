"""Sales leads in the languages the bot answers in besides English: a demo or a quote asked for
("Quiero reservar una demo", "Kann ich ein Angebot für 50 Nutzer bekommen?", "Je voudrais un
devis", "Gostaria de agendar uma demonstração", "Vorrei un preventivo") is a lead, answered
with the lead reply in that language, as "book a demo" is (``rag.chat.intents``; the lexicon
tells the reply's language, ``rag.chat.reply_language``). Each needs a verb of booking or asking
beside the demo or the quote, so a question about one ("¿Qué incluye la demo?", "Ist das Angebot
noch gültig?") is none. The text is reduced by ``courtesy.words``: casefolded, apostrophes
dropped, punctuation gone; accents stay, so both spellings are listed."""

from __future__ import annotations

import re

from rag.chat.courtesy import Lexicon
from rag.chat.human_languages import Checks, pauses, turned_down

_DE_WHAT = (
    r"(?:ein |einen )?(?:unverbindliches |individuelles |persönliches |personliches )?"
    r"(?:angebot|kostenvoranschlag)"
)
_ES_WHAT = r"(?:una |un )?(?:demo|demostración|demostracion|presupuesto|cotización|cotizacion)"
_PT_WHAT = r"(?:uma |um )?(?:demo|demonstração|demonstracao|orçamento|orcamento|cotação|cotacao)"
_FR_WHAT = r"(?:une |un )?(?:démo|demo|démonstration|demonstration|devis)"
_IT_WHAT = r"(?:una |un )?(?:demo|dimostrazione|preventivo)"

SALES_ELSEWHERE = Lexicon(
    {
        "de": (
            # "Ich möchte eine Demo buchen", "Kann ich ein Angebot für 50 Nutzer bekommen?"
            r"(?:demo|produktdemo|vorführung|vorfuhrung) (?:\S+ ){0,2}"
            r"(?:buchen|vereinbaren|anfragen|anfordern|sehen)",
            r"(?:angebot|kostenvoranschlag) (?:\S+ ){0,4}"
            r"(?:anfragen|anfordern|bekommen|erhalten|einholen|schicken|senden)",
            # "Schicken Sie mir ein Angebot", "Ich hätte gerne ein Angebot", "Ich brauche ein
            # Angebot" (not "Ich möchte das Angebot nutzen": an offer of the shop's)
            r"(?:schicken|senden|schick|schicke|sende|machen|erstellen) (?:sie )?(?:mir|uns) "
            rf"(?:bitte )?{_DE_WHAT}",
            r"(?:möchte|mochte|hätte gerne?|hatte gerne?|brauche|bräuchte|brauchte|benötige"
            rf"|benotige) (?:bitte )?(?:gerne? )?{_DE_WHAT}",
        ),
        "es": (
            rf"(?:reservar|agendar|programar|concertar|solicitar|pedir|recibir|obtener|ver|quiero"
            rf"|quisiera|necesito|me gustaría|me gustaria) {_ES_WHAT}",
        ),
        "fr": (
            rf"(?:réserver|reserver|planifier|programmer|demander|obtenir|recevoir|voir|avoir"
            rf"|je veux|je voudrais|jaimerais|je souhaite) {_FR_WHAT}",
        ),
        "pt": (
            rf"(?:agendar|marcar|solicitar|pedir|receber|ver|quero|queria|gostaria de|preciso de)"
            rf" {_PT_WHAT}",
        ),
        "it": (
            rf"(?:prenotare|fissare|richiedere|chiedere|ricevere|vedere|avere|vorrei|voglio)"
            rf" {_IT_WHAT}",
        ),
    }
)
"""A demo or a quote asked for, by language."""

# Turned down in German by "kein" before the demo or the quote ("Ich will keine Demo buchen")
# or "nicht" inside ("Ich möchte die Demo nicht buchen"); in the other languages, what turns
# down a request for a person or asks whether one is needed (``human_languages.turned_down``:
# "No quiero una demo", "¿Es necesario pedir una demo?", "Faut-il avoir un devis ?").
_DE_NONE = re.compile(r"(?:^| )(?:kein|keine|keinen|keinerlei)$")
# Had already: "erhalten" and "bekommen" are also the participles, after a form of "haben"
# ("Ich habe das Angebot erhalten, aber ...", "Wir haben Ihr Angebot bekommen").
_DE_HAD = re.compile(
    r"(?:^| )(?:habe|hab|haben|hat|habt|hatte|hatten)(?: (?:ich|wir|sie|er|man))?"
    r"(?: (?:schon|bereits|gestern|heute|jetzt))?(?: (?:das|den|ein|eine|einen|ihr|ihre|ihren"
    r"|euer|mein|meine|unser|unsere|dieses|diesen|dieser))?$"
)
_PARTICIPLES = ("erhalten", "bekommen")
# The shop's offer, not a quote: "das Angebot", "dieses Angebot" ("Kann ich das Angebot für
# Studenten noch bekommen?"); "ein Angebot" is asked for.
_DE_THE = re.compile(r"(?:^| )(?:das|dieses|dies|diese|dem|den)$")
_DE_OFFER = ("angebot", "kostenvoranschlag")
# Asked whether one must, at the start of a clause ("Muss ich ein Angebot anfordern?", "Müssen
# wir vorher eine Demo buchen?"), as "Muss ich mit einem Mitarbeiter sprechen?" asks about a
# person ("Ich muss ein Angebot anfordern" still asks for one): a few words may come between
# it and the demo or the quote, which the German lead starts with.
_DE_ASKED: Checks = (
    (
        {"de": re.compile(r"(?:^|(?<=\s))(?:muss|müssen|mussen) (?:ich|wir|man)(?: \S+){0,4}$")},
        True,
    ),
)


def sales_asked(text: str, reduced: str) -> re.Match[str] | None:
    """The first demo or quote asked for in ``reduced`` (``text`` reduced by
    ``courtesy.words``) in one of the languages above, not turned down ("No quiero una demo",
    "Ich will keine Demo buchen"), asked about ("¿Es necesario pedir una demo?", "Muss ich ein
    Angebot anfordern?"), the shop's
    offer ("Kann ich das Angebot noch bekommen?") nor had already ("Ich habe das Angebot
    erhalten")."""
    marks: dict[int, str] | None = None  # the pauses, read once for every lead found
    for language, found in SALES_ELSEWHERE.found(reduced):
        if language == "de":
            before = _last_words(reduced[: found.start()].rstrip())
            what = f" {found.group(0)} "
            had = found.group(0).endswith(_PARTICIPLES) and _DE_HAD.search(before)
            the = found.group(0).startswith(_DE_OFFER) and _DE_THE.search(before)
            if _DE_NONE.search(before) or " nicht " in what or had or the:
                continue
        marks = pauses(text) if marks is None else marks
        also = _DE_ASKED if language == "de" else ()
        if not turned_down(reduced, found, language, marks, also):
            return found
    return None


def _last_words(head: str) -> str:
    """The whole words of the last 80 characters of ``head``: where what turns a German lead
    down is looked for, so a long message is read once, not once a lead."""
    return head if len(head) <= 80 else head[-80:].partition(" ")[2]

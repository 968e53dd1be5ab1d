"""Sales leads in the languages the bot answers in besides English: a demo or a quote asked for
("Quiero reservar una demo", "Kann ich ein Angebot für 50 Nutzer bekommen?", "Je voudrais un
devis", "Gostaria de agendar uma demonstração", "Vorrei un preventivo") is a lead, answered
with the lead reply in that language, as "book a demo" is (``rag.chat.intents``; the lexicon
tells the reply's language, ``rag.chat.reply_language``). Each needs a verb of booking or asking
beside the demo or the quote, so a question about one ("¿Qué incluye la demo?", "Ist das Angebot
noch gültig?") is none. The text is reduced by ``courtesy.words``: casefolded, apostrophes
dropped, punctuation gone; accents stay, so both spellings are listed."""

from __future__ import annotations

from rag.chat.courtesy import Lexicon

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

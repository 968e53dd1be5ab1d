"""Requests for a person in the languages the courtesy lexicon greets in besides English
(German, Spanish, French, Portuguese, Italian, Hindi in Devanagari and in Latin letters,
Russian, Arabic, Chinese, Japanese; Ukrainian too, answered in English): a visitor asking "Ich
möchte mit einem Menschen sprechen" is handed off as one asking "I want to talk to a human" is
(a reviewer's finding: it was a question, answered "Sorry, I don't know", with no hand-off and
no mail to the team).

Each pattern needs a verb of talking or being put through beside the person ("mit einem
Mitarbeiter sprechen", "hablar con una persona", "parler à un conseiller"), so a question about a
feature ("¿tienen soporte humano?") is no request. The text is already reduced by
``courtesy.words``: casefolded, apostrophes dropped ("quelqu'un" is "quelquun"), punctuation gone;
accents stay, so both the accented and the plain spelling are listed."""

from __future__ import annotations

import re

from rag.chat.courtesy import Lexicon, phrases, words
from rag.chat.need_questions import (
    PAUSE_MARKS,
    QUESTION_MARKS,
    asked_in_its_sentence,
    needed_if_asked,
    unspaced_needed,
)

_ANY = r"(?:\S+ ){0,3}"  # a few words between: articles, adjectives ("einem echten")

_DE_PERSON = (
    r"(?:mensch(?:en)?|person(?:en)?|mitarbeiter(?:in|innen)?|berater(?:in)?|ansprechpartner(?:in)?"
    r"|jemand(?:em|en)?|kundendienst|kundenservice|kundensupport|support|menschlichen \S+)"
)
_ES_PERSON = (
    r"(?:persona|humano|agente|asesora?|representante|operadora?|alguien|empleado|ejecutivo"
    r"|soporte|atención al cliente|atencion al cliente|servicio al cliente)"
)
_FR_PERSON = (
    r"(?:humain|personne|quelquun|quelqu un|conseill(?:er|ère|ere)|agent|opérat(?:eur|rice)"
    r"|operat(?:eur|rice)|représentant|representant|vendeur|service client|être humain"
    r"|etre humain|vrai \S+|vraie \S+)"
)
_PT_PERSON = (
    r"(?:pessoa|humano|atendente|agente|alguém|alguem|representante|consultora?|operadora?"
    r"|suporte|atendimento)"
)
_IT_PERSON = (
    r"(?:persona|umano|operat(?:ore|rice)|agente|qualcuno|consulente|assistente|rappresentante"
    r"|addett[oa]|servizio clienti|essere umano)"
)
_HI_PERSON = r"(?:इंसान|इन्सान|व्यक्ति|आदमी|एजेंट|मानव|किसी|प्रतिनिधि|कर्मचारी|ऑपरेटर|टीम)"
_HINGLISH_PERSON = (
    r"(?:insaan|insan|insaan|vyakti|aadmi|admi|agent|kisi|banda|bande|representative|operator"
    r"|team|staff|manager)"
)
_RU_PERSON = (
    r"(?:человеком|оператором|менеджером|сотрудником|специалистом|консультантом|живым человеком"
    r"|кем нибудь|кем-нибудь)"
)
_AR_PERSON = r"(?:شخص|إنسان|انسان|موظف|ممثل|بشري|مندوب|أحد|احد)"
_UK_PERSON = (
    r"(?:людиною|живою людиною|оператором|менеджером|співробітником|працівником|консультантом"
    r"|фахівцем|кимось)"
)

# Wanting one ("Quiero un humano", "Ich will einen Menschen") or asking whether one is there
# ("Ist hier ein Mensch?", "¿Hay una persona real?"): only the words that name a person of the
# team, then no word that makes them something else's ("un agente de viajes", "un agent
# immobilier", "un asesor fiscal", "una persona de contacto para facturas", "einen Menschen für
# die Einrichtung", "uma pessoa para limpar"); a "no" before it is ``_DECLINED``'s ("No quiero
# un humano").
_DE_NOT_THEIRS = (
    r"(?! (?:für|fur|als|in|im|zur|zum|der|die|nötig|notig|erforderlich|zuständig|zustandig"
    r"|vor ort)(?!\S))"
)
_ES_NOT_THEIRS = (
    r"(?! (?:de|para|en|con|a cargo|responsable|que use|que usa|fiscal|financier[oa]"
    r"|inmobiliari[oa]|legal|comercial|contable|tributari[oa]|bancari[oa]|laboral)(?!\S))"
)
_PT_NOT_THEIRS = (
    r"(?! (?:de|para|em|no|na|que|responsável|responsavel|fiscal|financeir[oa]"
    r"|imobiliári[oa]|imobiliari[oa]|comercial|jurídic[oa]|juridic[oa]|bancári[oa])(?!\S))"
)
_FR_NOT_THEIRS = (
    r"(?! (?:de|pour|en|du|des|qui|sur place|financier|financière|financiere|immobilier|commercial"
    r"|fiscal|juridique|bancaire|dassurance|dassurances)(?!\S))"
)
_IT_NOT_THEIRS = (
    r"(?! (?:di|per|in|che|finanziari[oa]|immobiliare|commerciale|fiscale|legale"
    r"|assicurativ[oa]|bancari[oa])(?!\S))"
)
# Whether one is there who does something ("¿Existe un agente que hable inglés?"), or at a time
# or place ("¿Hay alguien disponible el sábado?"): a question about the shop ("¿Hay una persona
# real que me atienda?" and "¿Hay alguien disponible?" still ask).
_ES_NOT_WHO = r"(?! que(?! me| nos)(?!\S))"
_ES_NOT_WHEN = r"(?! (?:el|la|los|las|en|este|esta|por|a|durante|hasta|desde|mañana|manana)(?!\S))"
_DE_WANTED = (
    r"(?:echten |richtigen )?(?:menschen|mitarbeiter|mitarbeiterin|berater|beraterin"
    r"|ansprechpartner|ansprechpartnerin)"
)
_ES_WANTED = r"(?:humano|persona real|persona de verdad|agente|asesora?|operadora?|representante)"
_PT_WANTED = r"(?:humano|ser humano|atendente|pessoa real|pessoa de verdade|agente|representante)"
_FR_WANTED = (
    r"(?:humain|être humain|etre humain|vrai conseiller|conseill(?:er|ère|ere)|opérat(?:eur|rice)"
    r"|operat(?:eur|rice)|agent|vraie personne)"
)
_IT_WANTED = r"(?:umano|essere umano|operat(?:ore|rice)|persona reale|persona vera|consulente)"

_BY_LANGUAGE = {
    "de": (
        # German: "Ich möchte mit einem Menschen sprechen", "kann ich mit jemandem reden"
        rf"mit {_ANY}{_DE_PERSON} {_ANY}"
        r"(?:sprechen|reden|chatten|telefonieren|verbunden|verbinden)",
        r"verbinden sie mich (?:bitte )?mit",
        r"(?:echten|echter|echte|richtigen|realen) (?:mensch|menschen|person|mitarbeiter)",
        rf"(?:will|möchte|mochte|brauche|hätte gern|hatte gern|hätte gerne|hatte gerne) "
        rf"(?:bitte )?(?:einen |eine )?{_DE_WANTED}{_DE_NOT_THEIRS}",
        # "Ist hier ein Mensch?", "Ist da jemand?", "Gibt es hier einen echten Menschen?"
        r"(?:ist|sind) (?:hier|da|dort) (?:auch )?(?:ein |eine )?(?:echter |richtiger )?"
        rf"(?:mensch|mitarbeiter|mitarbeiterin|jemand)(?: da| dran| hier)?{_DE_NOT_THEIRS}",
        r"gibt es (?:hier |da |dort )?(?:auch )?(?:einen |eine )?(?:echten |richtigen )?"
        rf"(?:menschen|mitarbeiter|mitarbeiterin)(?: hier| da)?{_DE_NOT_THEIRS}",
    ),
    "es": (
        # Spanish: "Quiero hablar con una persona", "pásame con un agente"
        rf"(?:hablar|comunicarme|chatear|platicar|contactar) con {_ANY}{_ES_PERSON}",
        r"(?:pásame|pasame|comuníqueme|comuniqueme|transfiérame|transfiereme|páseme|paseme) con",
        rf"(?:quiero|necesito|quisiera) (?:un |una )?{_ES_WANTED}{_ES_NOT_THEIRS}",
        # "¿Hay una persona real?", "¿Hay alguien ahí?"
        r"(?:hay|existe) (?:alguna |algún |algun |una |un )?(?:persona|humano|agente)"
        r"(?>(?: real| de verdad| humana)?(?: ahí| ahi| allí| alli)?)"
        rf"{_ES_NOT_THEIRS}{_ES_NOT_WHO}",
        rf"hay alguien(?: real)?(?: ahí| ahi| allí| alli| disponible{_ES_NOT_WHEN}"
        r"| con quien hablar|$)",
    ),
    "fr": (
        # French: "je veux parler à un humain", "mettez-moi en relation avec un conseiller"
        rf"(?:parler|discuter|échanger|echanger) (?:à|a|avec) {_ANY}{_FR_PERSON}",
        r"(?:mettre|mettez moi|mets moi) en (?:relation|contact) avec",
        rf"(?:je veux|je voudrais|jaimerais|je souhaite) (?:un |une )?{_FR_WANTED}{_FR_NOT_THEIRS}",
        # "Y a-t-il quelqu'un ?", "Il y a un humain ?"
        r"(?:y a t il|il y a) (?:quelquun|un humain|une vraie personne|un conseiller)"
        rf"(?: là| la)?{_FR_NOT_THEIRS}",
    ),
    "pt": (
        # Portuguese: "Quero falar com uma pessoa", "atendimento humano"
        rf"(?:falar|conversar) com {_ANY}{_PT_PERSON}",
        # "Quero atendimento humano" asks for it; "Tem atendimento humano?" asks about it.
        r"(?:quero|queria|preciso de|preciso|gostaria de) (?:um |o )?atendimento humano",
        rf"(?:quero|queria|preciso de|gostaria de) (?:um |uma )?{_PT_WANTED}"
        rf"{_PT_NOT_THEIRS}",
        # "Tem alguém aí?", "Tem um atendente?"
        r"(?:tem|há|ha|existe) (?:algum |alguma |um |uma )?(?:humano|atendente|pessoa real"
        rf"|ser humano)(?: aí| ai| ali)?{_PT_NOT_THEIRS}",
        r"(?:tem|há|ha) (?:alguém|alguem)(?: real)?(?: aí| ai| ali|$)",
    ),
    "it": (
        # Italian: "Vorrei parlare con un operatore"
        rf"(?:parlare|chattare|parlarne) con {_ANY}{_IT_PERSON}",
        rf"(?:voglio|vorrei|ho bisogno di) (?:un |una )?{_IT_WANTED}{_IT_NOT_THEIRS}",
        # "C'è qualcuno?", "C'è un operatore?"
        rf"(?:cè|c è) (?:qualcuno|un operatore|una persona reale|un umano)(?: lì| li)?"
        rf"{_IT_NOT_THEIRS}",
    ),
    "hi": (
        # Hindi: "मुझे किसी इंसान से बात करनी है", "agent se baat karni hai"
        rf"{_HI_PERSON} (?:\S+ )?से बात",
        rf"{_HINGLISH_PERSON} (?:\S+ )?se baat",
    ),
    "ru": (
        # Russian: "khochu pogovorit s chelovekom", "soedinite s operatorom"
        r"(?:поговорить|говорить|связаться|соедините|соединить|свяжите|связать|переключите"
        rf"|переключить) {_ANY}\u0441 {_RU_PERSON}",
        # "Можно переключить меня на оператора?", "переведите на менеджера"
        r"(?:переключите|переключить|переведите|перевести|соедините|соединить) (?:меня |нас )?"
        r"(?:на|\u0441) (?:живого )?(?:человека|оператора|менеджера|сотрудника|специалиста"
        r"|консультанта)",
        r"живой человек",
        # "Мне нужен оператор", "Нужен живой человек" (asked whether one is needed, with "ли" or
        # in a question, no request: ``need_questions``)
        r"(?:нужен|нужна)(?: ли)? (?:живой |живая )?(?:человек|оператор|менеджер|сотрудник"
        r"|специалист|консультант)",
    ),
    "ar": (
        # Arabic: "أريد التحدث مع شخص", "أتكلم مع موظف"
        rf"(?:التحدث|التكلم|الحديث|اتكلم|أتكلم|أتحدث|اتحدث|التواصل) (?:مع|إلى|الى) {_AR_PERSON}",
    ),
    "uk": (
        # Ukrainian (answered in English, ``reply_language``): "Я хочу поговорити з людиною",
        # "з'єднайте мене з оператором" (the apostrophe dropped)
        r"(?:поговорити|говорити|розмовляти|звязатися|звязатись|зєднайте|зєднати|звяжіть"
        rf"|переключіть) {_ANY}з {_UK_PERSON}",
        r"жива людина",
    ),
}
_LEXICON = Lexicon(_BY_LANGUAGE)

# What, right before a request for a person, turns it down ("No quiero hablar con una persona",
# "Ich möchte nicht mit einem Menschen sprechen", "Pas besoin de parler à un conseiller"), as
# English's ``human_requests._DECLINED`` does: no hand-off, the rest of the message is answered.
# Only with no pause between it and the request ("No, quiero hablar con una persona" asks), and
# not "can't" ("¿Por qué no puedo hablar con una persona?", "Warum kann ich nicht mit einem
# Menschen sprechen?" still ask).
_DECLINED_BY_LANGUAGE = {
    "de": r"(?<!kann ich )(?<!kann man )(?<!können wir )(?<!konnen wir )(?<!darf ich )"
    r"(?<!ich kann )(?<!man kann )(?<!wir können )(?<!wir konnen )(?<!ich konnte )"
    r"(?<!wir konnten )(?<!ich darf )"
    r"(?:nicht|nie|niemals|keinesfalls|ohne)(?: mehr| unbedingt)?"
    r"(?: dass (?:sie|ihr|du|man|jemand) (?:mich|uns))?|kein bedarf|keine lust",
    "es": r"no(?: (?:quiero|necesito|quisiera|deseo|busco|me interesa|me hace falta|hace falta"
    r"|es necesario|hay que|tengo que|voy a))?|nunca|sin|ni",
    "pt": r"(?:não|nao)(?: (?:quero|queria|preciso|preciso de|gostaria de|tenho que|é preciso"
    r"|e preciso|vou))?|nunca|sem|nem",
    "fr": r"(?<!peux )(?<!peut )(?<!pouvez )(?<!pouvons )(?<!puis )"
    r"(?:pas|plus|jamais)(?: besoin de| envie de)?|sans|inutile de",
    "it": r"non(?: (?:voglio|vorrei|ho bisogno di|devo|mi serve|serve|è necessario"
    r"|e necessario))?|mai|senza|nemmeno|neanche",
    "ru": r"не(?: (?:хочу|хотим|хотел бы|хотела бы|нужно|надо|нужен|нужна|буду|собираюсь"
    r"|желаю|стану))?|никогда|без|нет необходимости|нет нужды",
    "uk": r"не(?: (?:хочу|хочемо|хотів би|хотіла \u0431|потрібно|треба|буду|збираюся))?|ніколи|без",
    "ar": r"(?:لا|لن|لم|ليس|بدون|دون)(?: (?:أريد|اريد|نريد|أرغب في|ارغب في|أحتاج إلى|احتاج الى"
    r"|أحتاج|احتاج|أود|اود))?|(?:لا|ليس) (?:داعي|حاجة|هناك حاجة)(?: (?:إلى|الى|ل))?",
}
_DECLINED = {
    language: re.compile(rf"(?:^|(?<=\s))(?:{negation})$")
    for language, negation in _DECLINED_BY_LANGUAGE.items()
}
# Asking whether one must talk to a person, at the start of a clause ("Muss ich mit einem
# Mitarbeiter sprechen, um zu kündigen?", "Dois-je parler à un conseiller ?"): asked about, not
# asked for, as English's "do I need to talk to a person?" ("Dann muss ich mit einem Mitarbeiter
# sprechen" and "Je dois parler à un conseiller" still ask).
_ASKED_BY_LANGUAGE = {
    "de": r"(?:muss|müssen|mussen) (?:ich|wir|man)(?: wirklich| unbedingt| erst| dafür| dafur)?",
    "fr": r"(?:dois je|doit on|faut il|est ce que je dois|est ce quil faut)(?: vraiment)?",
    "ar": r"هل (?:يجب|يلزم|لازم|علي|علينا|من الضروري|من اللازم)(?: علي| علينا)?(?: أن| ان)?",
}
_ASKED = {
    language: re.compile(rf"(?:^|(?<=\s))(?:{asked})$")
    for language, asked in _ASKED_BY_LANGUAGE.items()
}
# Having to talk to a person, at the start of a clause that asks ("¿Tengo que hablar con un
# agente?") or with what for after the person ("tengo que hablar con un agente para cancelar"):
# a question about how something is done, as "do I have to talk to a person to cancel?" ("Tengo
# que hablar con un agente" still asks, and so does "Necesito hablar con un agente para ...").
_OBLIGED_BY_LANGUAGE = {
    "es": r"(?:tengo que|tenemos que|hay que|debo|debemos|es necesario|es obligatorio|hace falta)",
    "pt": r"(?:tenho que|tenho de|temos que|é preciso|e preciso|é necessário|e necessario|devo)",
    "it": r"(?:devo|dobbiamo|bisogna|occorre|è necessario|e necessario|è obbligatorio)",
}
_OBLIGED = {
    language: re.compile(rf"(?:^|(?<=\s))(?:{obliged})$")
    for language, obliged in _OBLIGED_BY_LANGUAGE.items()
}
_PURPOSE = frozenset({"para", "pra", "per"})
"""What for ("para cancelar", "per annullare"), right after the person: a verb to do
(``_TO_DO``), not what about ("para una queja urgente", "per un reclamo", "pra ontem", "per
piacere" ask for one)."""
_TO_DO = re.compile(
    r"\w+(?:ar|er|ir|ár|ér|ír|are|ere|ire|rre)(?:l[oae]s?|l[ei]|gli|ne|mi|ci|si|se)?"
)
_NOT_TO_DO = frozenset({"piacere", "ayer"})
# A refusal that is none: the modal after the request says the visitor cannot ("..., dass ich
# nicht mit einem Menschen sprechen kann"), as "Ich kann nicht mit einem Menschen sprechen".
_UNABLE_AFTER = {"de": frozenset({"kann", "können", "konnen", "konnte", "konnten", "darf"})}
# Hindi says "not" after the verb, in either of the two words after the request: "इंसान से बात
# नहीं करनी" and "insaan se baat nahi karni" turn it down; "होगी", "padegi" ask whether one
# must, in a question ("kya mujhe kisi insaan se baat karni padegi?").
_NOT_AFTER = {"hi": frozenset(words("नहीं नही मत nahi nahin nhi mat").split())}
_MUST_AFTER = {"hi": frozenset(words("होगी होगा पड़ेगी पड़ेगा पड़ेगी padegi padega hogi hoga").split())}
# What pauses a message: a "no" before one of these is an answer, not a refusal. A pause
# before "dass" joins its clause ("Ich möchte nicht, dass Sie mich ... verbinden" refuses), and
# one before "чтобы", what for ("нужен человек, чтобы отменить?" is one question).
_PAUSE = re.compile("[" + re.escape("".join(sorted(PAUSE_MARKS))) + "]")
_JOINED = frozenset({"dass", "чтобы"})
HUMAN_ELSEWHERE = _LEXICON.pattern
# Chinese and Japanese write no spaces: a phrase anywhere in the run ("我要转人工", "人工客服",
# "担当者と話したい", "オペレーターにつないで").
HUMAN_UNSPACED = re.compile(
    r"人工客服|转人工|轉人工|人工服务|人工服務|真人客服|找人工|要人工|和真人|跟真人|客服人员"
    r"|担当者(?:と|に|さん)|オペレーター(?:と|に)|人と話|人間と話|スタッフと話"
)
# Turned down: in Chinese before ("我不要转人工", "不用转人工"), in Japanese after the verb
# ("担当者と話したくない", "話す必要はない"; "話せない", cannot, still asks).
_UNSPACED_NOT_BEFORE = re.compile(r"(?:不要|不用|不需要|不想|别|別|无需|無需|不必|取消)$")
_UNSPACED_NOT_AFTER = re.compile(
    r"\S{0,4}?(?:たくない|たくありません|なくていい|なくても|必要はない|必要ない|必要はありません"
    r"|不要|結構)"
)


def unspaced_turned_down(reduced: str, found: re.Match[str], text: str) -> bool:
    """Whether a request ``found`` in a run of Chinese or Japanese (``reduced``, from ``text``)
    is turned down ("我不要转人工", "担当者と話したくない") or asks whether one is needed rather
    than for one; a sales lead so is none either (``rag.chat.lead_languages``)."""
    before, after = reduced[max(found.start() - 3, 0) : found.start()], reduced[found.end() :]
    if _UNSPACED_NOT_BEFORE.search(before) or _UNSPACED_NOT_AFTER.match(after):
        return True
    return unspaced_needed(reduced, found, text)


HUMAN_WORD_ALONE = frozenset(
    {"mensch", "mitarbeiter", "humano", "agente", "persona real", "humain", "conseiller"}
    | {"umano", "operatore", "pessoa", "atendente", "оператор", "человек", "人工", "オペレーター"}
    | {"menschen", "einen menschen", "ein mensch", "echten menschen", "einen echten menschen"}
    | {"un humano", "un agente", "um humano", "uma pessoa", "um atendente", "un humain"}
    | {"un operatore", "una persona reale", "atendimento humano"}
)
"""A message that is nothing but one of these words ("humano", "оператор"), as "agent" is."""
HUMAN_WORD_WITH_PLEASE = frozenset({"persona", "una persona"})
"""One of these and "please" ("persona por favor", "Una persona, por favor"): alone, "Persona"
is as likely a product's name or the bot's persona."""
PLEASE = phrases(
    r"bitte",
    r"por favor",
    r"porfa",
    r"svp",
    r"stp",
    r"sil (?:vous|te) pla[iî]t",
    r"per favore",
    r"per piacere",
    r"пожалуйста",
    r"कृपया",
    r"kripya",
    r"من فضلك",
    r"لو سمحت",
)
""""Please" in those languages: with one of those words it is still that word alone ("Humano
por favor", "Mitarbeiter bitte"), as "agent please" is ("please" is courtesy filler)."""


def asks_for_a_person(text: str) -> bool:
    """Whether ``text`` asks for a person in one of the languages above, not turned down just
    before it (``_DECLINED``) nor asked about (``_ASKED``, ``_OBLIGED``)."""
    reduced = words(text)
    for found in HUMAN_UNSPACED.finditer(reduced):
        if not unspaced_turned_down(reduced, found, text):
            return True
    marks: dict[int, str] | None = None  # the pauses, read once for every request found
    for language, found in _LEXICON.found(reduced):
        marks = pauses(text) if marks is None else marks
        if not _turned_down(reduced, found, language, marks):
            return True
    return False


Checks = tuple[tuple[dict[str, re.Pattern[str]], bool], ...]
"""Patterns by language that end right before a request, each with whether it must start a
clause (``_turned_down``)."""


def turned_down(
    reduced: str,
    request: re.Match[str],
    language: str,
    marks: dict[int, str],
    also: Checks = (),
) -> bool:
    """The words of ``reduced`` before ``request`` (found in it) in ``language`` refuse it
    ("No quiero", "Non voglio") or ask whether it is needed ("¿Es necesario ...?", "Faut-il
    ...") as for a person (``_turned_down``; ``marks``: the text's ``pauses``), or match one
    of ``also``: a sales lead so turned down or asked about ("No quiero una demo") is none
    either (``rag.chat.lead_languages``)."""
    return _turned_down(reduced, request, language, marks, _CHECKS + also)


_CHECKS = ((_DECLINED, False), (_ASKED, True), (_OBLIGED, True))
_TAIL = 12
"""Words before a request that a refusal or a question about it spans, at most (with what its
lookbehinds read): only they are searched, so a long message is read once, not once a request."""
_NEXT = re.compile(r" ?(\S+)(?: (\S+))?")


def _turned_down(
    reduced: str,
    request: re.Match[str],
    language: str,
    marks: dict[int, str],
    checks: Checks = _CHECKS,
) -> bool:
    """The words of ``reduced`` before a ``request`` for a person in ``language`` end in a
    refusal, with no pause (``marks``: ``pauses``) between the refusal and the request, or in a
    clause asking whether one is needed (``_ASKED``; ``_OBLIGED`` in a question or with what
    for)."""
    head = reduced[: request.start()].rstrip()
    said = len(head.split(" ")) if head else 0
    parts = head.split(" ")[-_TAIL:] if head else []
    tail, skipped = " ".join(parts), said - len(parts)
    following = _NEXT.match(reduced, request.end())
    then = (following[1], following[2]) if following else (None, None)
    if _NOT_AFTER.get(language, frozenset()) & set(then):
        return True
    must = _MUST_AFTER.get(language, frozenset())
    if must & set(then):  # asked in the request's own clause or sentence, not the message's
        end = said + len(request.group(0).split(" ")) + (1 if then[0] in must else 2)
        if asked_in_its_sentence(reduced, said, end, marks):
            return True
    if needed_if_asked(reduced, request, language, marks, parts, then, said):
        return True
    for patterns, at_clause_start in checks:
        pattern = patterns.get(language)
        found = pattern.search(tail) if pattern else None
        if found is None:
            continue
        first = skipped + len(tail[: found.start()].split())
        unbroken = not any(first < pause <= said for pause in marks)
        if not unbroken or (at_clause_start and first != 0 and first not in marks):
            continue
        if patterns is _DECLINED and then[0] in _UNABLE_AFTER.get(language, ()):
            continue
        if patterns is not _OBLIGED or _asks_how(then, marks, first):
            return True
    return False


def _asks_how(then: tuple[str | None, str | None], marks: dict[int, str], first: int) -> bool:
    """A clause having to talk to a person (starting at word ``first``) asks how something is
    done: what for follows the person (``then``, its next two words), or it is a question
    (``marks``: the marks of the pauses after each count of words)."""
    if then[0] in _PURPOSE and then[1] is not None and _to_do(then[1]):
        return True
    if "¿" in marks.get(first, ""):  # "¿Tengo que ...": the mark opening the clause
        return True
    ends = [count for count in marks if count > first]
    return bool(ends) and any(mark in QUESTION_MARKS for mark in marks[min(ends)])


def _to_do(word: str) -> bool:
    """Whether ``word`` is a verb to do ("cancelar", "annullarlo"), as far as its ending tells."""
    return word not in _NOT_TO_DO and _TO_DO.fullmatch(word) is not None


def pauses(text: str) -> dict[int, str]:
    """How many words come before each pause (comma, full stop, ...) in ``text``, with the
    pause's marks; none before "dass" (``_JOINED``)."""
    counts: dict[int, str] = {}
    said = 0
    pieces = _PAUSE.split(text)
    for piece, mark, then in zip(pieces[:-1], _PAUSE.findall(text), pieces[1:], strict=True):
        said += len(words(piece).split())
        if words(then).split()[:1] and words(then).split()[0] in _JOINED:
            continue
        counts[said] = counts.get(said, "") + mark
    return counts


def person_language(reduced: str) -> str | None:
    """The language whose lexicon above finds a request for a person in ``reduced`` ("de",
    "es", ...); None when none does."""
    found = _LEXICON.language_of(reduced)
    if found is not None:
        return found
    said = reduced.split()
    if alone := next((_ALONE[word] for word in said if word in _ALONE), None):
        return alone
    # "persona por favor": Spanish or Italian by the word, Spanish or Portuguese by "please".
    if "persona" in said:
        told = {lang for lang, word in _PLEASE_IN.items() if word.search(reduced)}
        both = told & {"es", "it"}
        return next(iter(both)) if len(both) == 1 else None
    return None


_ALONE = {"mensch": "de", "menschen": "de", "mitarbeiter": "de", "humain": "fr"}
_ALONE |= {"conseiller": "fr", "umano": "it", "operatore": "it", "pessoa": "pt", "atendente": "pt"}
_ALONE |= {"atendimento": "pt"}
"""The words of ``HUMAN_WORD_ALONE`` only one of the languages has ("humano" is two's)."""
_PLEASE_IN = {"es": phrases(r"por favor", r"porfa"), "it": phrases(r"per favore", r"per piacere")}

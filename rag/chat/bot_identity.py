"""A visitor asking whether a bot or a person answers: "am I talking to a human?", "are you a
bot?", "is this a real person?", "Spreche ich mit einem Menschen?", "Est-ce que je parle à un
humain ?", "¿Estoy hablando con una persona?". The bot says honestly that it is an automated
assistant and that a person from the team is there for the asking (``bot_identity``), without
retrieval, a model or a hand-off (a tester's finding: these got "Sorry, I don't know..." and
went on the owner's Unanswered page, or, for "am I talking to a human?", a hand-off with the
owner alerted though nobody asked for a person).

Only a message that is nothing but the question (a greeting or a filler word before it, "or a
bot?" after it) is one: "are you a bot? I want to talk to a human" asks for a person, "is there a
bot for Slack?" asks about a feature, and "are you a bot? what are your opening hours?" is a
question: the question after it is answered, and the answer starts with the same reply
(``identity_then_question``; before, the visitor got "I don't know" to the whole message and
no word on what answered). English, German, French, Spanish, Portuguese, Italian, Russian,
Arabic, Hindi (in Devanagari and Latin letters: "क्या आप बॉट हैं?", "kya aap bot ho"), Chinese
and Japanese; the text is already reduced by ``courtesy.words`` (casefolded, punctuation gone,
apostrophes dropped: "c'est" is "cest")."""

from __future__ import annotations

import re
from collections import deque

from core.text import short_text_cache
from rag.chat.courtesy import (
    ACKNOWLEDGEMENTS,
    FILLER,
    GOODBYE,
    GREETING,
    THANKS,
    Lexicon,
    courtesy_only,
    words,
)

_EN_WHAT = (
    r"(?:human(?: being)?s?|person|people|bot|robot|machine|ai|a i|computer|chat ?bot|program"
    r"|software|agent|someone|somebody|real one|automated (?:assistant|system|reply|replies|bot"
    r"|response|responses|chat)|virtual assistant|ai assistant|ai bot)"
)
_EN_ADJ = r"(?:real|actual|live|automated|automatic|artificial|virtual|an? )"
_EN_THING = rf"(?:(?:a|an) )?(?:{_EN_ADJ} ?)*{_EN_WHAT}"
_EN_OR = rf"(?: or (?:{_EN_THING}|not|real|human|automated|what))?"
_EN_NOW = r"(?: (?:right now|now|here|today|in this chat|on this chat|on the other end))?"
_EN_YOU = r"(?:are you|you are|youre|are u|r you|r u|ru|is this chat|is this thing|am i)"
# "is it" / "is this" may be about a product ("is it real?", "is it AI?", "is this software?",
# "is it automated?"): only a person or a bot, named as one, asks what answers.
_EN_IT = r"(?:is this|is it)"
_EN_IT_WHAT = (
    r"(?:human(?: being)?s?|person|people|bot|robot|chat ?bot|someone|somebody|automated "
    r"(?:assistant|system|reply|replies|bot|response|responses|chat)|virtual assistant"
    r"|ai assistant|ai bot|ai chat ?bot)"
)
_EN_IT_THING = (
    r"(?:(?:(?:a|an) )?(?:(?:real|actual|live|automated|automatic|artificial|virtual) )*"
    rf"{_EN_IT_WHAT}|an (?:actual |real )?ai)"
)

_DE_WHAT = (
    r"(?:mensch(?:en)?|person|bot|roboter|maschine|ki|computer|chatbot|programm|mitarbeiter(?:in)?"
    r"|echt|real|automatisiert|automatisch)"
)
_DE_THING = r"(?:(?:ein|eine|einen|einem|einer) )?(?:(?:echte[nmr]?|richtige[nmr]?|reale[nmr]?"
_DE_THING += rf"|wirkliche[nmr]?|lebende[nmr]?) )?{_DE_WHAT}"
_FR_WHAT = (
    r"(?:humain|humaine|personne|robot|bot|machine|ia|ordinateur|chatbot|programme|conseill(?:er|ère)"
    r"|être humain|etre humain|vrai|vraie|réel|reel|réelle|automatique|automatisé|automatise)"
)
_FR_THING = rf"(?:(?:un|une) )?(?:(?:vrai|vraie|véritable|veritable) )?{_FR_WHAT}(?: réel| reel)?"
_ES_WHAT = (
    r"(?:persona|humano|humana|bot|robot|máquina|maquina|ia|chatbot|programa|ser humano|real"
    r"|agente|automático|automatico)"
)
_ES_THING = rf"(?:(?:un|una) )?{_ES_WHAT}(?: real| de verdad)?"
_PT_WHAT = (
    r"(?:pessoa|humano|humana|bot|robô|robo|máquina|maquina|ia|chatbot|programa|ser humano"
    r"|atendente|real|automático|automatico)"
)
_PT_THING = rf"(?:(?:um|uma) )?{_PT_WHAT}(?: real| de verdade)?"
_IT_WHAT = (
    r"(?:persona|umano|umana|bot|robot|macchina|ia|chatbot|programma|essere umano"
    r"|operat(?:ore|rice)|reale|vero|vera|automatico)"
)
_IT_THING = rf"(?:(?:un|una|uno) )?{_IT_WHAT}(?: reale| vera| vero| in carne e ossa)?"
_RU_WHAT = r"(?:бот|робот|человек|живой человек|машина|ии|программа|нейросеть|оператор)"
_RU_WITH = r"(?:ботом|роботом|человеком|живым человеком|машиной|программой|оператором)"
_AR_WHAT = r"(?:روبوت|بوت|إنسان|انسان|شخص|شخص حقيقي|آلة|الة|موظف|ذكاء اصطناعي)"

_HI_WHAT = r"(?:बॉट|बोट|रोबोट|इंसान|इन्सान|मशीन|एआई|मानव|व्यक्ति|कंप्यूटर|प्रोग्राम|चैटबॉट)"
_HI_THING = rf"(?:एक )?(?:असली |सच्चे |सचमुच )?{_HI_WHAT}"
_HI_BE = r"(?:हो|हैं|है|हूँ)"
_HIN_WHAT = (
    r"(?:bot|robot|insaan|insan|machine|ai|human|computer|program|chatbot|asli insaan"
    r"|real insaan|real human|sach me insaan)"
)
_HIN_THING = rf"(?:ek )?{_HIN_WHAT}"
_HIN_BE = r"(?:ho|hain|hai|he|hoon)"

_BY_LANGUAGE = {
    "en": (
        # English: "am I talking to a human?", "are you a bot or a real person?", "is this
        # automated?"
        rf"(?:so |wait |honestly |be honest |just curious )?(?:am i|are we|im|i am) "
        rf"(?:talking|speaking|chatting|texting|writing) (?:to|with) {_EN_THING}{_EN_OR}{_EN_NOW}",
        rf"(?:so |wait |honestly |be honest )?{_EN_YOU} {_EN_THING}{_EN_OR}{_EN_NOW}",
        rf"{_EN_YOU} (?:real|human|automated|a real one|for real)(?: or (?:not|{_EN_THING}))?"
        rf"{_EN_NOW}",
        rf"(?:so |wait |honestly |be honest )?{_EN_IT} {_EN_IT_THING}{_EN_OR}{_EN_NOW}",
        rf"{_EN_IT} (?:{_EN_THING}|real|automated) or {_EN_IT_THING}{_EN_NOW}",
        rf"{_EN_IT} human(?: or (?:not|{_EN_THING}))?{_EN_NOW}",
        r"(?:who|what) (?:am i|are we) (?:talking|speaking|chatting) (?:to|with)"
        r"(?: right now| here)?",
        r"(?:is there|is anyone|is somebody|is someone) (?:a )?(?:real )?(?:human|person|someone|"
        r"anyone|somebody) (?:on the other end|behind this|behind this chat|there|reading this)",
    ),
    "de": (
        # German: "Spreche ich mit einem Menschen?", "Bist du ein Bot?", "Ist das ein echter
        # Mensch?"
        rf"(?:spreche|rede|chatte|schreibe) ich (?:hier |gerade |jetzt )?mit {_DE_THING}"
        rf"(?: oder (?:mit )?{_DE_THING})?",
        rf"(?:bist du|sind sie|ist das|ist das hier|ist dies) (?:hier |gerade )?{_DE_THING}"
        rf"(?: oder {_DE_THING})?",
    ),
    "fr": (
        # French: "Est-ce que je parle à un humain ?", "Tu es un robot ?", "C'est un bot ?"
        rf"(?:est ce que )?(?:je parle|je discute|je suis en train de parler|je converse"
        rf"|suis je en train de parler|parle je|parlé je) (?:à|a|avec) {_FR_THING}"
        rf"(?: ou (?:à |a |avec )?{_FR_THING})?",
        rf"(?:est ce que )?(?:tu es|vous êtes|vous etes|es tu|êtes vous|etes vous|cest|ceci est)"
        rf" {_FR_THING}(?: ou (?:un |une )?{_FR_THING})?",
    ),
    "es": (
        # Spanish: "¿Estoy hablando con una persona?", "¿Eres un bot?"
        rf"(?:estoy (?:hablando|chateando|conversando|escribiendo)|hablo|converso|chateo) con "
        rf"{_ES_THING}(?: o (?:con )?{_ES_THING})?",
        rf"(?:eres|es usted|usted es|sos|tú eres|tu eres|vos sos|esto es) {_ES_THING}"
        rf"(?: o {_ES_THING})?",
    ),
    "pt": (
        # Portuguese: "Estou falando com uma pessoa?", "Você é um robô?"
        rf"(?:estou (?:falando|conversando)|to falando|tô falando|falo|converso) com {_PT_THING}"
        rf"(?: ou (?:com )?{_PT_THING})?",
        rf"(?:você é|voce é|voce e|você e|vc é|vc e|tu és|tu es|isso é|isso e) {_PT_THING}"
        rf"(?: ou {_PT_THING})?",
    ),
    "it": (
        # Italian: "Sto parlando con una persona reale?", "Sei un bot?"
        rf"(?:sto (?:parlando|chattando|scrivendo)|parlo|chatto) con {_IT_THING}"
        rf"(?: o (?:con )?{_IT_THING})?",
        rf"(?:sei|sei tu|tu sei|lei è|lei e) {_IT_THING}(?: o {_IT_THING})?",
    ),
    "ru": (
        # Russian: "ты бот?", "я говорю \u0441 человеком?"
        rf"(?:ты|вы|это) (?:что )?(?:настоящий )?{_RU_WHAT}(?: или (?:настоящий )?{_RU_WHAT})?",
        rf"(?:я )?(?:говорю|общаюсь|разговариваю|переписываюсь) (?:сейчас )?\u0441 {_RU_WITH}"
        rf"(?: или (?:\u0441 )?{_RU_WITH})?",
    ),
    "ar": (
        # Arabic: "هل أنت روبوت؟", "هل أتحدث مع إنسان؟"
        rf"(?:هل )?(?:أنت|انت|انتي|أنتِ) {_AR_WHAT}(?: حقيقي)?(?: (?:أم|ام|او|أو) {_AR_WHAT})?",
        rf"(?:هل )?(?:أتحدث|اتحدث|أتكلم|اتكلم) (?:مع|إلى|الى) {_AR_WHAT}(?: حقيقي)?",
    ),
    # Hindi, in Devanagari and in Latin letters: "क्या आप बॉट हैं?", "kya aap bot ho"
    "hi": (
        rf"(?:क्या )?(?:आप|तुम|तू|ये|यह) {_HI_THING}(?: {_HI_BE})?(?: (?:या|कि) {_HI_THING}"
        rf"(?: {_HI_BE})?)?(?: क्या)?",
        rf"(?:क्या )?(?:मैं )?(?:किसी )?{_HI_THING} से (?:बात|चैट) कर (?:रहा|रही) (?:हूँ|हूं|हु)"
        r"(?: क्या)?",
        rf"(?:kya )?(?:aap|ap|tum|tu|ye|yeh) {_HIN_THING}(?: {_HIN_BE})?(?: (?:ya|ki) "
        rf"{_HIN_THING}(?: {_HIN_BE})?)?(?: kya)?",
        rf"(?:kya )?(?:main|mai|mein|me) (?:kisi )?{_HIN_THING} se (?:baat|chat) kar "
        r"(?:raha|rahi) (?:hoon|hun|hu|hoo)(?: kya)?",
    ),
}
_LEXICON = Lexicon(_BY_LANGUAGE)
BOT_IDENTITY = _LEXICON.pattern
# Chinese and Japanese write no spaces: the whole message ("你是机器人吗", "あなたはボットですか").
BOT_IDENTITY_UNSPACED = re.compile(
    r"(?:请问|請問)?(?:你|您)是(?:不是)?(?:真人|机器人|機器人|人工智能|ai|bot|人|客服机器人)(?:吗|嗎|还是真人|還是真人)?"
    r"|(?:あなたは)?(?:ボット|ロボット|人間|aiボット|ai|本物の人間|機械)(?:です|なん)?か"
)


def _question(reduced: str) -> str:
    """``reduced`` without a greeting, acknowledgements ("ok. are you a bot?") and filler words
    in front ("hi, are you a bot?")."""
    rest = GREETING.sub(" ", reduced).split()
    while rest:
        if rest[0] in ACKNOWLEDGEMENTS or (rest[0] in FILLER and rest[0] not in ("u", "you", "a")):
            rest.pop(0)
        elif " ".join(rest[:2]) in ACKNOWLEDGEMENTS:  # "got it"
            del rest[:2]
        else:
            break
    return " ".join(rest)


@short_text_cache(512)  # a turn asks it of the same message's sentences many times
def asks_if_a_bot(reduced: str) -> bool:
    """Whether ``reduced`` (the message through ``courtesy.words``) is nothing but a visitor
    asking whether a bot or a person answers."""
    question = _question(reduced)
    return bool(BOT_IDENTITY.fullmatch(question) or BOT_IDENTITY_UNSPACED.fullmatch(question))


def identity_language(text: str) -> str | None:
    """The language ("en", "de", ...) ``text`` asks whether a bot answers in, when it asks
    that: alone ("sos un bot?") or in its first sentences ("Bist du ein Bot? What are your
    hours?"); None for any other message. A phrase of the lexicon inside another message is
    no such question ("Does the SOS robot come in blue?" was Spanish by "sos robot")."""
    reduced = words(text)
    if not asks_if_a_bot(reduced):
        cut = _split(text)
        if cut is None:
            return None
        reduced = words(cut[0])
    return _LEXICON.language_of_whole(_question(reduced))


# Where a visitor's sentence ends: "?", "!" or "." (and their full-width forms), or a line.
_SENTENCE_END = re.compile(r"[?!.\uff1f\uff01\u3002\u061f\u0964]+\s*|\n+")
_AFTERTHOUGHT = frozenset(
    {"lol", "haha", "hahaha", "hmm", "just", "curious", "asking", "wondering"}
    | {"what", "wat", "huh", "eh", "really", "seriously", "wait", "why", "sure", "right"}
)
"""Words after the question that ask nothing more ("are you a bot? lol", "are you a bot?
what?": that was looked up as a question, "I don't know", and listed as unanswered)."""


@short_text_cache(1024)  # the intents, the question and the language each cut the message
def _split(text: str) -> tuple[str, str] | None:
    """``text`` cut after its first sentences (a greeting's among them: "hi! are you a bot?")
    that ask whether a bot answers, and what follows; None when no such sentences start it.
    The most sentences that do: "are you real? or a bot?" is one question (cut after "are you
    real?", "or a bot?" was answered as a question of its own)."""
    cut = _cut(text, 0, len(text))
    if cut is None:
        return None
    return text[: cut[0]], text[cut[1] :].strip()


def _cut(text: str, start: int, end: int) -> tuple[int, int] | None:
    """``_split`` of ``text[start:end]`` as positions in ``text``: where the question's
    sentences end and where what follows starts. It reads the first three sentences only."""
    cut = None
    for n, found in enumerate(_SENTENCE_END.finditer(text, start, end)):
        if n == 3:
            break
        if asks_if_a_bot(words(text[start : found.start()])):
            cut = found.start(), found.end()
    return cut


def asks_only_if_a_bot(text: str) -> bool:
    """The visitor asks whether a bot answers and nothing more, in one sentence or with
    courtesy after it ("are you a bot? thanks", "are you real? lol")."""
    if asks_if_a_bot(words(text)):
        return True
    cut = _cut(text, 0, len(text))
    return cut is not None and _nothing_more(text, cut[1])


_RESTS_READ = 8
"""How many rests of a run of questions ``_nothing_more`` reads whole at each end of the run:
the first ones as it walks, the last ones once it has walked to the end."""


def _nothing_more(text: str, start: int) -> bool:
    """What follows the question (``text[start:]``) asks nothing else: courtesy, or the same
    question again in other words ("are you human? are you a bot?", which was looked up as a
    question), as often as the visitor asks it.

    Walked question by question, each reading its own sentences: a rest read whole at each
    question ("أتكلم مع موظف ? " repeated to the message limit) cost time quadratic in the
    message, and a recursion per question overflowed Python's stack past about 8,000
    characters. Only the first ``_RESTS_READ`` rests and the last ``_RESTS_READ`` are read
    whole (at most twice that many times the message: linear). The last ones matter: one
    question of more than the three sentences ``_cut`` reads ("are you a bot? or... a real...
    human?") is found whole only in the rest it starts, and it ends the message; read only in
    the first eight, it was one question after nine ("or... a real... human?" then asked for a
    person: handed off). A rest in the middle holds eight questions more after its first, each
    a sentence or three that asks on its own: no one question, nor courtesy only."""
    end, n = len(text.rstrip()), 0
    skipped: deque[int] = deque(maxlen=_RESTS_READ)  # the latest starts not read whole
    while True:
        while start < end and text[start].isspace():
            start += 1
        cut = _cut(text, start, end)
        if n < _RESTS_READ or cut is None:
            if _asks_nothing_else(words(text[start:end])):
                return True
        else:
            skipped.append(start)
        if cut is None:
            return any(_asks_nothing_else(words(text[at:end])) for at in skipped)
        start, n = cut[1], n + 1


def _asks_nothing_else(rest: str) -> bool:
    """A rest (reduced) that is courtesy only or the question again."""
    # Greetings taken out first, then thanks and goodbyes ("have a good day" leaves "have a").
    courtesy = courtesy_only(rest, (GREETING, THANKS, GOODBYE), besides=_AFTERTHOUGHT)
    return courtesy or asks_if_a_bot(rest)


def identity_then_question(text: str) -> str | None:
    """The rest of a message whose first sentences are nothing but the visitor asking whether
    a bot answers and whose rest asks something else ("are you a bot? what are your opening
    hours?"): "what are your opening hours?", the question to answer (the bot says what it is
    before the answer). None for any other message, one asking only that included."""
    cut = _cut(text, 0, len(text))
    if cut is None or _nothing_more(text, cut[1]):
        return None
    return text[cut[1] :].strip()


__all__ = [
    "BOT_IDENTITY",
    "asks_if_a_bot",
    "asks_only_if_a_bot",
    "identity_language",
    "identity_then_question",
]

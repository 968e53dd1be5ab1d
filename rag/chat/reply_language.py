"""The language a visitor wrote in, for the bot's canned replies (``rag.chat.translations``):
one of the languages the intents are recognised in besides English, or None (English).

- Its script, for most of its letters: Devanagari is Hindi, Cyrillic Russian, Arabic Arabic,
  Japanese kana Japanese, Chinese characters without kana Chinese; but a letter or a short word
  of a language that shares the script and is not it (Ukrainian "дякую" and its own letters;
  Persian and Urdu letters: peh, keheh; Marathi "आहे" and its letter lla; Nepali "हुन्छ", and
  "छ" ending a clause) tells English (``_NEIGHBOURS``): a reply in a neighbour's language is
  worse.
- In Latin letters: the lexicon that recognised the request (a request for a person,
  ``rag.chat.human_languages``; asking whether a bot answers, ``rag.chat.bot_identity``; a demo
  or a quote, ``rag.chat.lead_languages``), else
  the language of most of its common short words ("meine", "ist", "bitte"), at least two and
  more than of any other language or of English, each counted once, names and abbreviations
  left out ("SOS", "Mac OS", "Las Vegas": ``_counted``). A lexicon tells only by the whole
  request: "Does the SOS robot come in blue?" holds "sos robot" ("sos": the Argentine "you
  are") and is English. Hindi in Latin letters ("kya aap madad kar sakte ho") is ``hi-Latn``,
  answered in Latin letters too (its own short words, "kya", "ye", "kab", outweigh the English
  nouns it borrows: "kya ye product in stock hai?").

A message that tells nothing ("😡", "jane@example.com", "ok") takes the language of the visitor's
earlier messages in the conversation (``conversation_language``); when none tells one either, a
message of nothing but a greeting, thanks or goodbye only one language says ("Danke!", "Hola",
"merci") tells it (``_courtesy_language``)."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from typing import Final, Literal, cast, get_args

from core.text import short_text_cache
from rag.chat.bot_identity import identity_language
from rag.chat.courtesy import Lexicon, words
from rag.chat.human_languages import person_language
from rag.chat.intents import COURTESY, detect_intent
from rag.chat.lead_languages import SALES_ELSEWHERE
from rag.chat.lead_phrases import LEAD
from rag.chat.number_first import GIVEN_FIRST

Language = Literal["de", "fr", "es", "pt", "it", "hi", "hi-Latn", "ru", "ar", "zh", "ja"]
"""``hi-Latn``: Hindi in Latin letters ("kya aap madad kar sakte ho"), answered so."""
LANGUAGES: frozenset[str] = frozenset(get_args(Language))
_LATIN: frozenset[str] = frozenset({"de", "fr", "es", "pt", "it", "hi-Latn"})

_SCRIPTS = (
    ("DEVANAGARI", "hi"),
    ("CYRILLIC", "ru"),
    ("ARABIC", "ar"),
    ("HIRAGANA", "ja"),
    ("KATAKANA", "ja"),
    ("CJK UNIFIED", "zh"),
    ("LATIN", "latin"),
)


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split(" "))


# Short words common in each language and rare in the others. English lists the words it
# shares with another language's list too ("was", "die", "come", "per", "pour", "um", "in"):
# counted for both, they make no English message German or Italian ("Die Hard box set, was it in
# stock?"), and a German or Italian message still has more of its own ("Vorrei sapere se il
# prodotto è in stock"). A few words of shopping ("stock", "shipping") outweigh a name's
# articles in an English message ("los angeles to las vegas shipping?", "la vie est belle in
# stock?" were Spanish and French).
_COMMON: dict[str, frozenset[str]] = {
    "en": _words(
        "i you the is are my me to and what how can do does please your it this of for "
        "with not have want was die come per pour um we that there from about would "
        "could should get need order where when why which who just but if has had been "
        "thanks hello hi help know its dont cant in stock shipping"
    ),
    "de": _words(
        "ich du sie ist bist nicht mit und meine mein bitte ein eine einem einen der die "
        "das wie was kann können möchte haben sind für mich mir uns wir ihr ihre ihnen "
        "hallo danke gibt noch auch sich oder bei zu in"
    ),
    "fr": _words(
        "je tu vous est suis êtes le la les des du pour avec mon ma mes votre bonjour "
        "merci pas ne et cest quelquun oui qui quoi au aux est ce jai"
    ),
    "es": _words(
        "yo usted eres soy el los las del por para mi mis hola gracias qué cómo quiero "
        "puedo hablar está estoy pero muy sí tengo necesito sos vos"
    ),
    "pt": _words(
        "eu você voce sou um os do da dos das meu minha olá obrigado obrigada não nao "
        "quero falar estou mas tenho preciso"
    ),
    "it": _words(
        "io sei sono il gli della per mio mia ciao grazie vorrei parlare sto che come ho devo in"
    ),
    "hi-Latn": _words(
        "kya aap hai hain mujhe mera meri mere karna karni karo sakte sakta sakti chahiye nahi "
        "nahin kaise kyun kyon kahan madad batao bataiye kripya hoga tha thi raha rahi kuch "
        "abhi accha theek haan apna apni shukriya dhanyavaad ye yeh kab kitna kitne kitni "
        "milega milegi milenge aayega aayegi hoga hogi ka ki ke ko aur bhi koi wala wali wale liye"
    ),
}


# Greetings, thanks and goodbyes of the intents' lexicon (``rag.chat.courtesy``) that only one of
# the languages says ("ciao", "hallo", "ola" are said in several, English included): a message
# of nothing but courtesy ("Danke!", "Hola") tells its language by them, when no message of the
# conversation tells one otherwise ("merci" after German is Swiss German, not French).
_COURTESY = Lexicon(
    {
        "de": (
            r"danke",
            r"vielen dank",
            r"tsch(?:ü|u|ue)ss",
            r"guten (?:tag|morgen|abend)",
            r"servus",
            r"moin",
            r"auf wiedersehen",
            r"bis (?:bald|später|spater|dann)",
            r"sch[öo]nen tag",
        ),
        "fr": (r"merci", r"bonjour", r"bonsoir", r"salut", r"au revoir", r"bient[oô]t", r"bonne"),
        "es": (r"gracias", r"hola", r"adi[oó]s", r"buen[oa]s", r"hasta"),
        "pt": (
            r"obrigad[oa]",
            r"olá",
            r"bom dia",
            r"boa (?:tarde|noite)",
            r"tchau",
            r"at[eé] (?:logo|mais)",
        ),
        "it": (
            r"grazie",
            r"buon ?giorno",
            r"buona ?sera",
            r"buona",
            r"salve",
            r"arrivederci",
            r"a presto",
        ),
        "hi-Latn": (
            r"shukriya",
            r"dhanyava?wa?d",
            r"dhanyavaad",
            r"namaste",
            r"namaskar",
            r"alvida",
        ),
    }
)


_ASCII_LETTER = re.compile("[A-Za-z]")


def _script(text: str) -> str | None:
    """The language of most of ``text``'s letters by script ("latin" for Latin letters)."""
    if text.isascii():  # every letter a Latin one, told without looking up its name
        return "latin" if _ASCII_LETTER.search(text) else None
    return _script_by_names(text)


def _script_by_names(text: str) -> str | None:
    """``_script`` of any text, each letter's script told by its Unicode name: each distinct
    character looked up once (counted in one pass in C), so a long run of one sign or letter
    costs what a short one does."""
    counts: Counter[str] = Counter()
    for ch, times in Counter(text).items():  # in the order they first come, as ties need
        if not ch.isalpha():
            continue
        name = unicodedata.name(ch, "")
        script = next((lang for prefix, lang in _SCRIPTS if name.startswith(prefix)), "other")
        counts[script] += times
    if not counts:
        return None
    if counts["ja"] and counts["zh"]:  # kanji among kana: Japanese
        counts["ja"] += counts.pop("zh")
    return counts.most_common(1)[0][0]


_RUN = re.compile(r"\S+")


def _no_address(run: re.Match[str]) -> str:
    word = run.group(0)
    return " " if "@" in word[1:-1] else word


def without_addresses(text: str) -> str:
    """``text`` with each address (a run without spaces holding an ``@`` with a character on
    each side of it) as one space. One pass over the runs: the pattern ``\\S+@\\S+`` did the
    same, but was tried from every character of a run and scanned to its end each time, so a
    message of one letter repeated (a visitor's 5,000-character lead form) held the event loop
    for a second, its time growing with the square of the length. Without an ``@``, the text
    as it is (no call a run: "¡¿ " x 4,000 costs what "¡¿ " does)."""
    return _RUN.sub(_no_address, text) if "@" in text else text


_NEIGHBOURS: Final = {
    # Ukrainian i, yi, ye, ghe with upturn; Belarusian short u; Serbian and Macedonian je, lje,
    # nje, tshe, dje, gje, kje, dze, dzhe.
    "ru": re.compile(
        "[\u0456\u0457\u0454\u0491\u045e\u0458\u0459\u045a\u045b\u0452\u0453\u045c\u0455\u045f]",
        re.IGNORECASE,
    ),
    # Marathi: lla (Hindi writes no such letter).
    "hi": re.compile("\u0933"),
    # Persian and Urdu: peh, tcheh, jeh, gaf, keheh, Farsi yeh; Urdu's tteh, ddal, rreh, noon
    # ghunna, heh goal, heh doachashmee, yeh barree.
    "ar": re.compile(
        "[\u067e\u0686\u0698\u06af\u06a9\u06cc\u0679\u0688\u0691\u06ba\u06c1\u06be\u06d2]"
    ),
}
"""Letters of the languages that share a script with one answered (Hindi, Russian, Arabic) but are
not it: a message with one is told English (``_told``), since a reply in the neighbour's language
is worse than one in English (a Ukrainian visitor got the Russian replies)."""
_NEIGHBOUR_WORDS: Final = (
    _words(
        "дякую це чи що ви мені будь ласка вже якщо цей ця який яка вибачте привіт"  # Ukrainian
        " мене з людиною поговорити говорити"
    )
    | _words("какво моля здравейте със сте")  # Bulgarian
    | _words(
        "आहे आहेत नाही काय मला तुम्ही आम्ही माझा माझी माझे तुमचा तुमची तुमचे आपण हवी हवे पाहिजे कधी "
        "किती कसा कशी कसे"  # Marathi
    )
    | _words(
        "छन् छैन मलाई तपाईं तपाई तपाईंको हुन्छ गर्न गर्नुहोस् चाहन्छु चाहिन्छ कति भयो यो मेरो "
        "हाम्रो कहिले कसरी कुन पर्छ सक्छ गर्छ हुनुहुन्छ थियो"
    )
)  # Nepali
"""Short words of Ukrainian and Bulgarian written only in letters Russian has ("Дякую, це
все") that Russian never writes; of Marathi and Nepali ("मला मदत हवी आहे") that Hindi never
writes ("है", "नहीं", "क्या" are Hindi's)."""
_NEPALI_IS: Final = re.compile(r"(?<!\S)\u091b(?=\s*(?:[\u0964\u0965?!.,;:\uff1f]|$))")
"""Nepali's "छ" ("is"), where Nepali puts it: at the end of a clause ("यो सामान स्टकमा छ?").
Elsewhere it is Hindi's "six" as often ("छ महीने की वारंटी"): a word of one letter does not
tell the two apart by itself."""


_OWN_WORDS: Final = {
    "hi": _words(
        "है हैं हूँ हूं क्या नहीं नही मुझे मैं मेरा मेरी मेरे चाहिए में से और यह आप हम था थे थी होगा "
        "होगी मिलेगा मिलेगी मिलेंगे कितना कितने कितनी कैसे क्यों सकते सकता सकती"
    ),
}
"""Short words only the answered language writes (Hindi: neither Marathi nor Nepali says
"है", "क्या", "मुझे"): a message with one is that language, whatever word it shares with a
neighbour (the Nepali "मलाई", "to me", is the Hindi "मलाई", cream: "क्या मलाई कोफ्ता मिलेगा?";
Mumbai's Hindi says "काय"). A neighbour's letter (Marathi's lla) still tells English."""


def _neighbours(script: str, text: str) -> bool:
    """Whether ``text``, mostly in ``script``, is in a neighbour's language (``_NEIGHBOURS``)."""
    if _NEIGHBOURS[script].search(text):
        return True
    said = set(words(text).split())
    told = bool(_NEIGHBOUR_WORDS & said) or (script == "hi" and _NEPALI_IS.search(text) is not None)
    return told and not _OWN_WORDS.get(script, frozenset()) & said


def visitor_language(text: str) -> Language | None:
    """The language ``text`` is written in, when it is one of ``Language``; None for English or
    when it cannot be told."""
    told = _told(text)
    return None if told == _ENGLISH else told


_ENGLISH: Final = "en"


@short_text_cache(512)
def _told(text: str) -> Language | Literal["en"] | None:
    """``visitor_language``, or ``"en"`` when a lexicon recognised the request in English or
    most common words are English. Cached: a turn asks it of the same message more than once
    (the failed-model reply is prepared for the request and again for the record)."""
    script = _script(without_addresses(text))
    if script in _NEIGHBOURS and _neighbours(script, text):
        return _ENGLISH  # Ukrainian is no Russian, Persian and Urdu no Arabic
    if script in LANGUAGES:
        return cast(Language, script)
    if script != "latin":
        return None
    text = without_addresses(text)
    reduced = words(text)
    for found in (
        person_language(reduced),
        identity_language(text),
        _sales_language(reduced, text),
        GIVEN_FIRST.language_of(reduced),  # "612 345 678 es mi número"
    ):
        found = "hi-Latn" if found == "hi" else found  # Devanagari is told by its script
        if found is not None:
            return cast(Language, found) if found in _LATIN else _ENGLISH
    counted = _counted(text)
    counts = Counter({lang: len(counted & common) for lang, common in _COMMON.items()})
    (best, top), *rest = counts.most_common()
    if top < 2 or (rest and rest[0][1] >= top):
        return _ENGLISH if _english(text) else None
    return _ENGLISH if best == "en" else cast(Language, best)


def _sales_language(reduced: str, text: str) -> str | None:
    """The language of a sales request (``SALES_ELSEWHERE``) in Latin letters. A phrase other
    languages write too is told by the message's common words (``_COMMON``) among the
    languages holding it and English: "enterprise plan" is a German phrase as well
    ("Enterprise-Plan"), "plan enterprise" a French and a Spanish one, and "How much is the
    enterprise plan?" got the German replies, "Combien coûte le plan enterprise ?" the Spanish
    ones. When the words tell none, English if its own lead phrases hold the request
    (``lead_phrases.LEAD``: "enterprise plan" alone), else the first language holding it."""
    holding = list(dict.fromkeys(language for language, _ in SALES_ELSEWHERE.found(reduced)))
    if not holding:
        return None
    candidates = [_ENGLISH, *("hi-Latn" if lang == "hi" else lang for lang in holding)]
    counted = _counted(text)
    counts = Counter({lang: len(counted & _COMMON.get(lang, frozenset())) for lang in candidates})
    (best, top), *rest = counts.most_common()
    if top >= 1 and not (rest and rest[0][1] >= top):
        return best
    return _ENGLISH if LEAD.search(reduced) else holding[0]


_SENTENCE = re.compile(r"[.!?;:\n\u00a1\u00bf\uff01\uff1f\u3002]")
_FORMAL: Final = frozenset({"sie", "ihr", "ihre", "ihrem", "ihren", "ihrer", "ihnen"})
"""The German "you", capitalised inside a sentence as no name is."""


def _counted(text: str) -> frozenset[str]:
    """The words of ``text`` (as ``courtesy.words`` reduces them) that tell its language, each
    once ("la la land" is no French): not the names and abbreviations English writes with
    another language's short words ("SOS", "EST", "Mac OS", "Las Vegas", "open Mon-Fri"): in a
    message with a word in small letters (not one all in capitals or title case), a word in
    capitals, or a capitalised word inside a sentence beside another capitalised word (the
    German "Sie", "Ihre" excepted)."""
    small = any(w[0].islower() for w in words(text, fold=False).split())
    kept: set[str] = set()
    for sentence in _SENTENCE.split(text):
        tokens = words(sentence, fold=False).split()
        capital = [small and t[0].isupper() and t.casefold() not in _FORMAL for t in tokens]
        for i, token in enumerate(tokens):
            abbreviation = small and len(token) > 1 and token.isupper()
            beside = (i > 1 and capital[i - 1]) or (i + 1 < len(tokens) and capital[i + 1])
            if not abbreviation and not (i > 0 and capital[i] and beside):
                kept.add(token.casefold())
    return frozenset(kept)


def conversation_language(message: str, history: Iterable[tuple[str, str]]) -> Language | None:
    """The language of ``message``, else of the visitor's latest earlier message that tells
    one, English included (``history``: (role, text), oldest first): a visitor who wrote
    German, then switched to English, is answered in English (the English messages were
    skipped, and "human please" got the German hand-off), and "r u a bot?", recognised as
    English, is answered in English whatever came before. When no message tells a language,
    the latest with a courtesy word only one language says ("Danke!", "Hola") tells it: one
    word flips no conversation ("merci" after German messages is answered in German)."""
    earlier = [text for role, text in reversed(tuple(history)) if role == "user"]
    for text in (message, *earlier):
        told = _told(text)
        if told is not None:
            return None if told == _ENGLISH else told
    for text in (message, *earlier):
        found = _courtesy_language(text)
        if found is not None:
            return cast(Language, found)
    return None


def _courtesy_language(text: str) -> str | None:
    """The language of a greeting, thanks or goodbye (as the intents tell them: "Danke!",
    "Hola, buenos días", "bahut dhanyavaad") by its words only one language says
    (``_COURTESY``); None for any other message: such a word inside a question is a name
    ("Delivery to Buenos Aires?", "Bonne Maman jam?", "lip salve price?" turned the next
    "thanks" Spanish, French, Italian)."""
    if detect_intent(text).intent not in COURTESY:
        return None
    return _COURTESY.language_of(words(text))


_ENGLISH_ONLY: Final = _COMMON["en"].difference(
    *(common for lang, common in _COMMON.items() if lang != "en")
)
"""English's common words no other language's list has: "in", "die", "come", "per" tell
nothing when the counts tie ("Versand in die Schweiz?", "Come posso pagare in contanti?" were
told English, and a German or Italian conversation got English replies)."""


def _english(message: str) -> bool:
    """Whether ``message`` holds a few words only English has (``_ENGLISH_ONLY``): English,
    whatever the visitor wrote before."""
    reduced = words(without_addresses(message)).split()
    return sum(w in _ENGLISH_ONLY for w in reduced) >= 2

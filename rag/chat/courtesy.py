"""The courtesy lexicon of intent detection: text reduced to its words (``words``), word-bounded
alternations (``phrases``), and the greetings, thanks, acknowledgements, goodbyes and filler
words a message may hold and still be nothing but courtesy (``rag.chat.intents``); a text
without them (``without_courtesy``), or nothing but them (``courtesy_only``)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

from core.text import short_text_cache

# Apostrophes, and the variation selectors that only pick an emoji's style ("❤️").
_APOSTROPHES = str.maketrans("", "", "'\u2018\u2019\u02bc\u0060\u00b4\ufe0e\ufe0f")


_NOT_ASCII_WORD = re.compile(r"[^0-9A-Za-z]+")
"""What is no letter or digit in ASCII text: NFKC leaves ASCII as it is, and its letters and
digits are its only characters of categories L, M and N."""


@short_text_cache(1024)
def words(text: str, *, fold: bool = True) -> str:
    """NFKC + casefold (unless not ``fold``), apostrophes and variation selectors dropped,
    everything but letters/marks/digits to one space. A turn reduces the same message and its
    sentences many times (intents, language, the bot question): cached."""
    if text.isascii():  # the same result without a Unicode lookup per character
        folded = (text.lower() if fold else text).translate(_APOSTROPHES)
        return _NOT_ASCII_WORD.sub(" ", folded).strip()
    return _unicode_words(text, fold=fold)


def _unicode_words(text: str, *, fold: bool) -> str:
    """``words`` of any text, each distinct character's category looked up once (a long run
    of one sign costs what a short one does)."""
    folded = unicodedata.normalize("NFKC", text)
    folded = folded.casefold() if fold else folded
    table: dict[int, str | None] = {
        ord(ch): None if ord(ch) in _APOSTROPHES else " "  # dropped, else a space
        for ch in set(folded)
        if ord(ch) in _APOSTROPHES or unicodedata.category(ch)[0] not in "LMN"
    }
    return " ".join(folded.translate(table).split())


def phrases(*patterns: str) -> re.Pattern[str]:
    """Alternation of patterns bounded by spaces (the text is already reduced by ``words``)."""
    ordered = sorted(patterns, key=len, reverse=True)
    return re.compile(r"(?<!\S)(?:" + "|".join(ordered) + r")(?!\S)")


class Lexicon:
    """Phrases by language (``phrases`` each): ``pattern``, all of them; ``language_of``, the
    first language (in the order given) with a phrase in a text; ``language_of_whole``, the
    first one with a phrase that is the whole text."""

    def __init__(self, by_language: dict[str, tuple[str, ...]]) -> None:
        self.pattern = phrases(*(p for patterns in by_language.values() for p in patterns))
        self._each = {language: phrases(*patterns) for language, patterns in by_language.items()}

    def found(self, reduced: str) -> Iterator[tuple[str, re.Match[str]]]:
        """Every phrase found in ``reduced``, with its language (language by language)."""
        if self.pattern.search(reduced) is None:  # none of any language: no language's either
            return
        for language, each in self._each.items():
            for match in each.finditer(reduced):
                yield language, match

    def language_of(self, reduced: str) -> str | None:
        return next((lang for lang, each in self._each.items() if each.search(reduced)), None)

    def language_of_whole(self, reduced: str) -> str | None:
        return next((lang for lang, each in self._each.items() if each.fullmatch(reduced)), None)


GREETING = phrases(
    r"h+i+",
    r"hi+ya",
    r"he+y+",
    r"hey+a",
    r"hel+o+",
    r"hal+o+",
    r"howdy",
    r"yo",
    r"greetings",
    r"good (?:morning|afternoon|evening|day)",
    r"morning",
    r"how (?:are|r) (?:you|u|ya)(?: doing| today)*",
    r"how (?:is|s) it going",
    r"hows it going",
    r"whats? up",
    r"sup",
    r"nice to meet you",
    # a little multilingual courtesy
    r"namaste",
    r"namaskar",
    r"नमस्ते",
    r"hola",
    r"bonjour",
    r"salut",
    r"ciao",
    r"hallo",
    r"guten (?:tag|morgen|abend)",
    r"servus",
    r"moin",
    r"bonsoir",
    r"buen[oa]s(?: d[ií]as| tardes| noches)?",
    r"ola",
    r"olá",
    r"bom dia",
    r"boa (?:tarde|noite)",
    r"buon ?giorno",
    r"buona ?sera",
    r"salve",
    r"salaam",
    r"salam",
    r"as?salamu? (?:alaikum|alaykum)",
    # in their own scripts: Arabic, Chinese, Japanese, Russian, Hindi (Arabic with or without
    # its tanwin; Chinese and Japanese have no spaces, so a phrase is the whole run)
    "\u0645\u0631\u062d\u0628\u0627\u064b?",  # marhaban
    # ahlan (wa sahlan)
    "[\u0623\u0627]\u0647\u0644\u0627\u064b?(?: \u0648\u0633\u0647\u0644\u0627\u064b?)?",
    "\u0627\u0644\u0633\u0644\u0627\u0645 \u0639\u0644\u064a\u0643\u0645",  # as-salamu alaykum
    "\u0633\u0644\u0627\u0645",  # salam
    "\u4f60\u597d(?:\u5417|\u554a|\u5440)?",  # ni hao (ma)
    "\u60a8\u597d",  # nin hao
    "\u5927\u5bb6\u597d",  # dajia hao
    "\u55e8",  # hai
    "\u3053\u3093\u306b\u3061\u306f",  # konnichiwa
    "\u3053\u3093\u3070\u3093\u306f",  # konbanwa
    "\u304a\u306f\u3088\u3046(?:\u3054\u3056\u3044\u307e\u3059)?",  # ohayou (gozaimasu)
    "\u043f\u0440\u0438\u0432\u0435\u0442",  # privet
    # zdravstvuy(te)
    "\u0437\u0434\u0440\u0430\u0432\u0441\u0442\u0432\u0443\u0439(?:\u0442\u0435)?",
    # dobryy den / vecher, dobroye utro
    "\u0434\u043e\u0431\u0440\u044b\u0439 \u0434\u0435\u043d\u044c",
    "\u0434\u043e\u0431\u0440\u044b\u0439 \u0432\u0435\u0447\u0435\u0440",
    "\u0434\u043e\u0431\u0440\u043e\u0435 \u0443\u0442\u0440\u043e",
    # kak dela (how are things); "kak ty" / "kak vy" only alone (ASKING_GREETING_ALONE)
    "\u043a\u0430\u043a \u0434\u0435\u043b\u0430",
    "\u0928\u092e\u0938\u094d\u0915\u093e\u0930",  # namaskar
)

# "kak ty" / "kak vy" (how are you), "kak pozhivayete / pozhivayesh" (how are you doing), and
# how are you in the other languages of the call phrases ("comment ça va", "wie geht's", "como
# vai", "come stai", "qué tal", "كيف حالك", "aap kaise hain"): a greeting only as everything a
# message or a clause holds besides greetings. They also start questions ("kak vy dostavlyayete",
# how do you deliver; "comment ça va marcher", "wie geht es weiter"), so they are no phrase of
# GREETING.
ASKING_GREETING_ALONE = re.compile(
    "(?:"
    "\u043a\u0430\u043a (?:\u0442\u044b|\u0432\u044b)"
    "(?: \u043f\u043e\u0436\u0438\u0432\u0430\u0435(?:\u0442\u0435|\u0448\u044c))?"
    r"|how (?:are|r) things(?: going)?|hows things|how have you been|how do you do"
    r"|(?:comment )?(?:ça|ca) va|comment allez vous|comment vas tu"
    r"|wie gehts(?: (?:dir|ihnen|euch))?|wie geht es (?:dir|ihnen|euch)"
    r"|(?:cómo|como) (?:vai|estás|estas|está|esta|te va|le va)"
    r"(?: (?:você|voce|usted|tu|o senhor|a senhora))?|tudo bem|tudo bom|(?:qué|que) tal"
    r"|come (?:stai|sta|state|va)"
    "|\u0643\u064a\u0641 (?:\u062d\u0627\u0644\u0643(?:\u0645)?|\u0627\u0644\u062d\u0627\u0644)"
    r"|(?:(?:aap|tum) )?kaise (?:ho|hain|hai)"
    "|(?:(?:\u0906\u092a|\u0924\u0941\u092e) )?\u0915\u0948\u0938\u0947"
    " (?:\u0939\u094b|\u0939\u0948\u0902|\u0939\u0948)"
    ")"
)

THANKS = phrases(
    r"thanks?",
    r"thanks? (?:you|u|ya)",
    r"thank you (?:so|very) much",
    r"thanks? (?:so|very) much",
    r"many thanks",
    r"thx",
    r"thnx",
    r"thanx",
    r"tnx",
    r"ty",
    r"tysm",
    r"tyvm",
    r"cheers",
    r"much appreciated",
    r"(?:i )?(?:really )?appreciate (?:it|that|your help|the help)",
    r"(?:that|this|it) (?:was|is)? ?(?:very |really |super )?(?:helpful|useful)",
    r"(?:that|this|it) helps?(?: a lot)?",
    r"for (?:the|your|all the|all your) (?:help|info|information|answer|reply|response|assistance)",
    # acknowledgements, handled as thanks with lower confidence
    r"ok(?:ay)?",
    r"k",
    r"great",
    r"cool",
    r"perfect",
    r"awesome",
    r"nice",
    r"got it",
    r"understood",
    r"merci(?: beaucoup)?",
    r"(?:muchas )?gracias",
    r"danke(?: schön| schon| sehr)?",
    r"vielen dank",
    r"obrigad[oa]",
    r"grazie(?: mille)?",
    r"dhanyava?wa?d",
    r"dhanyavaad",
    r"धन्यवाद",
    r"shukriya",
    r"arigato",
    # shukran (jazilan)
    "\u0634\u0643\u0631\u0627\u064b?(?: \u062c\u0632\u064a\u0644\u0627\u064b?)?",
    "\u0645\u0634\u0643\u0648\u0631",  # mashkur
    "\u8c22\u8c22(?:\u4f60|\u60a8)?",  # xiexie (ni)
    "\u591a\u8c22",  # duoxie
    "\u611f\u8c22(?:\u4f60|\u60a8)?",  # ganxie
    "\u3042\u308a\u304c\u3068\u3046(?:\u3054\u3056\u3044\u307e\u3059)?",  # arigatou (gozaimasu)
    # spasibo (bolshoye)
    "\u0441\u043f\u0430\u0441\u0438\u0431\u043e(?: \u0431\u043e\u043b\u044c\u0448\u043e\u0435)?",
    "\u0431\u043b\u0430\u0433\u043e\u0434\u0430\u0440\u044e",  # blagodaryu
    "\u0936\u0941\u0915\u094d\u0930\u093f\u092f\u093e",  # shukriya
)

ACKNOWLEDGEMENTS = frozenset(
    {"ok", "okay", "k", "great", "cool", "perfect", "awesome", "nice", "got it", "understood"}
)

GOODBYE = phrases(
    r"bye+",
    r"bye bye",
    r"good ?bye",
    r"see (?:you|ya|u)(?: later| soon| around)?",
    r"cya",
    r"later",
    r"take care",
    r"ttyl",
    r"have an? (?:good|nice|great|wonderful) (?:day|night|evening|weekend|one)",
    r"good night",
    r"gn",
    r"(?:that|this) (?:is|s) (?:all|it)(?: for now| for today)?",
    r"thats (?:all|it)(?: for now| for today)?",
    r"i am done",
    r"im done",
    # closing the chat after "Is there anything else I can help you with?"
    r"(?:(?:i ll|ill|i will) )?talk to (?:you|u|ya) (?:later|soon)",
    r"ttys",
    r"(?:im|i am) (?:all )?(?:good|set|fine)(?: for now)?",
    r"all (?:good|set)",
    r"nothing else",
    r"adi[oó]s",
    r"hasta (?:luego|pronto|mañana|manana)",
    r"au revoir",
    r"[aà] bient[oô]t",
    r"bonne (?:journ[eé]e|soir[eé]e)",
    r"tsch(?:ü|u|ue)ss",
    r"auf wiedersehen",
    r"bis (?:bald|später|spater|dann)",
    r"sch[öo]nen tag(?: noch)?",
    r"tchau",
    r"at[eé] (?:logo|mais)",
    r"arrivederci",
    r"a presto",
    r"buona (?:giornata|serata)",
    r"alvida",
    "\u0645\u0639 \u0627\u0644\u0633\u0644\u0627\u0645\u0629",  # ma'a as-salama
    "\u518d\u89c1",  # zaijian
    "\u3055\u3088\u3046\u306a\u3089",  # sayounara
    "\u043f\u043e\u043a\u0430",  # poka
    "\u0434\u043e \u0441\u0432\u0438\u0434\u0430\u043d\u0438\u044f",  # do svidaniya
    "\u0905\u0932\u0935\u093f\u0926\u093e",  # alvida
)

# A message of nothing but these emoji (skin tones and variation selectors aside) thanks, or
# acknowledges, like "ok"; a waving hand alone greets.
THANKS_EMOJI = frozenset(
    "\U0001f44d\U0001f64f\U0001f44c\u2764\u2665\U0001f60a\U0001f642\U0001f600\U0001f603"
    "\U0001f604\U0001f601\u2705\u2714\U0001f44f\U0001f4af\U0001f64c\U0001f970\U0001f60d"
    "\U0001f499\U0001f49a\U0001f49b\U0001f49c\U0001f9e1\U0001f91d\u263a\U0001f917"
)
GREETING_EMOJI = frozenset("\U0001f44b")
DECLINING = frozenset({"no", "nope", "nah"})
"""A visitor's "no" to "Is there anything else I can help you with?": alone ("no", "nope"), or
with courtesy ("no thanks, I'm good"), it closes the chat; with content it is content."""

# Words that may go with pure courtesy without carrying content ("hello there", "thanks a lot").
FILLER = frozenset(
    {
        "there",
        "so",
        "very",
        "much",
        "a",
        "lot",
        "lots",
        "again",
        "you",
        "u",
        "all",
        "everyone",
        "everybody",
        "guys",
        "folks",
        "team",
        "bot",
        "friend",
        "buddy",
        "mate",
        "dear",
        "sir",
        "madam",
        "please",
        "pls",
        "plz",
        "and",
        "oh",
        "well",
        "just",
        "really",
        "then",
        "now",
        "too",
        "also",
        "once",
        "more",
        "for",
        "today",
        "ji",
    }
)

# First words that make a message a question (or a request) rather than courtesy.
# fmt: off
QUESTION_STARTERS = frozenset({
    "how", "what", "whats", "why", "when", "where", "who", "whom", "which", "whose", "can",
    "could", "do", "does", "did", "is", "are", "was", "were", "will", "would", "should", "shall",
    "may", "might", "have", "has", "tell", "explain", "show", "help", "i", "my", "any", "need",
})
# fmt: on


def after_greetings(words: str) -> int:
    """Where what follows the greetings and filler opening ``words`` (a text reduced by
    ``words``: "hi", "good morning", "hey there", "你好") starts; ``len(words)`` or more when
    they are all of it. Read in one pass, however many there are."""
    at = 0
    while at < len(words):
        greeting = GREETING.match(words, at)
        end = words.find(" ", at)
        end = len(words) if end < 0 else end
        if greeting is None and words[at:end] not in FILLER:
            break
        at = (greeting.end() if greeting is not None else end) + 1
    return at


def how_are_you_alone(words: str) -> str | None:
    """The how are you of ``words`` (a clause, reduced) that is all of it but greetings and
    filler ("ciao come stai": "come stai"; ``ASKING_GREETING_ALONE``), None for none."""
    at = after_greetings(words)
    return words[at:] if ASKING_GREETING_ALONE.fullmatch(words, at) else None


def without_courtesy(reduced: str, courtesies: tuple[re.Pattern[str], ...]) -> str:
    """``reduced`` (a text reduced by ``words``) with each phrase of ``courtesies`` a space,
    taken out one lexicon after the other in the order given. The order is the caller's to
    choose: a phrase taken out first is no longer there for the next lexicon ("have a good
    day" is all of it a goodbye for ``GOODBYE`` first, but leaves "have a" after ``GREETING``
    took "good day")."""
    for courtesy in courtesies:
        reduced = courtesy.sub(" ", reduced)
    return reduced


def courtesy_only(
    reduced: str,
    courtesies: tuple[re.Pattern[str], ...],
    *,
    besides: frozenset[str] = frozenset(),
) -> bool:
    """Whether ``reduced`` is nothing but the phrases of ``courtesies`` (``without_courtesy``,
    in that order), ``FILLER`` and the words ``besides`` ("hi", "hello there, thanks")."""
    return all(w in FILLER or w in besides for w in without_courtesy(reduced, courtesies).split())


def has_question_mark(text: str) -> bool:
    """Whether ``text`` holds a question mark ("?", or the fullwidth U+FF1F)."""
    return "?" in text or "\uff1f" in text

"""The courtesy lexicon of intent detection: text reduced to its words (``words``), word-bounded
alternations (``phrases``), and the greetings, thanks, acknowledgements, goodbyes and filler
words a message may hold and still be nothing but courtesy (``rag.chat.intents``)."""

from __future__ import annotations

import re
import unicodedata

_APOSTROPHES = str.maketrans("", "", "'\u2018\u2019\u02bc\u0060\u00b4")


def words(text: str) -> str:
    """NFKC + casefold, apostrophes dropped, everything but letters/marks/digits to one space."""
    folded = unicodedata.normalize("NFKC", text).casefold().translate(_APOSTROPHES)
    chars = [ch if unicodedata.category(ch)[0] in "LMN" else " " for ch in folded]
    return " ".join("".join(chars).split())


def phrases(*patterns: str) -> re.Pattern[str]:
    """Alternation of patterns bounded by spaces (the text is already reduced by ``words``)."""
    ordered = sorted(patterns, key=len, reverse=True)
    return re.compile(r"(?<!\S)(?:" + "|".join(ordered) + r")(?!\S)")


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
    r"guten tag",
    r"ola",
    r"olá",
    r"salaam",
    r"salam",
    r"as?salamu? (?:alaikum|alaykum)",
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
    r"adios",
    r"au revoir",
    r"tsch(?:ü|u|ue)ss",
    r"alvida",
)

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

"""Whether a visitor's message leans on the conversation before it ("and for yearly plans?",
"do you ship there?"): such a message is rewritten to stand alone before retrieval
(``rag.chat.question.rewrite``) and recorded as a follow-up (``rag.chat.stages.record``)."""

from __future__ import annotations

import re

# A message opening like this continues the one before ("and for yearly plans?").
_OPENING = r"^\W*(and|also|what about|how about|but|so|then|why|ok(ay)? (and|so)|same for)\b"
_CONTINUES = re.compile(_OPENING, re.IGNORECASE)
_FOLLOW_UP = re.compile(
    _OPENING + r"|\b(it|its|it's|that|this|they|them|their|those|these|he|she|one|ones)\b"
    # "there" ending a clause, a place named before ("do you ship there?"), not "is there a
    # trial", "will there be a fee", "there are two".
    r"|\bthere\s*(?=[?.!,;:]|$)",
    re.IGNORECASE,
)


def looks_like_follow_up(message: str) -> bool:
    """A short message that leans on the conversation ("and for yearly plans?")."""
    words = message.split()
    return len(words) <= 12 and bool(_FOLLOW_UP.search(message))


def continues(message: str) -> bool:
    """Whether the message opens as a continuation of the one before ("and per year?", "what
    about iPhone?"): read with it even when it finds a passage alone (``rag.chat.pipeline``)."""
    return bool(_CONTINUES.match(message))

"""When a passage below the similarity threshold still answers a question: the word match of
the "I don't know" rule (``RETRIEVAL_WORD_MATCH_SIMILARITY``, ``RETRIEVAL_WORD_MATCH_SHARE``;
measured in docs/retrieval.md, "When to say I don't know")."""

from __future__ import annotations

from dataclasses import dataclass

from rag.chat.normalize import content_terms
from rag.knowledge import retrieval

QUESTION_VERBS = content_terms(
    "work use run support offer provide allow let make help possible able way"
)
"""Words a question asks with rather than about ("Does it work on Linux?": Linux is what a
passage must name). Measured as a lever in docs/retrieval.md (better on a tune half, no held-out
half worse)."""


COURTESY_WORDS = content_terms("hi hello hey thanks thank ok okay")
"""Courtesy around a question ("Thanks! Is there a student discount?") is not what a passage
must name (a tester's finding: it made such a question "I don't know"). Ties on every half of
the measured sets, which hold no such words."""


@dataclass(frozen=True)
class WordMatch:
    """A passage below the similarity threshold is still relevant when its cosine reaches
    ``similarity`` and it holds at least ``share`` of the question's content words (stems,
    function words left out; its title and headings count). Short questions about what a
    passage names ("Do you support Windows?" over a list of platforms) score low cosines
    against a long passage; an unanswerable question about something the workspace never
    mentions seldom has its words there (docs/retrieval.md, "When to say I don't know")."""

    similarity: float
    share: float

    def holds(self, question: str, hit: retrieval.Hit) -> bool:
        if hit.similarity is None or hit.similarity < self.similarity:
            return False
        wanted = content_terms(question) - QUESTION_VERBS - COURTESY_WORDS
        if not wanted:
            return False
        where = " ".join([hit.title or "", *hit.heading_path, hit.text])
        return len(wanted & content_terms(where)) / len(wanted) >= self.share

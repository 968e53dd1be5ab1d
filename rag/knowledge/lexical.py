"""Okapi BM25 fused with the vector page order (issue 12; docs/retrieval.md, twelfth session).

- ``tokenize``: casefolded words; an identifier (``git-rebase``, ``os.path.join``, ``--force``,
  ``__init__``) is kept whole (unstemmed) *and* split into its parts; parts of two characters
  or more, without ``core.stems.STOPWORDS``, each Snowball-stemmed (``core.stems.stem``).
- ``chunk_terms``: a stored chunk's terms with their counts, from the text that was embedded
  for it (header + passage, ``chunking.stored_embedding_text``); ingestion stores them
  (``chunk_terms`` table, ``chunks.term_count``) in the transaction that writes the chunk, and
  the search scores BM25 over them in SQL (``repository.search.lexical_search``, within a
  budget of ``POSTINGS``): per-workspace document frequencies and average length are kept from
  the stored rows by triggers (migration 0048), so they cannot drift.
- ``fused``: ``(1 - w) x minmax(vector page scores) + w x minmax(BM25 page scores)`` over the
  union of both pages lists (a page missing from one list takes that list's lowest value), the
  vector order breaking ties. A page's BM25 score is its best chunk's among the ``n`` best BM25
  chunks of the workspace. With a lead weight (RETRIEVAL_LEAD_WEIGHT) each page's cosine to its
  first chunk is added (docs/retrieval.md, eighteenth session).
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from core.stems import STOPWORDS, fold, stem
from rag.knowledge.chunking import stored_embedding_text

K1 = 0.9
B = 0.75
# The lexical side's weight in the fusion (the RETRIEVAL_LEXICAL_WEIGHT setting; 0: the vector
# order alone, no lexical statement).
LEXICAL_WEIGHT = 0.3
POSTINGS = 4000
"""The BM25 statement's budget (the RETRIEVAL_LEXICAL_POSTINGS setting): the rarest question
terms whose document frequencies sum to at most this are scored over their postings; every
other candidate comes from the vector search (``repository.search.lexical_search``)."""
MAX_QUERY_TERMS = 64
"""A question's distinct terms beyond these are not scored (a pasted page is no question)."""

# A word, with any run of "-", ".", "/", ":" joining it to the next (git-rebase, os.path.join,
# refs/heads/main, HEAD:path), after up to two dashes (--force, -n).
_TOKEN = re.compile(r"-{0,2}\w+(?:[-./:]\w+)*")
_PART = re.compile(r"[^\W_]+")  # letters and digits: "_" splits (from_bytes, __init__)
LONGEST_TERM = 200
"""A stored term is cut to this many characters (an index entry stays small)."""


def tokenize(text: str) -> list[str]:
    """``text``'s terms: each identifier whole (casefolded, unstemmed) and its stemmed parts;
    a plain word is its stem alone. Stop words and one-character parts are dropped."""
    out: list[str] = []
    for match in _TOKEN.finditer(fold(text)):
        token = match.group(0)
        parts = _PART.findall(token)
        if parts != [token]:
            out.append(token[:LONGEST_TERM])
        out += [stem(p)[:LONGEST_TERM] for p in parts if len(p) >= 2 and p not in STOPWORDS]
    return out


def query_terms(query: str) -> list[str]:
    """The distinct terms of a question, in order (at most ``MAX_QUERY_TERMS``)."""
    return list(dict.fromkeys(tokenize(query)))[:MAX_QUERY_TERMS]


def chunk_terms(text: str, metadata: Mapping[str, Any]) -> Counter[str]:
    """A stored chunk's terms and their counts: those of what was embedded for it."""
    return Counter(tokenize(stored_embedding_text(text, dict(metadata))))


def _minmax(scores: Mapping[uuid.UUID, float]) -> dict[uuid.UUID, float]:
    if not scores:
        return {}
    low, high = min(scores.values()), max(scores.values())
    spread = high - low
    return {key: (s - low) / spread if spread else 1.0 for key, s in scores.items()}


def fused(
    vector: Sequence[tuple[uuid.UUID, float]],
    lexical: Sequence[tuple[uuid.UUID, float]],
    weight: float,
    lead: Mapping[uuid.UUID, float] | None = None,
    lead_weight: float = 0.0,
) -> list[tuple[uuid.UUID, float]]:
    """The pages of both lists (vector first, then lexical-only ones) in fused order:
    ``(1 - weight) x`` the vector side's min-max normalized page score ``+ weight x`` the
    lexical side's; a page missing from a list counts that list's lowest normalized value (0).
    ``lead_weight`` above 0 adds ``lead_weight x`` each page's ``lead`` (the cosine of the
    question to its first chunk; a page without one counts the lowest). Stable: ties keep the
    vector order, then the lexical one. An empty lexical list (no term of the question in the
    workspace) or weight 0 leaves the vector order when no lead is weighed, each page with its
    vector page score. Each page comes with its fused score (what a reranker fuses with)."""
    order = list(dict.fromkeys([p for p, _ in vector] + [p for p, _ in lexical]))
    leads = lead or {}
    if lead_weight <= 0 or not leads:
        if not lexical or weight <= 0:
            return list(vector)
        lead_weight = 0.0
    v = _minmax(dict(vector))
    lx = _minmax(dict(lexical)) if weight > 0 else {}
    v_low = min(v.values(), default=0.0)
    l_low = min(lx.values(), default=0.0)
    lead_low = min(leads.values(), default=0.0)
    score = {
        p: (1 - weight) * v.get(p, v_low)
        + weight * lx.get(p, l_low)
        + lead_weight * leads.get(p, lead_low)
        for p in order
    }
    return sorted(((p, score[p]) for p in order), key=lambda item: -item[1])

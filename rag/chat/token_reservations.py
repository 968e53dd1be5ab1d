"""A turn's LLM tokens reserved under the plan's daily cap before any model runs: the most it
may spend (``TokenEstimate``: its answer, a follow-up's rewrite, an LLM reranker), what to
reserve with the visitor's message (``reservation_wanted``) and the reservation granted
(``reserved``), settled when the answer is recorded (``workspaces.usage``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from rag.knowledge.rerank import estimate_tokens
from workspaces import usage
from workspaces.models import Workspace
from workspaces.plans import get_plan

PROMPT_OVERHEAD_TOKENS = 600
"""The answer's prompt beside the passages and what the turn brings: the rules, the names,
the delimiters."""
PASSAGE_OVERHEAD_TOKENS = 40
"""A passage's title, heading path and delimiters beside its chunk."""


@dataclass(frozen=True)
class TokenEstimate:
    """The most LLM tokens a turn may spend (its answer, a follow-up's rewrite, an LLM
    reranker), reserved under the daily cap before any model runs. Text is counted as UTF-8
    bytes / 3 (``rag.knowledge.rerank.estimate_tokens``: above the real count for English)."""

    answer_tokens: int = 0
    """LLM_MAX_TOKENS; 0 when no model answers (extractive answers)."""
    passage_tokens: int = 0
    """RETRIEVAL_K passages of CHUNK_TOKENS each, with their headings."""
    rerank_tokens: int = 0
    """An LLM reranker's bound (``Reranker.token_estimate``); 0 for one that spends none."""

    def of(
        self,
        workspace: Workspace,
        message: str,
        history: tuple[tuple[str, str], ...],
        follow_up: bool,
    ) -> int:
        total = self.rerank_tokens
        if self.answer_tokens:
            told = [workspace.persona or "", message, *(text for _, text in history)]
            total += self.answer_tokens + self.passage_tokens + PROMPT_OVERHEAD_TOKENS
            total += sum(estimate_tokens(text) for text in told)
            if follow_up:  # the rewrite: the last four turns, 500 characters each
                recent = [text[:500] for _, text in history[-4:]]
                total += self.answer_tokens + PROMPT_OVERHEAD_TOKENS
                total += sum(estimate_tokens(text) for text in [message, *recent])
        return total


def reservation_wanted(
    workspace: Workspace,
    day: date | None,
    estimate: TokenEstimate | None,
    message: str,
    history: tuple[tuple[str, str], ...],
    follow_up: bool,
) -> tuple[int, int] | None:
    """(tokens, cap) to reserve with the message: under a daily cap (``day``, from
    ``lookups_wanted``) when the turn may call a model; None otherwise."""
    if day is None or estimate is None:
        return None
    tokens = estimate.of(workspace, message, history, follow_up)
    limit = get_plan(usage.effective_plan(workspace)).limit("daily_llm_tokens")
    return (tokens, limit) if tokens > 0 and limit is not None else None


def reserved(
    workspace: Workspace, day: date | None, reserve: tuple[int, int] | None, granted: bool | None
) -> usage.TokenReservation | None:
    """The turn's reservation when ``reserve`` was asked for and ``granted``."""
    if reserve is None or day is None or not granted:
        return None
    return usage.TokenReservation(workspace.id, day, reserve[0])

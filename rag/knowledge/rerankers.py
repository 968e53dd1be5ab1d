"""Which reranker RERANKER names (``reranker_choice``), built from the settings
(``build_reranker``) and described in one startup line (``describe``): none, llm
(``rerank.LLMReranker``), maxsim (``maxsim_rerank.MaxSimReranker``) or a local cross-encoder
directory (``rerank.CrossEncoderReranker``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from core.errors import ConfigError
from rag.knowledge.maxsim_rerank import MaxSimReranker, check_graph
from rag.knowledge.rerank import CrossEncoderReranker, LLMReranker, NoReranker, Reranker

if TYPE_CHECKING:
    from core.config import Settings


def reranker_choice(settings: Settings) -> Literal["none", "llm", "maxsim"] | Path:
    """What RERANKER names: none, llm, maxsim or a directory; ``ConfigError`` for a directory
    that does not exist, and for maxsim without its graph (``trulybot warm-model`` exports it)."""
    choice = settings.reranker.strip()
    if choice.lower() in ("", "none", "off"):
        return "none"
    if choice.lower() == "llm":
        return "llm"
    if choice.lower() == "maxsim":
        check_graph(settings)
        return "maxsim"
    path = Path(choice).expanduser()
    if not path.is_dir():
        raise ConfigError(
            f"RERANKER={choice}: no such directory; set RERANKER to none, llm, maxsim or the path"
            " of a local cross-encoder directory (`trulybot fetch-reranker` installs one)"
        )
    return path


def build_reranker(settings: Settings) -> Reranker:
    """The reranker RERANKER names, not started (``await reranker.start()`` loads a
    cross-encoder or maxsim's graph). A directory that does not exist, or maxsim's graph
    missing, is refused with ``ConfigError``."""
    choice = reranker_choice(settings)
    if choice == "none":
        return NoReranker()
    if choice == "llm":
        return LLMReranker.from_settings(settings)
    if choice == "maxsim":
        return MaxSimReranker.from_settings(settings)
    return CrossEncoderReranker(
        choice,
        candidates=settings.reranker_candidates,
        timeout_ms=settings.reranker_timeout_ms,
        cache_size=settings.reranker_cache_size,
    )


def describe(reranker: Reranker) -> str:
    """The startup line."""
    if isinstance(reranker, LLMReranker):
        where = f"{reranker.model}" if reranker.client else "no OPENAI_API_KEY: skipped"
        return f"reranker: llm ({where}) over the top {reranker.candidates}"
    if isinstance(reranker, CrossEncoderReranker):
        return f"reranker: cross-encoder {reranker.path} over the top {reranker.candidates}"
    if isinstance(reranker, MaxSimReranker):
        return (
            f"reranker: maxsim (MiniLM token states, weight {reranker.weight:g}) over the top"
            f" {reranker.candidates}"
        )
    return "reranker: none"

"""Reranking: reorder the top fused candidates before the best ``k`` are kept (RERANKER).

- ``NoReranker`` (``RERANKER=none``, the default): the retrieval order, unchanged.
- ``LLMReranker`` (``RERANKER=llm``): the configured OpenAI-compatible chat model (OPENAI_API_KEY /
  OPENAI_BASE_URL, CHAT_MODEL, as for generation) reads the question and the numbered candidates
  (title, heading and the start of the text, shortened so the prompt stays within
  RERANKER_MAX_TOKENS) and answers with the numbers, best first.
- ``CrossEncoderReranker`` (``RERANKER=/path/to/dir``): a cross-encoder from a local directory,
  loaded once on CPU at startup, scoring (question, passage) pairs in a worker thread: an ONNX
  graph with its ``tokenizer.json`` (``onnx_cross_encoder``; ``trulybot fetch-reranker`` installs
  one), else a sentence-transformers ``CrossEncoder``.
- ``MaxSimReranker`` (``RERANKER=maxsim``, ``rag.knowledge.maxsim_rerank``): late interaction
  over the bundled MiniLM's token states, fused with the retrieval page scores.

``rag.knowledge.rerankers`` builds the one RERANKER names.

A rerank never fails a search: over the time budget (RERANKER_TIMEOUT_MS), on an error, a
malformed answer or without a model, the original order is kept, counted in
``trulybot_rerank_total{reranker, outcome}`` and logged. Orders are cached in a bounded LRU
keyed by the model, the normalised question and the candidates' ids (so a re-ingested page,
whose chunks get new ids, is reranked afresh).

Callers fetch ``reranker.pool(k)`` candidates, then call ``rerank(query, candidates, k)``
outside any database transaction when they can (a model runs meanwhile).
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import numpy as np
import openai
from cachetools import LRUCache

from core import metrics
from core.errors import ConfigError
from rag.knowledge.onnx_cross_encoder import OnnxCrossEncoder, is_onnx_dir

if TYPE_CHECKING:
    from core.config import Settings

log = logging.getLogger("trulybot.rerank")

PASSAGE_CHARS = 400
"""How much of each candidate's text the llm reranker reads (title and heading come first)."""
MIN_PASSAGE_BYTES = 80
"""Below this per candidate the llm reranker reranks fewer candidates instead."""
QUERY_CHARS = 500
BYTES_PER_TOKEN = 3
"""Prompt tokens are estimated as UTF-8 bytes / 3: above the real count for English text (about
4 characters a token) and about one token a character for CJK scripts."""
MESSAGE_OVERHEAD_TOKENS = 8

SYSTEM_PROMPT = (
    "You rank search results for a question. Read the numbered passages and answer with their "
    "numbers ordered from most to least useful for answering the question, comma-separated, "
    "every number once, and nothing else."
)


class Candidate(Protocol):
    """What a reranker reads of a retrieved chunk (``retrieval.Hit``, a chat ``Passage``...)."""

    @property
    def chunk_id(self) -> Any: ...

    @property
    def title(self) -> str: ...

    @property
    def heading_path(self) -> Sequence[str]: ...

    @property
    def text(self) -> str: ...


C = TypeVar("C", bound=Candidate)


@dataclass(frozen=True)
class Reranked(Generic[C]):
    """The best ``k`` in their new order, and what happened."""

    items: list[C]
    reranker: str
    """Which reranker ran: none, llm, maxsim or cross-encoder."""
    fallback: str | None = None
    """Why the retrieval order was kept (timeout, error, malformed, no_model, skipped), if so."""
    cached: bool = False
    tokens: tuple[int, int] = (0, 0)
    """The model's (prompt, completion) tokens this rerank spent: an LLM reranker's call, also
    when its answer was unusable; none from the cache, a local model or a call cut off."""


@dataclass
class Spent:
    """What a reranker's model call reported spending, filled in by ``_order``."""

    prompt: int = 0
    completion: int = 0

    @property
    def tokens(self) -> tuple[int, int]:
        return (self.prompt, self.completion)


class RerankFailed(Exception):
    """The reranker gave no usable order; ``reason`` is the fallback counted."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(detail or reason)
        self.reason = reason


def normalise_query(query: str) -> str:
    return " ".join(query.casefold().split())


def identity(candidate: Candidate) -> str:
    """The candidate's chunk id, and its page's second chunk's when it carries one
    (``retrieval.Hit.second``, which ``maxsim_rerank`` scores too): its part of a cache key."""
    second = getattr(candidate, "second", None)
    return str(candidate.chunk_id) + (f"+{second.chunk_id}" if second is not None else "")


def header(candidate: Candidate) -> str:
    """``Title > Heading > Subheading``."""
    return " > ".join(p for p in (candidate.title, *candidate.heading_path) if p)


def passage_text(candidate: Candidate) -> str:
    """Title and heading path, then the chunk's text: what a reranker reads of a candidate."""
    head = header(candidate)
    return f"{head}\n{candidate.text}" if head else candidate.text


def parse_order(answer: str, count: int) -> list[int]:
    """0-based indices from a model's answer listing 1-based numbers: unknown and repeated
    numbers are ignored, the missing ones follow in their original order. Raises
    ``RerankFailed("malformed")`` when the answer names no candidate at all."""
    seen: list[int] = []
    for raw in re.findall(r"\d+", answer):
        n = int(raw)
        if 1 <= n <= count and n - 1 not in seen:
            seen.append(n - 1)
    if not seen:
        raise RerankFailed("malformed", f"no candidate number in {answer[:80]!r}")
    return seen + [i for i in range(count) if i not in seen]


def _cut_bytes(text: str, limit: int) -> str:
    if limit <= 0:
        return ""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[:limit].decode("utf-8", errors="ignore")


def estimate_tokens(text: str) -> int:
    return -(-len(text.encode("utf-8")) // BYTES_PER_TOKEN)


class Reranker:
    """The shared part: which candidates, the cache, the time budget and the fallback."""

    name = "none"
    metered = False
    """Whether a rerank spends LLM tokens (skipped once the owner's daily token cap is reached)."""

    def __init__(self, *, candidates: int = 24, timeout_ms: int = 1500, cache_size: int = 0):
        self.candidates = candidates
        self.timeout = timeout_ms / 1000
        self._cache: LRUCache[tuple[str, ...], tuple[int, ...]] | None = (
            LRUCache(maxsize=cache_size) if cache_size > 0 else None
        )

    @property
    def active(self) -> bool:
        return self.name != "none"

    @property
    def token_estimate(self) -> int:
        """The most LLM tokens one rerank may spend, as reserved under the daily cap before it
        runs (``workspaces.usage.reserve_tokens``); 0 for a reranker that spends none."""
        return 0

    @property
    def available(self) -> bool:
        """Whether a model can be reached (an llm reranker without a key cannot)."""
        return self.active

    @property
    def model_id(self) -> str:
        return self.name

    def pool(self, k: int) -> int:
        """How many candidates to retrieve so the best ``k`` can be chosen among them."""
        return max(k, self.candidates) if self.active else k

    async def start(self) -> None:
        """Load what the reranker needs; raises ``ConfigError`` when it cannot."""

    async def aclose(self) -> None:
        """Release what ``start`` acquired."""

    async def _order(self, query: str, candidates: Sequence[Candidate], spent: Spent) -> list[int]:
        """0-based indices of ``candidates``, best first (a permutation); a model call adds
        what it spent to ``spent``."""
        return list(range(len(candidates)))

    async def rerank(self, query: str, items: Sequence[C], k: int) -> Reranked[C]:
        """The best ``k`` of ``items`` (retrieval order), the first ``candidates`` reordered."""
        items = list(items)
        head, tail = items[: self.candidates], items[self.candidates :]
        if not self.active or len(head) < 2:
            return Reranked(items[:k], self.name)
        key = (self.model_id, normalise_query(query), *(identity(c) for c in head))
        order = self._cache.get(key) if self._cache is not None else None
        cached = order is not None
        spent = Spent()
        if order is None:
            started = time.perf_counter()
            try:
                found = await asyncio.wait_for(self._order(query, head, spent), self.timeout)
            except RerankFailed as exc:
                return self._fallback(items, k, exc.reason, str(exc), started, spent)
            except TimeoutError:
                timeout = f"over {self.timeout:.3f} s"
                return self._fallback(items, k, "timeout", timeout, started, spent)
            except Exception as exc:  # a rerank never fails the search
                return self._fallback(items, k, "error", repr(exc), started, spent)
            if sorted(found) != list(range(len(head))):
                return self._fallback(items, k, "malformed", "not a permutation", started, spent)
            order = tuple(found)
            if self._cache is not None:
                self._cache[key] = order
            metrics.observe_rerank(self.name, time.perf_counter() - started)
        metrics.count_rerank(self.name, "cached" if cached else "ok")
        ranked = ([head[i] for i in order] + tail)[:k]
        return Reranked(ranked, self.name, cached=cached, tokens=spent.tokens)

    def _fallback(
        self, items: list[C], k: int, reason: str, detail: str, started: float, spent: Spent
    ) -> Reranked[C]:
        metrics.count_rerank(self.name, reason)
        log.warning(
            "rerank_fallback reranker=%s reason=%s after_ms=%.0f detail=%s",
            self.name,
            reason,
            (time.perf_counter() - started) * 1000,
            detail[:200],
        )
        return Reranked(items[:k], self.name, reason, tokens=spent.tokens)


class NoReranker(Reranker):
    """RERANKER=none: the retrieval order."""


class LLMReranker(Reranker):
    """RERANKER=llm: the configured chat model orders the candidates."""

    name = "llm"
    metered = True

    def __init__(
        self,
        *,
        client: openai.AsyncOpenAI | None,
        model: str,
        max_tokens: int = 2500,
        candidates: int = 24,
        timeout_ms: int = 1500,
        cache_size: int = 2048,
    ) -> None:
        super().__init__(candidates=candidates, timeout_ms=timeout_ms, cache_size=cache_size)
        self.client = client
        self.model = model
        self.max_tokens = max_tokens

    @property
    def token_estimate(self) -> int:
        """The prompt's bound (RERANKER_MAX_TOKENS, estimated as ``prompt`` does) and the
        answer's ``max_tokens`` for every candidate numbered."""
        return self.max_tokens + 4 * self.candidates + 16

    @classmethod
    def from_settings(cls, settings: Settings) -> LLMReranker:
        """The generator's API and model (rag.chat.llm); no client without a key or base URL."""
        client = None
        if settings.openai_api_key or settings.openai_base_url:
            client = openai.AsyncOpenAI(
                # Self-hosted OpenAI-compatible servers often need no key; the SDK insists on one.
                api_key=settings.openai_api_key or "unused",
                base_url=settings.openai_base_url,
                timeout=settings.reranker_timeout_ms / 1000,
                max_retries=0,  # no time for a retry within the budget
            )
        return cls(
            client=client,
            model=settings.chat_model,
            max_tokens=settings.reranker_max_tokens,
            candidates=settings.reranker_candidates,
            timeout_ms=settings.reranker_timeout_ms,
            cache_size=settings.reranker_cache_size,
        )

    @property
    def model_id(self) -> str:
        return f"llm:{self.model}"

    @property
    def available(self) -> bool:
        return self.client is not None

    async def aclose(self) -> None:
        if self.client is not None:
            await self.client.close()

    def prompt(
        self, query: str, candidates: Sequence[Candidate]
    ) -> tuple[list[dict[str, str]], int]:
        """The messages and how many candidates they number, within ``max_tokens`` (estimated):
        the passages share what the instructions and the question leave, and fewer candidates
        are sent when each would get less than ``MIN_PASSAGE_BYTES``."""
        question = _cut_bytes(" ".join(query.split()), QUERY_CHARS)
        intro = f"Question: {question}\n\nPassages:\n"
        outro = "\nThe numbers, best first:"
        fixed = (
            estimate_tokens(SYSTEM_PROMPT)
            + estimate_tokens(intro + outro)
            + 2 * MESSAGE_OVERHEAD_TOKENS
        )
        room = (self.max_tokens - fixed) * BYTES_PER_TOKEN
        count = min(len(candidates), max(0, room // MIN_PASSAGE_BYTES))
        if count < 2:
            raise RerankFailed("skipped", "RERANKER_MAX_TOKENS leaves no room for the passages")
        share = room // count - 1  # each block ends with a newline
        blocks = []
        for n, candidate in enumerate(candidates[:count], start=1):
            body = " ".join(candidate.text[: PASSAGE_CHARS * 2].split())[:PASSAGE_CHARS]
            blocks.append(_cut_bytes(f"[{n}] {header(candidate)}: {body}", share) + "\n")
        user = intro + "".join(blocks) + outro
        return [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": user},
        ], count

    async def _order(self, query: str, candidates: Sequence[Candidate], spent: Spent) -> list[int]:
        if self.client is None:
            raise RerankFailed("no_model", "no OPENAI_API_KEY or OPENAI_BASE_URL")
        messages, count = self.prompt(query, candidates)
        started = time.perf_counter()
        try:
            response = await self.client.chat.completions.create(
                model=self.model,
                messages=messages,  # type: ignore[arg-type]
                max_tokens=4 * count + 16,
                temperature=0,
            )
        except openai.APITimeoutError as exc:
            metrics.observe_llm(self.model, time.perf_counter() - started, "timeout")
            raise TimeoutError from exc
        except openai.APIError as exc:
            metrics.observe_llm(self.model, time.perf_counter() - started, "error")
            raise RerankFailed("error", f"{type(exc).__name__}: {exc}") from exc
        metrics.observe_llm(self.model, time.perf_counter() - started, "ok")
        if response.usage is not None:
            spent.prompt += response.usage.prompt_tokens
            spent.completion += response.usage.completion_tokens
            metrics.count_llm_tokens(
                response.model or self.model,
                prompt=response.usage.prompt_tokens,
                completion=response.usage.completion_tokens,
            )
        choice = response.choices[0] if response.choices else None
        order = parse_order((choice.message.content or "") if choice else "", count)
        return order + list(range(count, len(candidates)))


class CrossEncoderReranker(Reranker):
    """RERANKER=<directory>: a local cross-encoder on CPU, ONNX (``model.onnx`` and
    ``tokenizer.json``) or a sentence-transformers CrossEncoder."""

    name = "cross-encoder"

    def __init__(
        self, path: Path, *, candidates: int = 24, timeout_ms: int = 1500, cache_size: int = 2048
    ) -> None:
        super().__init__(candidates=candidates, timeout_ms=timeout_ms, cache_size=cache_size)
        self.path = path
        self.model: Any = None
        # The model's fast tokenizer is not safe to use from two threads at once.
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        return f"cross-encoder:{self.path}"

    @property
    def onnx(self) -> bool:
        return is_onnx_dir(self.path)

    @property
    def kind(self) -> str:
        return "an ONNX cross-encoder" if self.onnx else "a sentence-transformers CrossEncoder"

    def _load(self) -> Any:
        with self._lock:
            if self.model is None and self.onnx:
                self.model = OnnxCrossEncoder(self.path)
            elif self.model is None:
                from sentence_transformers import CrossEncoder

                self.model = CrossEncoder(str(self.path), device="cpu", local_files_only=True)
        return self.model

    async def start(self) -> None:
        try:
            await asyncio.to_thread(self._load)
        except Exception as exc:
            raise ConfigError(
                f"RERANKER={self.path}: the directory does not load as {self.kind}"
                f" ({type(exc).__name__}: {exc})"
            ) from exc

    def scores(
        self, query: str, candidates: Sequence[Candidate], deadline: float | None = None
    ) -> np.ndarray:
        """One relevance score per candidate (higher is better), computed in this thread; not
        started once ``deadline`` (``time.monotonic()``) has passed while waiting for the model
        (its caller has given up: under load, abandoned reranks do not pile up on the CPU)."""
        model = self._load()
        pairs = [(query, passage_text(c)) for c in candidates]
        with self._lock:
            if deadline is not None and time.monotonic() > deadline:
                raise RerankFailed("timeout", "the model was busy past the time budget")
            if isinstance(model, OnnxCrossEncoder):
                raw = model.predict(pairs)
            else:
                raw = model.predict(pairs, batch_size=32, show_progress_bar=False)
        scores = np.asarray(raw, dtype=np.float32)
        return scores[:, -1] if scores.ndim == 2 else scores.ravel()

    async def _order(self, query: str, candidates: Sequence[Candidate], spent: Spent) -> list[int]:
        deadline = time.monotonic() + self.timeout
        scores = await asyncio.to_thread(self.scores, query, candidates, deadline)
        return [int(i) for i in np.argsort(-scores, kind="stable")]

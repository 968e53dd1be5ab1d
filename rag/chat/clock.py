"""The answer pipeline's stage timings: measured per turn (``Clock``), reported with the
answer and to /metrics (``observe``); the gate in front of the turns' database part
(``TurnGate``)."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from core import metrics
from rag.chat.generator import Completion


class Clock:
    """Milliseconds per stage, in ``timings`` (reported with the answer and to /metrics)."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self.start = time.perf_counter()
        self.last = self.start

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.timings[stage] = round((now - self.last) * 1000, 2)
        self.last = now

    def total(self) -> None:
        self.timings["total"] = round((time.perf_counter() - self.start) * 1000, 2)

    def first_token(self, generation_started: float) -> None:
        """Streaming: the first words leave now. ``first_token`` is measured from the start,
        ``model_first_token`` from the start of generation (the model's own share)."""
        if "first_token" in self.timings:
            return
        now = time.perf_counter()
        self.timings["first_token"] = round((now - self.start) * 1000, 2)
        self.timings["model_first_token"] = round((now - generation_started) * 1000, 2)


def observe(
    source: str,
    completion: Completion | None,
    timings: dict[str, float],
    rewrite_tokens: tuple[int, int] = (0, 0),
    interrupted: Completion | None = None,
) -> None:
    """Feed /metrics: stage timings, where answers came from, cache and FAQ hit ratios,
    LLM tokens (a follow-up's rewrite included, as metered; a stream that broke off, its
    ``interrupted`` tally, as metered) and latency."""
    if any(rewrite_tokens):
        model = completion.model if completion is not None and completion.model else "rewrite"
        metrics.count_llm_tokens(model, prompt=rewrite_tokens[0], completion=rewrite_tokens[1])
    for stage, ms in timings.items():
        metrics.observe_stage(stage, ms / 1000)
    metrics.count_answer(source)
    if "faq" in timings or "faq_semantic" in timings:
        metrics.count_faq(source == "faq")
    if ("cache" in timings or "cache_semantic" in timings) and source != "faq":
        metrics.count_cache("hit" if source == "cache" else "miss")
    if "generation" in timings:
        model = completion.model if completion is not None and completion.model else "none"
        outcome = "ok" if completion is not None else "error"
        metrics.observe_llm(model, timings["generation"] / 1000, outcome)
        spent = completion or interrupted
        if spent is not None:
            metrics.count_llm_tokens(
                spent.model or model, prompt=spent.prompt_tokens, completion=spent.completion_tokens
            )


class TurnGate:
    """``slots`` turns in their database part at once (CHAT_CONCURRENT_TURNS); the rest wait in
    order. A turn coming back to record its answer goes before new turns waiting: finishing
    frees a visitor, starting adds work."""

    def __init__(self, slots: int) -> None:
        self._free = slots
        self._waiting: tuple[deque[asyncio.Future[None]], ...] = (deque(), deque())

    @asynccontextmanager
    async def slot(self, *, finishing: bool = False) -> AsyncIterator[None]:
        if self._free > 0 and not any(self._waiting):
            self._free -= 1
        else:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            queue = self._waiting[0 if finishing else 1]
            queue.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._release()  # handed a slot as it was cancelled: pass it on
                elif waiter in queue:
                    queue.remove(waiter)
                raise
        try:
            yield
        finally:
            self._release()

    @property
    def free(self) -> int:
        """Slots no turn holds now."""
        return self._free

    @property
    def finishing(self) -> int:
        """Turns waiting for a slot to record their answer."""
        return len(self._waiting[0])

    def _release(self) -> None:
        for queue in self._waiting:
            while queue:
                waiter = queue.popleft()
                if not waiter.done():
                    waiter.set_result(None)
                    return
        self._free += 1

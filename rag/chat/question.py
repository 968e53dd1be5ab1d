"""A turn's question made ready for retrieval by the models, within the turn's model time
(``Settings.chat_model_seconds``) and outside every transaction and gate slot: a follow-up
rewritten to stand alone (``rewrite``), the question embedded (``embed``; with an embedder that
costs nothing per call, started early, beside the first transaction: ``embed_early``)."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np

from rag.chat.contact_beside import without_contact
from rag.chat.follow_ups import looks_like_follow_up
from rag.chat.generator import Generator, Rewritten, joined_rewrite
from rag.chat.intents import NOT_QUESTIONS, Intent, question_of
from rag.knowledge.embeddings import Embedder, EmbeddingError


def _retrieve_exception(task: asyncio.Task[Any]) -> None:
    """An early embedding nobody awaited (the turn ended first) fails quietly; one awaited
    raises where it is awaited."""
    if not task.cancelled():
        task.exception()


async def rewrite(
    rewriter: Generator,
    message: str,
    history: tuple[tuple[str, str], ...],
    model_by: float | None,
) -> Rewritten:
    """The follow-up rewritten in at most half the turn's model time left (the answer has the
    rest); past it, joined to the last question as without a model. The visitor's messages
    before it are read as their questions alone (``contact_beside.without_contact``): an
    address or a number left beside one ("my email is ..., how do I ...?") went into the
    rewrite, the retrieval and, left unanswered, the owner's Unanswered page."""
    history = tuple(
        (role, without_contact(text) if role == "user" else text) for role, text in history
    )
    if model_by is None:
        return await rewriter.rewrite_follow_up(message, history)
    now = asyncio.get_running_loop().time()
    try:
        async with asyncio.timeout_at(now + max(model_by - now, 0) / 2):
            return await rewriter.rewrite_follow_up(message, history)
    except TimeoutError:
        return joined_rewrite(message, history)


def embed_early(
    embedder: Embedder, message: str, intent: Intent
) -> asyncio.Task[np.ndarray] | None:
    """The question's embedding, started while its message is recorded, when the embedder
    costs nothing per call (``unmetered``: the quota is still checked before any metered model
    runs) and the answer will likely need it: not courtesy, not a request for a human, not a
    message that may be a follow-up (rewritten first). The question is what is answered of
    the message (``intents.question_of``: "are you a bot? what are your opening hours?" is
    "what are your opening hours?", which the answer embeds; the whole message was embedded
    here, then the question again). An answer settled without it (an FAQ, the cache, a
    refusal) leaves its vector in the query cache."""
    if not getattr(embedder, "unmetered", False):
        return None
    if intent in NOT_QUESTIONS:
        return None
    question = question_of(message, intent)
    if looks_like_follow_up(question):
        return None
    task = asyncio.create_task(embedder.embed_query(question))
    task.add_done_callback(_retrieve_exception)
    return task


async def embed(
    embedder: Embedder,
    text: str,
    early: asyncio.Task[np.ndarray] | None,
    model_by: float | None,
) -> np.ndarray:
    """The vector of ``text`` (``early``'s, started before the first transaction, when given),
    within the turn's model time: a provider that does not answer in it fails the turn with
    ``EmbeddingError`` (502 ``embedding_failed``; the message's claim is released for the
    client's retry) while the widget still waits, and the provider's request is withdrawn
    (``rag.knowledge.batching``). It ran to the request's 504, after the widget gave up."""
    try:
        async with asyncio.timeout_at(model_by):
            if early is not None:
                return await early
            return await embedder.embed_query(text)
    except TimeoutError as exc:
        raise EmbeddingError(
            "The embedding service did not answer in time", details={"reason": "timeout"}
        ) from exc

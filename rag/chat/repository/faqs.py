"""SQL of the FAQ knowledge base, and the re-embedding of the pipeline's stored vectors."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import bindparam, delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.direct import Executor, Prepared, fetch
from core.lock_waits import wait_out
from core.models import utcnow
from core.pagination import newest_first
from rag.chat.models import (
    Faq,
    FaqQuestion,
)
from rag.knowledge.repository.chunks import vector_param, vector_value, vector_values


async def insert_faq(session: AsyncSession, faq: Faq) -> Faq:
    session.add(faq)
    await session.flush()
    return faq


async def replace_faq_questions(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    faq_id: uuid.UUID,
    variants: Sequence[tuple[str, str, np.ndarray | None]],
) -> None:
    await session.execute(
        delete(FaqQuestion).where(
            FaqQuestion.workspace_id == workspace_id, FaqQuestion.faq_id == faq_id
        )
    )
    for question, normalized, embedding in variants:
        session.add(
            FaqQuestion(
                id=uuid.uuid4(),
                workspace_id=workspace_id,
                faq_id=faq_id,
                text=question,
                normalized=normalized,
                embedding=embedding,
            )
        )
    await session.flush()


async def stored_phrasings(
    session: AsyncSession, *, workspace_id: uuid.UUID, normalized: Sequence[str]
) -> list[tuple[str, str, np.ndarray]]:
    """Every embedded phrasing (its text, normalized form and vector) of the workspace's FAQs
    that ask one of ``normalized``: an FAQ CSV import reuses them instead of embedding them
    again (``faq_import._FileVectors``)."""
    if not normalized:
        return []
    asking = select(FaqQuestion.faq_id).where(
        FaqQuestion.workspace_id == workspace_id, FaqQuestion.normalized.in_(list(normalized))
    )
    result = await session.execute(
        select(FaqQuestion.text, FaqQuestion.normalized, FaqQuestion.embedding).where(
            FaqQuestion.workspace_id == workspace_id,
            FaqQuestion.faq_id.in_(asking),
            FaqQuestion.embedding.is_not(None),
        )
    )
    return [(text, key, np.asarray(vector, dtype=np.float32)) for text, key, vector in result]


async def get_faq(
    session: AsyncSession, *, workspace_id: uuid.UUID, faq_id: uuid.UUID
) -> Faq | None:
    result = await session.execute(
        select(Faq).where(Faq.workspace_id == workspace_id, Faq.id == faq_id)
    )
    return result.scalar_one_or_none()


async def list_faqs(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    limit: int,
    offset: int = 0,
    after: tuple[datetime, uuid.UUID] | None = None,
) -> tuple[list[Faq], int]:
    """Newest first by (created_at, id), after the key ``after`` (a keyset page), or ``offset``
    rows in (deprecated: an FAQ added meanwhile shifts every later page), and the total."""
    stmt = newest_first(
        select(Faq).where(Faq.workspace_id == workspace_id), Faq, after=after, limit=limit
    )
    rows = await session.execute(stmt.offset(offset) if offset else stmt)
    total = await session.execute(
        select(func.count()).select_from(Faq).where(Faq.workspace_id == workspace_id)
    )
    return list(rows.scalars()), int(total.scalar_one())


async def update_faq(
    session: AsyncSession, *, workspace_id: uuid.UUID, faq_id: uuid.UUID, values: dict[str, Any]
) -> Faq | None:
    if values:
        await session.execute(
            update(Faq)
            .where(Faq.workspace_id == workspace_id, Faq.id == faq_id)
            .values(**values, updated_at=utcnow())
        )
    result = await session.execute(
        select(Faq)
        .where(Faq.workspace_id == workspace_id, Faq.id == faq_id)
        .execution_options(populate_existing=True)
    )
    return result.scalar_one_or_none()


async def delete_faq(session: AsyncSession, *, workspace_id: uuid.UUID, faq_id: uuid.UUID) -> bool:
    result = await session.execute(
        delete(Faq).where(Faq.workspace_id == workspace_id, Faq.id == faq_id).returning(Faq.id)
    )
    return result.scalar_one_or_none() is not None


async def faq_asking(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    normalized: Sequence[str],
    besides: uuid.UUID | None = None,
) -> Faq | None:
    """An FAQ of the workspace (enabled or not, other than ``besides``) one of whose questions
    normalizes to one of ``normalized``."""
    stmt = (
        select(Faq)
        .join(FaqQuestion, FaqQuestion.faq_id == Faq.id)
        .where(
            FaqQuestion.workspace_id == workspace_id,
            FaqQuestion.normalized.in_(list(normalized)),
        )
        .order_by(Faq.created_at)
        .limit(1)
    )
    if besides is not None:
        stmt = stmt.where(Faq.id != besides)
    result = await session.execute(stmt)
    return result.scalar_one_or_none()


def _exact_match(what: Any, workspace_id: uuid.UUID | Any, normalized: str | Any) -> Any:
    """``what`` of the enabled FAQ one of whose questions is ``normalized`` (at most one): the
    oldest, when two share the key (FAQs kept apart by an older normalization, "té" and "te",
    which migration 0023 gave one key), so a visitor always gets the same answer."""
    return (
        select(*(what if isinstance(what, tuple) else (what,)))
        .join(FaqQuestion, FaqQuestion.faq_id == Faq.id)
        .where(
            FaqQuestion.workspace_id == workspace_id,
            FaqQuestion.normalized == normalized,
            Faq.enabled.is_(True),
        )
        .order_by(Faq.created_at, Faq.id)
        .limit(1)
    )


# Built once: the pipeline looks up a rewritten follow-up on every such turn.
_EXACT = Prepared(
    _exact_match(
        (Faq.id, Faq.answer),
        bindparam("ws", type_=FaqQuestion.workspace_id.type),
        bindparam("normalized", type_=FaqQuestion.normalized.type),
    )
)


async def faq_exact(
    executor: Executor, *, workspace_id: uuid.UUID, normalized: str
) -> tuple[uuid.UUID, str] | None:
    """The id and answer of the enabled FAQ one of whose questions is ``normalized``."""
    rows = await fetch(executor, _EXACT, {"ws": workspace_id, "normalized": normalized})
    return (rows[0][0], rows[0][1]) if rows else None


def faq_exact_answer(workspace_id: uuid.UUID | Any, normalized: str | Any) -> Any:
    """``faq_exact``'s answer text as a scalar subquery, for a statement that returns it beside
    its own columns (``conversations.record_message_metered``, which passes bind parameters
    for both)."""
    return _exact_match(Faq.answer, workspace_id, normalized).scalar_subquery()


def _nearest_statement() -> Any:
    faqs: Any = Faq.__table__
    questions: Any = FaqQuestion.__table__
    distance = questions.c.embedding.cosine_distance(vector_param("qvec"))
    return (
        select(faqs.c.id, faqs.c.answer, questions.c.text, distance.label("distance"))
        .join_from(faqs, questions, questions.c.faq_id == faqs.c.id)
        .where(
            questions.c.workspace_id == bindparam("ws", type_=questions.c.workspace_id.type),
            questions.c.embedding.is_not(None),
            faqs.c.enabled.is_(True),
        )
        .order_by(distance)
        .limit(NEAREST_VARIANTS)
    )


NEAREST_VARIANTS = 5
"""The closest FAQ variants a question is checked against (``faq.match``): when the closest is
refused by the words check (``rag.chat.match_guard``), another may still answer."""

# Built once (Core, not ORM entities): the answer pipeline runs it on every question it embeds.
_NEAREST = Prepared(_nearest_statement())


async def faq_nearest(
    executor: Executor, *, workspace_id: uuid.UUID, embedding: np.ndarray
) -> list[tuple[uuid.UUID, str, str, float]]:
    """The ``NEAREST_VARIANTS`` closest FAQ variants, closest first: each one's FAQ (id and
    answer), the variant's text and its cosine similarity (FAQs per workspace are few: exact
    scan)."""
    rows = await fetch(executor, _NEAREST, {"ws": workspace_id, "qvec": vector_value(embedding)})
    return [(row[0], row[1], row[2], 1.0 - float(row[3])) for row in rows]


# --- re-embedding after a model change ------------------------------------------------------

EMBEDDED_TEXT_TABLES = {"faq_questions": "text", "unanswered_questions": "question"}


async def texts_to_embed(
    session: AsyncSession, *, workspace_id: uuid.UUID, table: str
) -> list[tuple[uuid.UUID, str]]:
    column = EMBEDDED_TEXT_TABLES[table]
    result = await session.execute(
        text(f"SELECT id, {column} FROM {table} WHERE workspace_id = :ws ORDER BY id"),  # noqa: S608
        {"ws": workspace_id},
    )
    return [(row[0], str(row[1])) for row in result.all()]


async def set_embeddings(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    table: str,
    ids: Sequence[uuid.UUID],
    vectors: np.ndarray,
) -> None:
    if table not in EMBEDDED_TEXT_TABLES:
        raise ValueError(table)
    await session.execute(
        text(
            f"UPDATE {table} AS t SET embedding = u.v"  # noqa: S608
            " FROM unnest(CAST(:ids AS uuid[]), CAST(:vs AS vector[])) AS u(id, v)"
            " WHERE t.id = u.id AND t.workspace_id = :ws"
        ),
        {
            "ws": workspace_id,
            "ids": list(ids),
            "vs": vector_values(vectors),
        },
    )


async def lock_faq_quota(session: AsyncSession, workspace_id: uuid.UUID) -> None:
    """Until the transaction ends, one transaction per workspace adds, changes or deletes
    FAQs (an import all of its rows), or re-embeds their questions: FAQs created at once are
    counted, and checked for one another's questions, one after another. Taken before any
    FAQ's row (or question's) and the workspace's row (``bump_knowledge_version``): each FAQ
    write locks them in that one order. Waited for however long its holder runs (an import of
    500 rows embedded by a remote provider, up to the request's timeout): before, a wait past
    the statement timeout was cancelled and the owner's edit answered 500."""
    await wait_out(session, "faq_quota", workspace_id)


async def count_faqs(session: AsyncSession, *, workspace_id: uuid.UUID) -> int:
    result = await session.execute(
        select(func.count()).select_from(Faq).where(Faq.workspace_id == workspace_id)
    )
    return int(result.scalar_one())

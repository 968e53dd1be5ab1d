"""The curated FAQ knowledge base: answers before retrieval on an exact or close match.

Writes take the caller's ``WorkspaceAccess``: ``workspaces.permissions`` decides (``faq.create``,
``faq.update``, ``faq.delete``) and the permit records the audit entry.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import Database
from core.direct import Executor
from core.errors import Conflict, NotFound, ValidationFailed
from core.pagination import counted_page, cursor_scope
from core.text import has_visible
from rag.chat.match_guard import contradicts
from rag.chat.models import Faq
from rag.chat.normalize import normalize_question
from rag.chat.repository import faqs as faq_repo
from rag.knowledge.embeddings import Embedder
from workspaces import notifications, usage
from workspaces.models import Workspace
from workspaces.permissions import Action, authorize
from workspaces.plans import get_plan
from workspaces.repository import bump_knowledge_version
from workspaces.service import WorkspaceAccess

MAX_ALT_QUESTIONS = 20
# A phrasing is looked up by its normalized form (a btree index, whose rows hold at most 2,704
# bytes): 1,000 characters of Chinese are 3,000 bytes. Bounded in bytes below the index's limit.
MAX_NORMALIZED_BYTES = 2000


@dataclass(frozen=True)
class FaqMatch:
    faq_id: uuid.UUID
    answer: str
    kind: str  # exact | semantic
    similarity: float


def _variants(question: str, alt_questions: list[str]) -> list[str]:
    seen: dict[str, str] = {}
    for text in [question, *alt_questions]:
        text = text.strip()
        key = normalize_question(text)
        if text and key and key not in seen:
            seen[key] = text
    return list(seen.values())


def refuse_too_many(alt_questions: list[str] | None) -> None:
    """422 ``too_many_phrasings`` past ``MAX_ALT_QUESTIONS`` other phrasings: the request
    schemas refuse more, and so must every other way in (a CSV import merging phrasings)."""
    if alt_questions is not None and len(alt_questions) > MAX_ALT_QUESTIONS:
        message = (
            f"An FAQ may have at most {MAX_ALT_QUESTIONS} other phrasings"
            f" ({len(alt_questions)} given)"
        )
        raise ValidationFailed(
            message,
            code="too_many_phrasings",
            details=[{"field": "alt_questions", "message": message}],
        )


def refuse_unindexable(question: str | None, alt_questions: list[str] | None) -> None:
    """422 ``question_too_long`` for a phrasing whose normalized form the lookup index cannot
    hold (within the character limit, in a script of several bytes per character)."""
    phrasings: list[tuple[str, int | None, str]] = []
    if question is not None:
        phrasings.append(("question", None, question))
    phrasings += [("alt_questions", i, text) for i, text in enumerate(alt_questions or [])]
    for field, index, text in phrasings:
        if len(normalize_question(text).encode()) <= MAX_NORMALIZED_BYTES:
            continue
        which = "The question" if index is None else f"Other phrasing {index + 1}"
        message = (
            f"{which} is too long to look up: at most {MAX_NORMALIZED_BYTES} bytes of text"
            " (about 650 characters of Chinese or Hindi); shorten it"
        )
        detail: dict[str, Any] = {"field": field, "message": message}
        if index is not None:
            detail["index"] = index
        raise ValidationFailed(message, code="question_too_long", details=[detail])


def refuse_blank_answer(answer: str | None) -> None:
    """422 ``validation_failed`` (``field: answer``) for an answer that shows nothing: spaces,
    a zero-width space. Visitors would get an empty reply, from the FAQ (a reviewer's finding:
    the API took it, stripped to "")."""
    if answer is not None and not has_visible(answer):
        message = "The answer must not be blank"
        raise ValidationFailed(message, details=[{"field": "answer", "message": message}])


def distinct_phrasings(question: str, alt_questions: list[str]) -> list[str]:
    """The other phrasings once each, none the question itself, as visitors' questions are
    compared (``normalize_question``): "opening time" given twice, "OPENING TIME" and the
    question again were all stored, and counted ("Other phrasings: 4"). The first of each
    stays."""
    seen = {normalize_question(question)}
    kept = []
    for phrasing in alt_questions:
        if (key := normalize_question(phrasing)) not in seen:
            seen.add(key)
            kept.append(phrasing)
    return kept


def asked(faq: Faq) -> set[str]:
    """The normalized phrasings ``faq`` answers: its question and its other phrasings."""
    return {normalize_question(q) for q in (faq.question, *faq.alt_questions)}


class FaqDuplicate(Conflict):
    code = "faq_duplicate"
    message = "Another FAQ already asks this question: change that FAQ's answer instead"


async def _refuse_duplicates(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    question: str,
    alts: list[str],
    *,
    besides: uuid.UUID | None = None,
) -> None:
    """409 ``faq_duplicate`` naming the FAQ when another one already asks one of these
    questions (visitors would only ever get the older one's answer)."""
    normalized = [normalize_question(text) for text in _variants(question, alts)]
    existing = await faq_repo.faq_asking(
        session, workspace_id=workspace_id, normalized=normalized, besides=besides
    )
    if existing is not None:
        detail = {"field": "question", "faq_id": str(existing.id), "question": existing.question}
        raise FaqDuplicate(details=[detail])


async def _index(
    session: AsyncSession, embedder: Embedder, faq: Faq, question: str, alts: list[str]
) -> None:
    variants = _variants(question, alts)
    if not variants:
        raise ValidationFailed("question must contain words", details=[{"field": "question"}])
    vectors = await embedder.embed_documents(variants)
    await faq_repo.replace_faq_questions(
        session,
        workspace_id=faq.workspace_id,
        faq_id=faq.id,
        variants=[
            (text, normalize_question(text), np.asarray(vectors[i], dtype=np.float32))
            for i, text in enumerate(variants)
        ],
    )


async def check_quota(session: AsyncSession, workspace: Workspace, *, adding: int) -> int | None:
    """429 ``quota_exceeded`` (``metric: "faqs"``) when ``adding`` more FAQs do not fit the
    plan's ``faqs`` quota beside those stored. Under a quota it holds the workspace's lock until
    the commit, so FAQs added at once are counted one after another; the FAQs stored (None: no
    quota)."""
    plan_code = usage.effective_plan(workspace)
    if get_plan(plan_code).limit("faqs") is None:
        return None
    await faq_repo.lock_faq_quota(session, workspace.id)
    used = await faq_repo.count_faqs(session, workspace_id=workspace.id)
    usage.ensure_within(
        plan_code=plan_code, metric="faqs", used=used, adding=adding, resets_at=None
    )
    return used


async def count(session: AsyncSession, workspace_id: uuid.UUID) -> int:
    """The workspace's FAQs, as the usage report shows them."""
    return await faq_repo.count_faqs(session, workspace_id=workspace_id)


async def create(
    session: AsyncSession,
    embedder: Embedder,
    access: WorkspaceAccess,
    *,
    question: str,
    answer: str,
    alt_questions: list[str],
    enabled: bool = True,
) -> Faq:
    """Add an FAQ (answered verbatim to visitors); audited with its id, not its text."""
    permit = authorize(access, Action.FAQ_CREATE)
    alt_questions = distinct_phrasings(question, [q.strip() for q in alt_questions if q.strip()])
    refuse_too_many(alt_questions)
    refuse_unindexable(question, alt_questions)
    refuse_blank_answer(answer)
    workspace_id = access.workspace.id
    faq = Faq(
        id=uuid.uuid4(),
        workspace_id=workspace_id,
        question=question.strip(),
        answer=answer.strip(),
        alt_questions=[q.strip() for q in alt_questions if q.strip()],
        enabled=enabled,
    )
    # Before the duplicates are looked for: an FAQ added or imported at the same time is seen
    # once committed (looked for first, both were stored, two FAQs asking one question).
    await faq_repo.lock_faq_quota(session, workspace_id)
    await _refuse_duplicates(session, workspace_id, faq.question, faq.alt_questions)
    used = await check_quota(session, access.workspace, adding=1)  # before it is embedded
    await faq_repo.insert_faq(session, faq)
    if used is not None:  # the owners hear at 80% and 100% of the plan's FAQs, as for documents
        await notifications.stored_quota_used(
            session,
            workspace_id,
            plan_code=usage.effective_plan(access.workspace),
            before={"faqs": used},
            after={"faqs": used + 1},
        )
    await _index(session, embedder, faq, faq.question, faq.alt_questions)
    await bump_knowledge_version(session, workspace_id)
    # The id and counts, never the text: a question is often a visitor's own words (the
    # Unanswered page prefills it), and the audit log is append-only, out of an erasure's reach.
    await permit.record(
        session,
        target_type="faq",
        target_id=faq.id,
        details={"alt_questions": len(faq.alt_questions), "enabled": faq.enabled},
    )
    return faq


async def list_page(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    limit: int,
    cursor: str | None,
    offset: int = 0,
) -> tuple[list[Faq], int, str | None]:
    """A page of the workspace's FAQs, newest first, after ``cursor`` or ``offset`` rows in
    (deprecated), the total, and the cursor of the next page (None: there is none)."""
    return await counted_page(
        lambda after, size, skip: faq_repo.list_faqs(
            session, workspace_id=workspace_id, limit=size, offset=skip, after=after
        ),
        limit=limit,
        cursor=cursor,
        offset=offset,
        scope=cursor_scope("faqs", workspace_id),
    )


async def get(session: AsyncSession, *, workspace_id: uuid.UUID, faq_id: uuid.UUID) -> Faq:
    faq = await faq_repo.get_faq(session, workspace_id=workspace_id, faq_id=faq_id)
    if faq is None:
        raise NotFound("FAQ not found")
    return faq


async def update(
    session: AsyncSession,
    embedder: Embedder,
    access: WorkspaceAccess,
    *,
    faq_id: uuid.UUID,
    values: dict[str, Any],
) -> Faq:
    """Change an FAQ; audited with the names of the fields given, not their text."""
    permit = authorize(access, Action.FAQ_UPDATE)
    workspace_id = access.workspace.id
    # First, before the FAQ's row: an import holds it, then FAQ rows, then the workspace's row
    # (``bump_knowledge_version``). Taken after the row (an answer alone changed), each waited
    # for the other's row: PostgreSQL aborted one (a deadlock; the owner got 409).
    await faq_repo.lock_faq_quota(session, workspace_id)
    current = await get(session, workspace_id=workspace_id, faq_id=faq_id)
    clean: dict[str, Any] = {k: (v.strip() if isinstance(v, str) else v) for k, v in values.items()}
    if "alt_questions" in clean:
        given = [q.strip() for q in clean["alt_questions"] or [] if q.strip()]
        clean["alt_questions"] = distinct_phrasings(
            str(clean.get("question", current.question)), given
        )
    refuse_too_many(clean.get("alt_questions"))
    refuse_unindexable(clean.get("question"), clean.get("alt_questions"))
    refuse_blank_answer(clean.get("answer"))
    if "question" in clean or "alt_questions" in clean:
        # Only the phrasings it did not ask before: an FAQ keeps what it has, twins made before
        # FAQs were checked included.
        before = asked(current)
        wanted = [
            str(clean.get("question", current.question)),
            *list(clean.get("alt_questions", current.alt_questions) or []),
        ]
        new = [q for q in wanted if normalize_question(q) not in before]
        if new:  # under the FAQ lock, as ``create`` looks
            await _refuse_duplicates(session, workspace_id, new[0], new[1:], besides=faq_id)
    # The values before: the update refreshes ``current`` itself (the same session object).
    before_values = {k: getattr(current, k, None) for k in clean}
    faq = await faq_repo.update_faq(session, workspace_id=workspace_id, faq_id=faq_id, values=clean)
    assert faq is not None
    if "question" in clean or "alt_questions" in clean:
        await _index(session, embedder, faq, faq.question, list(faq.alt_questions))
    if any(before_values[k] != v for k, v in clean.items()):
        # Cached answers were settled without this FAQ's new wording: they retire.
        await bump_knowledge_version(session, workspace_id)
    await permit.record(
        session, target_type="faq", target_id=faq.id, details={"fields": sorted(values)}
    )
    return faq


async def delete(session: AsyncSession, access: WorkspaceAccess, *, faq_id: uuid.UUID) -> None:
    """Delete an FAQ; audited with its id, not its text."""
    permit = authorize(access, Action.FAQ_DELETE)
    workspace_id = access.workspace.id
    await faq_repo.lock_faq_quota(session, workspace_id)  # before the row, as ``update`` does
    faq = await get(session, workspace_id=workspace_id, faq_id=faq_id)
    alt_questions = len(faq.alt_questions)
    if not await faq_repo.delete_faq(session, workspace_id=workspace_id, faq_id=faq_id):
        raise NotFound("FAQ not found")
    await bump_knowledge_version(session, workspace_id)
    await permit.record(
        session, target_type="faq", target_id=faq_id, details={"alt_questions": alt_questions}
    )


async def reembed_workspace(
    db: Database, embedder: Embedder, workspace_id: uuid.UUID, *, batch: int = 256
) -> int:
    """Re-embed FAQ questions and unanswered questions (`trulybot reindex`)."""
    done = 0
    for table in faq_repo.EMBEDDED_TEXT_TABLES:
        async with db.transaction(workspace_id=workspace_id) as session:
            rows = await faq_repo.texts_to_embed(session, workspace_id=workspace_id, table=table)
        for start in range(0, len(rows), batch):
            part = rows[start : start + batch]
            vectors = await embedder.embed_documents([t for _, t in part])
            async with db.transaction(workspace_id=workspace_id) as session:
                if table == "faq_questions":
                    # As every FAQ write, before the rows: the batch's one statement took
                    # questions in id order, an import (FAQ by FAQ) in its own: a deadlock.
                    await faq_repo.lock_faq_quota(session, workspace_id)
                await faq_repo.set_embeddings(
                    session,
                    workspace_id=workspace_id,
                    table=table,
                    ids=[i for i, _ in part],
                    vectors=np.asarray(vectors, dtype=np.float32),
                )
            done += len(part)
    if done:
        async with db.transaction(workspace_id=workspace_id) as session:
            await bump_knowledge_version(session, workspace_id)
    return done


async def match(
    session: Executor,
    *,
    workspace_id: uuid.UUID,
    normalized: str,
    embedding: np.ndarray | None,
    threshold: float,
    question: str,
) -> FaqMatch | None:
    """A normalized exact match first, then the nearest variant above ``threshold`` whose words
    do not contradict ``question`` (``match_guard.contradicts``: "disable" is not "enable")."""
    if normalized:
        exact = await faq_repo.faq_exact(session, workspace_id=workspace_id, normalized=normalized)
        if exact is not None:
            return FaqMatch(exact[0], exact[1], "exact", 1.0)
    if embedding is None:
        return None
    nearest = await faq_repo.faq_nearest(session, workspace_id=workspace_id, embedding=embedding)
    for faq_id, answer, variant, similarity in nearest:
        if similarity < threshold:
            break
        if contradicts(question, variant) is None:
            return FaqMatch(faq_id, answer, "semantic", similarity)
    return None

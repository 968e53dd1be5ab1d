"""Conversations (filters, transcripts with citations and feedback) and unanswered questions
(grouped, each group one action away from an FAQ)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from functools import partial
from typing import Annotated, Any
from urllib.parse import quote_plus

from fastapi import APIRouter, Query, Request, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import QueryDatetime, RuntimeDep, SessionDep
from api.middleware import is_head
from api.unanswered_export import unanswered_export_response
from core.errors import AppError, ValidationFailed
from dashboard.list_place import MAX_BACK, Trail, conversation_trail, conversations_place
from dashboard.page_route import PageRoute, refuse_cross_site
from dashboard.pages.common import Page, PageDep, ReadSessionDep, SearchQuery, form_fields
from dashboard.pages.faqs import faq_refusal
from dashboard.web import counted, redirect, render
from rag.chat import conversations
from rag.chat.exchange import OWNER_SESSION_PREFIX
from rag.chat.faq import FaqDuplicate
from rag.chat.lead_thanks import language_of, lead_thanks_in
from rag.chat.repository import conversations as conversation_repo
from rag.chat.schemas import FaqIn
from workspaces import leads
from workspaces.permissions import Action

router = APIRouter(route_class=PageRoute)

PAGE_SIZE = 50
UNANSWERED_GROUPS = 50


@router.get("/w/{workspace_id}/conversations")
async def conversation_list(
    request: Request,
    page: PageDep,
    session: ReadSessionDep,
    status: Annotated[str | None, Query(pattern="^(|open|handoff|closed)$")] = None,
    channel: Annotated[str | None, Query(pattern="^(|widget|owner)$")] = None,
    lead: Annotated[str | None, Query(pattern="^(|yes|no)$")] = None,
    before: QueryDatetime | None = None,
    before_id: Annotated[uuid.UUID | None, Query()] = None,
    q: SearchQuery = None,
) -> Response:
    """A page of conversations, latest activity first, filtered; ``q``: those with a message
    (the visitor's or the bot's) containing the text, ignoring case, each shown with where it
    says it."""
    search = (q or "").strip()
    rows = await conversations.list_conversations(
        session,
        page.access,
        status=status or None,
        limit=PAGE_SIZE + 1,  # one more says whether a next page holds anything
        before=before,
        channel=channel or None,
        has_lead={"yes": True, "no": False}.get(lead or ""),
        before_id=before_id,
        q=search or None,
    )
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    next_before: datetime | None = rows[-1].last_message_at if more else None
    return render(
        request,
        "conversations.html",
        {
            "page": page,
            "conversations": rows,
            "first_messages": await conversations.first_visitor_messages(
                session, page.access, [row.id for row in rows]
            ),
            "mentions": await conversations.mentions(
                session, page.access, [row.id for row in rows], search
            )
            if search
            else {},
            "q": search,
            "status": status or "",
            "channel": channel or "",
            "lead": lead or "",
            "next_before": next_before.isoformat() if next_before else None,
            "next_before_id": str(rows[-1].id) if more else None,
            "first_page": before is None,
            # This page's place, for its rows' links and forms (``dashboard.list_place``).
            "place": Trail(conversations_place(request.url.query)),
        },
    )


@router.get("/w/{workspace_id}/conversations/{conversation_id}")
async def transcript(
    request: Request,
    conversation_id: uuid.UUID,
    page: PageDep,
    session: SessionDep,
    before: Annotated[str | None, Query(max_length=200)] = None,
    back: Annotated[str | None, Query(max_length=MAX_BACK)] = None,
    other: Annotated[str | None, Query(max_length=MAX_BACK)] = None,
) -> Response:
    """The latest messages of a conversation (what an owner opens it for: the handoff, the
    complaint, the lead), with a link to the earlier ones (``before``: a page's cursor). ``back``:
    the list's place it was opened from, for "← Conversations"; ``other``: the leads list's,
    when it was opened from its lead (``dashboard.list_place``)."""
    shown = await conversations.transcript(
        session, page.access, conversation_id=conversation_id, cursor=before, newest=True
    )
    feedback = await conversation_repo.feedback_for(
        session, workspace_id=page.workspace_id, message_ids=[m.id for m in shown.messages]
    )
    submissions = []
    if shown.conversation.lead_id is not None and page.may("leads.read"):
        submissions = await leads.conversation_submissions(
            session,
            page.access,
            lead_id=shown.conversation.lead_id,
            conversation_id=conversation_id,
        )
    return render(
        request,
        "transcript.html",
        {
            "page": page,
            "conversation": shown.conversation,
            "messages": shown.messages,
            "feedback": feedback,
            "timeline": _timeline(
                shown.messages, submissions, earlier=bool(shown.next_cursor), latest=before is None
            ),
            "earlier": shown.next_cursor,
            "latest": before is None,
            "place": conversation_trail(back, other),
            "erase_link": _erase_link(page, shown.conversation.session_id),
            # The widget's thanks: the owner's words (widget settings' texts.lead_thanks), else
            # the default in the visitor's language.
            "thanked": partial(
                lead_thanks_in,
                page.access.workspace.widget_config,
                language=language_of(None, ((m.role, m.text) for m in shown.messages)),
            ),
        },
    )


def _erase_link(page: Page, session_id: str) -> str | None:
    """Settings' erase form filled in with the conversation's widget session id, for whoever may
    erase a visitor; none for the team's own test chat (``owner-...``: not a visitor)."""
    if not page.may(Action.VISITOR_ERASE) or session_id.startswith(OWNER_SESSION_PREFIX):
        return None
    return page.url("settings") + "?erase_session=" + quote_plus(session_id) + "#erase-h"


STATUS_NOTICES = {
    "open": "Conversation reopened",
    "handoff": "Conversation marked as waiting for the team",
    "closed": "Conversation closed",
}


@router.post("/w/{workspace_id}/conversations/{conversation_id}/status")
async def conversation_status(
    request: Request, conversation_id: uuid.UUID, page: PageDep, session: SessionDep
) -> Response:
    """Close a handed-off conversation once dealt with, or reopen it: the API's status update
    (audited), then back to where the form was (the transcript, or the list), with the list's
    place (``back``: its filters and page; a form of an older page sent only ``list_status``)."""
    fields = await form_fields(request)
    status = str(fields.get("status") or "")
    await conversations.set_status(
        session, page.access, conversation_id=conversation_id, status=status
    )
    place = conversation_trail(
        fields.get("back") or f"status={fields.get('list_status')}", fields.get("other")
    )
    notice = "notice=" + quote_plus(STATUS_NOTICES.get(status, "Saved"))  # one of the three
    if fields.get("from") == "list":
        query = "&".join(part for part in (place.query, notice) if part)
        return redirect(request, page.url("conversations") + "?" + query)
    return redirect(request, page.url(f"conversations/{conversation_id}") + place.after(notice))


def _timeline(
    messages: Sequence[Any], submissions: Sequence[Any], *, earlier: bool, latest: bool
) -> list[tuple[str, Any]]:
    """The page's messages with the contact forms the visitor sent among them, by time
    ("message" or "lead" rows): the forms sent within the page's span (before its first
    message only on the first page, after its last only on the latest)."""
    low = messages[0].created_at if messages and earlier else None
    high = messages[-1].created_at if messages and not latest else None
    rows: list[tuple[str, Any]] = [("message", m) for m in messages]
    rows += [
        ("lead", s)
        for s in submissions
        if (low is None or s.created_at >= low) and (high is None or s.created_at <= high)
    ]
    return sorted(rows, key=lambda row: row[1].created_at)


async def _unanswered_page(
    request: Request,
    page: Page,
    session: AsyncSession,
    *,
    refused: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    """The groups; a refused answer (``refused``: the posted ids, values and reasons) comes back
    in its group's form, or above the groups when that group is gone (dealt with meanwhile)."""
    groups = await conversations.unanswered_groups(session, page.access, limit=UNANSWERED_GROUPS)
    refused_at = None
    if refused is not None:
        posted = set(refused["ids"])
        refused_at = next(
            (i for i, g in enumerate(groups) if posted & {str(x) for x in g["ids"]}), None
        )
    context = {"page": page, "groups": groups, "refused": refused, "refused_at": refused_at}
    return render(request, "unanswered.html", context, status_code=status_code)


@router.get("/w/{workspace_id}/unanswered")
async def unanswered(request: Request, page: PageDep, session: SessionDep) -> Response:
    return await _unanswered_page(request, page, session)


@router.get("/w/{workspace_id}/unanswered/export")
async def export_unanswered(
    request: Request, page: PageDep, session: SessionDep, runtime: RuntimeDep
) -> Response:
    """Every unanswered question not dealt with as CSV (audited; owners and admins). HEAD: the
    headers alone. Started from another site: refused (``refuse_cross_site``)."""
    if (refused := refuse_cross_site(request, page.url("unanswered"))) is not None:
        return refused
    return await unanswered_export_response(
        session, runtime, page.access, for_spreadsheets=True, head=is_head(request.scope)
    )


def _group_ids(fields: dict[str, Any]) -> list[uuid.UUID]:
    """The posted group's question ids (hidden fields: anything else is a stale or forged
    form)."""
    raw_ids = fields.get("ids") or []
    try:
        ids = [uuid.UUID(str(i)) for i in (raw_ids if isinstance(raw_ids, list) else [raw_ids])]
    except ValueError as exc:
        raise ValidationFailed("The question group is not valid; reload the page") from exc
    if not ids or len(ids) > 2000:
        raise ValidationFailed("The question group is not valid; reload the page")
    return ids


def _answer_values(fields: dict[str, Any]) -> dict[str, Any]:
    alternatives = fields.get("alt_questions") or []
    return {
        "question": str(fields.get("question") or "").strip(),
        "answer": str(fields.get("answer") or "").strip(),
        "alt_questions": [
            a.strip()
            for a in (alternatives if isinstance(alternatives, list) else [alternatives])
            if a.strip()
        ][:20],
    }


ALREADY_ASKED = " Or, if that FAQ answers these questions, mark them as dealt with."


@router.post("/w/{workspace_id}/unanswered/faq")
async def unanswered_to_faq(
    request: Request, page: PageDep, session: SessionDep, runtime: RuntimeDep
) -> Response:
    """The group's answer as an FAQ, and the group resolved; a refusal (no answer, a question
    another FAQ already asks) comes back in the group's form with what was typed."""
    fields = await form_fields(request)
    ids = _group_ids(fields)
    values = _answer_values(fields)
    try:
        data = FaqIn.model_validate(values)
        # A savepoint: the page drawn after a refusal shows nothing of the refused FAQ.
        async with session.begin_nested():
            _, resolved = await conversations.answer_unanswered(
                session,
                runtime.embedder,
                page.access,
                question=data.question,
                answer=data.answer,
                alt_questions=data.alt_questions,
                ids=ids,
            )
    except (ValidationError, AppError) as exc:
        errors, status = faq_refusal(exc)
        if isinstance(exc, FaqDuplicate):
            errors["question"] += ALREADY_ASKED
        refused = {"ids": [str(i) for i in ids], "values": values, "errors": errors}
        return await _unanswered_page(request, page, session, refused=refused, status_code=status)
    notice = (
        f"FAQ added and {counted(resolved, 'question')} resolved"
        if resolved
        else "FAQ added. Its questions had already been dealt with"
    )
    return redirect(request, page.url("unanswered") + "?notice=" + quote_plus(notice))


@router.post("/w/{workspace_id}/unanswered/resolve")
async def resolve_group(request: Request, page: PageDep, session: SessionDep) -> Response:
    """Mark a group as dealt with, without an FAQ (an FAQ already answers it, or it needs none):
    the same service as the API's resolve."""
    ids = _group_ids(await form_fields(request))
    resolved = await conversations.resolve_unanswered(session, page.access, ids=ids)
    notice = (
        f"{counted(resolved, 'question')} marked as dealt with"
        if resolved
        else "Those questions had already been dealt with"
    )
    return redirect(request, page.url("unanswered") + "?notice=" + quote_plus(notice))

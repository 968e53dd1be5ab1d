"""The knowledge page's FAQ forms: create one (or many, from a CSV file), edit, delete; a
refused one comes back beside its form on the knowledge page (``knowledge.knowledge_page``)."""

from __future__ import annotations

import uuid
from urllib.parse import quote_plus

from fastapi import APIRouter, Request, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import UploadFile

from api.deps import RuntimeDep, SessionDep
from api.ingest_limit import rate_limit_ingest
from core.errors import AppError, NotFound, ValidationFailed
from dashboard.page_route import PageRoute
from dashboard.pages.common import (
    InvalidText,
    Page,
    PageDep,
    app_errors,
    form_fields,
    ingest_refusal,
    refusal,
)
from dashboard.pages.knowledge import FAQ_GONE, already_deleted, knowledge_page
from dashboard.web import is_htmx, redirect, render
from rag.chat import faq as faq_service
from rag.chat import faq_import
from rag.chat.faq import FaqDuplicate
from rag.chat.models import Faq
from rag.chat.schemas import FaqIn
from workspaces.permissions import Action

router = APIRouter(route_class=PageRoute)


def _faq_values(fields: dict[str, object]) -> dict[str, object]:
    alternatives = str(fields.get("alt_questions") or "")
    return {
        "question": str(fields.get("question") or "").strip(),
        "answer": str(fields.get("answer") or "").strip(),
        "alt_questions": [line.strip() for line in alternatives.splitlines() if line.strip()],
        "enabled": fields.get("enabled") in ("on", "true", "1"),
    }


def faq_refusal(exc: ValidationError | AppError) -> tuple[dict[str, str], int]:
    """A refused FAQ's reasons by field (a duplicate names the FAQ that already asks it) and
    the status."""
    errors, status = refusal(exc)
    if isinstance(exc, FaqDuplicate) and isinstance(exc.details, list) and exc.details:
        other = str(exc.details[0].get("question") or "")
        errors = {"question": f"Another FAQ already asks this (“{other}”): edit that one instead."}
    return errors, status


@router.post("/w/{workspace_id}/knowledge/faqs")
async def create_faq(
    request: Request, page: PageDep, session: SessionDep, runtime: RuntimeDep
) -> Response:
    try:
        fields = await form_fields(request)
    except InvalidText as exc:
        forms = {"faq_values": _faq_values(exc.fields), "faq_errors": app_errors(exc)}
        return await knowledge_page(request, page, session, forms=forms, status_code=422)
    values = _faq_values(fields)
    try:
        data = FaqIn.model_validate({**values, "enabled": True})
        # A savepoint: a refusal after the FAQ's row was written ("?" has no words) must not
        # show that row on the page drawn in this transaction.
        async with session.begin_nested():
            await faq_service.create(
                session,
                runtime.embedder,
                page.access,
                question=data.question,
                answer=data.answer,
                alt_questions=data.alt_questions,
            )
    except (ValidationError, AppError) as exc:
        errors, status = faq_refusal(exc)
        forms = {"faq_values": values, "faq_errors": errors}
        return await knowledge_page(request, page, session, forms=forms, status_code=status)
    return redirect(request, page.url("knowledge") + "?notice=FAQ+added#faqs")


def import_refusal(exc: AppError, reason: str) -> dict[str, object]:
    """A refused CSV import for the import form: the reason and each row to fix (row, column,
    why), shown beside the form (the generic error page had no way back to it)."""
    title = "Plan limit reached. " if exc.code == "quota_exceeded" else ""
    rows = []
    for detail in exc.details if isinstance(exc.details, list) else []:
        if isinstance(detail, dict) and detail.get("row") and detail.get("message"):
            message = str(detail["message"])
            if not message.startswith("Row "):
                message = f"Row {detail['row']}, {detail.get('field') or 'row'}: {message}"
            rows.append(message)
    return {"message": title + reason, "rows": rows}


@router.post("/w/{workspace_id}/knowledge/faqs/import")
async def import_faqs(
    request: Request, page: PageDep, session: SessionDep, runtime: RuntimeDep
) -> Response:
    form = await request.form()
    upload = form.get("file")
    try:
        # Every row's phrasings are embedded: the ingestion budget, as for documents.
        await rate_limit_ingest(request, page.access, Action.FAQ_CREATE)
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise ValidationFailed("Choose a CSV file to import")
        data = await upload.read(faq_import.MAX_BYTES + 1)
        # A savepoint: a row refused halfway leaves none of the file's rows stored, nor on
        # the page drawn in this transaction.
        async with session.begin_nested():
            result = await faq_import.import_csv(session, runtime.embedder, page.access, data)
    except AppError as exc:
        reason, status, headers = ingest_refusal(exc)  # not allowed: its own page
        # The savepoint's rollback expired the workspace the rows before the refused one
        # touched: loaded again for the page.
        await session.refresh(page.access.workspace)
        forms = {"import_error": import_refusal(exc, reason)}
        return await knowledge_page(
            request, page, session, forms=forms, status_code=status, headers=headers
        )
    notice = f"{result.created} FAQs imported" + (
        f", {result.updated} updated" if result.updated else ""
    )
    return redirect(request, page.url("knowledge") + "?notice=" + quote_plus(notice) + "#faqs")


@router.get("/w/{workspace_id}/knowledge/faqs/{faq_id}")
async def edit_faq_page(
    request: Request, faq_id: uuid.UUID, page: PageDep, session: SessionDep
) -> Response:
    faq = await faq_service.get(session, workspace_id=page.workspace_id, faq_id=faq_id)
    values = {
        "question": faq.question,
        "answer": faq.answer,
        "alt_questions": list(faq.alt_questions),
        "enabled": faq.enabled,
    }
    context = {"faq": faq, "values": values, "page": page, "errors": {}, "seen": _version(faq)}
    return render(request, "faq_edit.html", context)


def _version(faq: Faq) -> str:
    """The FAQ as its form was shown (its last change), sent back with the edit."""
    return faq.updated_at.isoformat()


FAQ_CHANGED = (
    "This FAQ was changed meanwhile (by a teammate, or in another tab) since you opened it, "
    "so your changes were not saved. The saved version is: {saved}. Save again to replace it "
    "with what is below."
)


@router.post("/w/{workspace_id}/knowledge/faqs/{faq_id}")
async def update_faq(
    request: Request, faq_id: uuid.UUID, page: PageDep, session: SessionDep, runtime: RuntimeDep
) -> Response:
    try:
        faq = await faq_service.get(session, workspace_id=page.workspace_id, faq_id=faq_id)
    except NotFound:
        return await _faq_gone(request, page, session)
    try:
        fields = await form_fields(request)
        values = _faq_values(fields)
    except InvalidText as exc:
        context = {
            "faq": faq,
            "values": _faq_values(exc.fields),
            "page": page,
            "errors": app_errors(exc),
            "seen": str(exc.fields.get("seen") or ""),
        }
        return render(request, "faq_edit.html", context, status_code=422)
    seen = str(fields.get("seen") or "")
    if seen and seen != _version(faq):
        # Saved over, the other tab's or teammate's change was lost without a word: what was
        # typed comes back with the saved version, and a second Save replaces it knowingly.
        saved = f"“{faq.answer}”" + ("" if faq.enabled else " (switched off)")
        errors = {"_form": FAQ_CHANGED.format(saved=saved)}
        context = {
            "faq": faq,
            "values": values,
            "page": page,
            "errors": errors,
            "seen": _version(faq),
        }
        return render(request, "faq_edit.html", context, status_code=409)
    try:
        # The answer as validated: its line breaks one LF each, as the form counted them.
        answer = FaqIn.model_validate(values).answer
        async with session.begin_nested():  # a refusal leaves the FAQ as it was
            await faq_service.update(
                session,
                runtime.embedder,
                page.access,
                faq_id=faq_id,
                values={**values, "answer": answer},
            )
    except (ValidationError, AppError) as exc:
        # What the owner typed comes back beside the error, not the saved FAQ.
        errors, status = faq_refusal(exc)
        context = {"faq": faq, "values": values, "page": page, "errors": errors, "seen": seen}
        return render(request, "faq_edit.html", context, status_code=status)
    return redirect(request, page.url("knowledge") + "?notice=FAQ+saved#faqs")


FAQ_EDIT_GONE = (
    "This FAQ was deleted meanwhile (by a teammate, or in another tab). Your changes were not "
    "saved: here they are, to add it again as a new FAQ."
)


async def _faq_gone(request: Request, page: Page, session: AsyncSession) -> Response:
    """An edit sent for an FAQ deleted since its form was shown: the knowledge page (404), with
    what was typed in the form that adds an FAQ (the generic 404 page lost it, and said the FAQ
    might be another workspace's)."""
    try:
        values = _faq_values(await form_fields(request))
    except InvalidText as exc:
        values = _faq_values(exc.fields)
    forms = {"faq_values": values, "faq_errors": {"_form": FAQ_EDIT_GONE}}
    return await knowledge_page(request, page, session, forms=forms, status_code=404)


@router.post("/w/{workspace_id}/knowledge/faqs/{faq_id}/delete")
async def delete_faq(
    request: Request, faq_id: uuid.UUID, page: PageDep, session: SessionDep
) -> Response:
    try:
        faq = await faq_service.get(session, workspace_id=page.workspace_id, faq_id=faq_id)
    except NotFound:
        return await already_deleted(request, page, session, FAQ_GONE, anchor="#faqs")
    await faq_service.delete(session, page.access, faq_id=faq_id)
    if is_htmx(request):
        # The row goes (the answer's body is empty); the heading's count and the status line
        # are swapped in out of band.
        total = await faq_service.count(session, page.workspace_id)
        context = {"oob": True, "faq_total": total, "deleted": faq.question}
        return render(request, "_faqs_heading.html", context)
    return redirect(request, page.url("knowledge") + "?notice=FAQ+deleted#faqs")

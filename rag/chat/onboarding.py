"""The owner's getting-started checklist: each step ticks itself from what the workspace did."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from rag.chat.repository import conversations as conversation_repo
from rag.chat.repository import faqs as faq_repo
from rag.knowledge.repository import documents as document_repo
from workspaces.service import WorkspaceAccess


@dataclass(frozen=True)
class Step:
    key: str
    title: str
    done: bool
    detail: str
    page: str
    """The dashboard page where the step is done."""


async def checklist(
    session: AsyncSession, access: WorkspaceAccess, *, sites_required: bool
) -> list[Step]:
    """The steps, each ticked or not. ``sites_required``: no site may embed the widget until it
    is listed (production), so the install step says to list it first while the list is
    empty."""
    workspace = access.workspace
    documents = await document_repo.count_documents(session, workspace.id)
    faqs = await faq_repo.count_faqs(session, workspace_id=workspace.id)
    tried = await conversation_repo.has_conversation(
        session, workspace_id=workspace.id, channel="owner"
    )
    config = workspace.widget_config or {}
    customised = any(config.get(k) for k in ("bot_name", "greeting", "primary_color"))
    installed = workspace.widget_installed_at is not None
    unlisted = sites_required and not config.get("allowed_origins")
    return [
        Step(
            "knowledge",
            "Add knowledge",
            documents + faqs > 0,
            f"{documents} document(s) and {faqs} FAQ(s)"
            if documents + faqs
            else "Upload documents, add web pages or write FAQs the bot answers from.",
            "knowledge",
        ),
        Step(
            "tried",
            "Try the bot",
            tried,
            "You asked the bot in the playground."
            if tried
            else "Ask the bot in the playground, as a visitor would.",
            "playground",
        ),
        Step(
            "widget",
            "Customise the widget",
            customised,
            "The widget has your name, greeting or colour."
            if customised
            else "Give the widget your bot's name, a greeting and your colour.",
            "widget",
        ),
        Step(
            "installed",
            "Install the snippet on your site",
            installed,
            f"First seen on {workspace.widget_installed_origin}."
            if installed
            else "List your site under the widget's allowed websites: until then the widget "
            "stays hidden on every site. Then paste the embed snippet into your site; this "
            "ticks at the first visit."
            if unlisted
            else "Paste the embed snippet into your site; this ticks at the first visit.",
            "widget",
        ),
    ]

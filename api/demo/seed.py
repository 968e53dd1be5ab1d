"""The demo workspace `make run` shows at `/`: seeded at first start, reused afterwards.

It belongs to a demo owner whose credentials are written to ``<data_dir>/demo-owner.json`` so a
newcomer can also try the owners' API (leads, conversations, usage) on the same data.
"""

from __future__ import annotations

import json
import logging
import secrets
import uuid
from pathlib import Path
from typing import Any

from api.runtime import Runtime
from core.db import set_tenant
from core.errors import Conflict
from rag.chat import faq as faq_service
from rag.knowledge import jobs as knowledge_jobs
from rag.knowledge import reindexing, submissions
from workspaces import accounts, service
from workspaces import repository as workspace_repo

log = logging.getLogger("trulybot.demo")

CONTENT = Path(__file__).resolve().parent
DEMO_EMAIL = "demo-owner@trulybot.local"
DEMO_WORKSPACE = "Acme Cloud Backup"
DOCUMENTS = ("pricing.md", "refunds.md", "setup.md", "platforms.md")
WIDGET = {
    "bot_name": "Acme helper",
    "greeting": "Hi! I can answer questions about Acme Cloud Backup: plans, refunds, setup.",
    "primary_color": "#2563eb",
    "lead_capture": "on_intent",
    "lead_fields": ["email", "name"],
    "suggested_questions": [
        "How much is the Family plan?",
        "Can I get a refund on a yearly plan?",
        "Does it work on Linux?",
    ],
}


async def ensure_demo(runtime: Runtime) -> dict[str, Any]:
    """Create (once) and return the demo workspace's ids and public key."""
    found: dict[str, Any] | None = None
    async with runtime.db.transaction() as session:
        user = await workspace_repo.get_user_by_email(session, DEMO_EMAIL)
        if user is not None:
            await set_tenant(session, user_id=user.id)
            rows = await workspace_repo.list_user_workspaces(session, user.id)
            if rows:
                workspace = rows[0][0]
                found = {"workspace_id": str(workspace.id), "public_key": workspace.public_key}
    if found is not None:
        # Seeded by a release that stored no BM25 terms (or with RETRIEVAL_LEXICAL_WEIGHT at 0):
        # its few chunks get them now, else the demo would keep the vector order for good (the
        # search fuses only a workspace whose chunks all have terms). No embedding; nothing to
        # do once they are stored.
        if runtime.settings.retrieval_lexical_weight > 0:
            await reindexing.fill_terms(runtime.ingestion, uuid.UUID(found["workspace_id"]))
        return found
    password = secrets.token_urlsafe(12)
    try:
        return await _seed(runtime, password)
    except Conflict:  # another worker seeded it at the same moment
        return await ensure_demo(runtime)


async def _seed(runtime: Runtime, password: str) -> dict[str, Any]:
    settings = runtime.settings
    async with runtime.db.transaction() as session:
        user, workspace = await service.signup(
            session,
            email=DEMO_EMAIL,
            password=password,
            workspace_name=DEMO_WORKSPACE,
            name="Demo owner",
            plan="unlimited",
        )
        # The demo owner can do everything at once (invite, buy, export): no mail to click.
        await accounts.mark_verified(session, user.id)
        await workspace_repo.update_workspace(session, workspace.id, {"widget_config": WIDGET})
        # `serve` seeds it (SEED_DEMO) for whoever runs the server; the audit log names them.
        access = service.WorkspaceAccess.operator(workspace, command="serve")
        documents: list[uuid.UUID] = []
        for name in DOCUMENTS:
            submission = await submissions.submit_upload(
                session,
                access,
                data=(CONTENT / name).read_bytes(),
                filename=name,
                content_type="text/markdown",
                settings=settings,
            )
            documents.append(submission.document.id)
        for item in json.loads((CONTENT / "faqs.json").read_text()):
            await faq_service.create(
                session,
                runtime.embedder,
                access,
                question=item["question"],
                answer=item["answer"],
                alt_questions=item.get("alt_questions", []),
            )
        workspace_id, public_key = workspace.id, workspace.public_key
    for document_id in documents:
        await knowledge_jobs.ingest_document(runtime.ingestion, workspace_id, document_id)
    credentials = {
        "email": DEMO_EMAIL,
        "password": password,
        "workspace_id": str(workspace_id),
        "public_key": public_key,
    }
    path = Path(settings.data_dir) / "demo-owner.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(credentials, indent=2))
    path.chmod(0o600)
    log.info("demo workspace seeded; owner credentials in %s", path)
    return {"workspace_id": str(workspace_id), "public_key": public_key}


def demo_login(data_dir: Path | str) -> dict[str, str] | None:
    """The demo owner's email and password as seeded (None if the file is gone or unreadable)."""
    try:
        saved = json.loads((Path(data_dir) / "demo-owner.json").read_text())
        return {"email": str(saved["email"]), "password": str(saved["password"])}
    except (OSError, ValueError, KeyError):
        return None


__all__ = ["DEMO_EMAIL", "demo_login", "ensure_demo"]

"""The workspace's ingestion budget (``RATE_LIMIT_INGEST``): who spends it, and when.

Every request that adds knowledge (a document's content, a web page or sitemap, a retry, a
source synced now, the dashboard's FAQ CSV import) counts once against its workspace, after the
caller is known to be allowed the action and before anything of the request is checked or done.
A caller the permission table refuses (403 ``insufficient_role``: a member, or an API key where
only people may act) spends nothing: counted first, a member refused on every form spent the
owners' budget. A request from an allowed caller refused for its input (malformed body, a file
too large or of a type not taken, an unknown document) spends it like an accepted one: its body
was received and read, and whoever can send it could spend the budget with accepted requests as
well. Requests the app refuses before the route (no CSRF token, a body over the server's cap)
never reach it and spend nothing.

The service called next asks the permission table again (it is the authority; asking twice
costs a lookup in a dict).
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request

from api.deps import WorkspaceDep
from api.runtime import Runtime
from api.throttling import enforce
from workspaces.permissions import Action, authorize
from workspaces.service import WorkspaceAccess


async def rate_limit_ingest(request: Request, access: WorkspaceAccess, action: Action) -> None:
    """403 ``insufficient_role`` when ``access`` may not ``action`` (nothing counted); else one
    request against ``RATE_LIMIT_INGEST`` for the workspace (429 ``rate_limited`` past it)."""
    authorize(access, action)
    runtime: Runtime = request.app.state.runtime
    limit = runtime.settings.rate_limit_ingest
    await enforce(request, "ingest", f"ws:{access.workspace.id}", limit)


def ingest_limit(action: Action) -> Any:
    """``rate_limit_ingest`` for ``action`` as a route dependency (``dependencies=[...]``)."""

    async def dependency(request: Request, access: WorkspaceDep) -> None:
        await rate_limit_ingest(request, access, action)

    return Depends(dependency)


DocumentWriteLimit = ingest_limit(Action.DOCUMENT_WRITE)
DocumentRetryLimit = ingest_limit(Action.DOCUMENT_RETRY)
SourceSyncLimit = ingest_limit(Action.SOURCE_SYNC)

"""Owner notifications: a member's own preferences, and the one-click unsubscribe address.

The unsubscribe link in a mail opens the dashboard page ``/app/unsubscribe`` (it asks, then
turns the kind off); mail clients that offer "unsubscribe" post to the address below
(``List-Unsubscribe-Post``, RFC 8058), which needs no sign-in: the signed token is the proof.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status

from api.deps import SessionDep, SettingsDep, WorkspaceDep
from workspaces import notifications
from workspaces.schemas import NotificationPreferencesIn, NotificationPreferencesOut

router = APIRouter(tags=["notifications"])

TokenQuery = Annotated[str, Query(max_length=256)]


def _out(preferences: list[notifications.Preference]) -> dict[str, Any]:
    return {"preferences": [vars(p) for p in preferences], "modes": list(notifications.MODES)}


@router.get(
    "/workspaces/{workspace_id}/notifications/preferences",
    response_model=NotificationPreferencesOut,
)
async def get_preferences(access: WorkspaceDep, session: SessionDep) -> Any:
    """The signed-in member's own notification preferences, one per event kind."""
    return _out(await notifications.preferences(session, access))


@router.put(
    "/workspaces/{workspace_id}/notifications/preferences",
    response_model=NotificationPreferencesOut,
)
async def put_preferences(
    body: NotificationPreferencesIn, access: WorkspaceDep, session: SessionDep
) -> Any:
    """Change the signed-in member's modes (``immediate`` | ``daily_digest`` | ``off``) for the
    kinds given; the others keep theirs."""
    return _out(await notifications.update_preferences(session, access, body.preferences))


@router.post("/notifications/unsubscribe", status_code=status.HTTP_204_NO_CONTENT)
async def one_click_unsubscribe(
    token: TokenQuery, session: SessionDep, settings: SettingsDep
) -> Response:
    """One-click unsubscribe (the mail's ``List-Unsubscribe``): no sign-in, idempotent."""
    await notifications.unsubscribe(session, settings.jwt_key, token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)

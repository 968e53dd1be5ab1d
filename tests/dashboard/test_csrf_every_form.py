"""CSRF on every state-changing dashboard request: a signed-in browser's post to any of the
dashboard's routes (a sweep over them), sent without its token or with another browser's, is
refused with 403 before its handler runs."""

from __future__ import annotations

import re
import uuid

from fastapi.routing import APIRoute

from api.runtime import Runtime
from dashboard.app import PAGE_ROUTERS
from dashboard.web import PREFIX, SAFE_METHODS
from tests.conftest import client_for
from tests.dashboard.conftest import WebOwner, web_signup


def _state_changing_routes(workspace_id: str) -> list[tuple[str, str]]:
    """(method, path) of every dashboard route that changes something, its workspace ours and
    any other id a random one (a handler that ran would answer 404, not 403)."""
    found = []
    for router in PAGE_ROUTERS:
        for route in router.routes:
            if not isinstance(route, APIRoute):
                continue
            values = {
                name: workspace_id if name == "workspace_id" else str(uuid.uuid4())
                for name in re.findall(r"{(\w+)}", route.path)
            }
            for method in sorted(set(route.methods) - SAFE_METHODS):
                found.append((method, PREFIX + route.path.format(**values)))
    return found


async def test_every_form_needs_this_browsers_token(runtime: Runtime, web: WebOwner) -> None:
    async with client_for(runtime) as other_browser:
        other = await web_signup(other_browser, "Other")
    routes = _state_changing_routes(web.workspace_id)
    assert len(routes) >= 50
    for method, path in routes:
        for data in ({"name": "x"}, {"csrf_token": other.csrf, "name": "x"}):
            refused = await web.client.request(method, path, data=data)
            assert refused.status_code == 403, (method, path, data, refused.status_code)
            assert "The form expired or did not come from this site" in refused.text, path
    # The browser is still signed in and its own token still works.
    assert (await web.client.get(web.url())).status_code == 200
    renamed = await web.post(web.url("settings"), {"name": "Still mine"})
    assert renamed.status_code == 303

"""The login and sign-up forms past a limit come back as the form, with the address typed and
when to try again: before, the bare "Too many requests" page, whose only link ("Back to the
dashboard") led a signed-out owner back to the login page, with no hint of how long to wait
(the Retry-After header said it; the page did not)."""

from __future__ import annotations

import html
import re
import uuid

from tests.conftest import RuntimeFactory, client_for
from tests.dashboard.conftest import csrf_of, web_login

FORM_ERROR = re.compile(r'role="alert"[^>]*>([^<]*try again in[^<]*)<')


async def test_the_login_form_past_the_limit_is_the_form_with_the_wait(
    runtime_factory: RuntimeFactory,
) -> None:
    async with (
        runtime_factory(rate_limits="on", rate_limit_auth="2/minute") as runtime,
        client_for(runtime) as client,
    ):
        email = f"owner-{uuid.uuid4().hex[:8]}@example.com"
        for _ in range(2):
            assert (await web_login(client, email, "wrong password")).status_code == 401
        refused = await web_login(client, email, "wrong password")
        assert refused.status_code == 429, refused.text[:500]
        wait = int(refused.headers["Retry-After"])
        assert wait > 0
        said = html.unescape(FORM_ERROR.search(refused.text).group(1))  # type: ignore[union-attr]
        assert said.startswith("Too many sign-in and sign-up attempts from this address"), said
        assert re.search(r"try again in \d+ (seconds|minutes)\.$", said), said
        assert f'value="{email}"' in refused.text  # the address typed is kept
        assert 'name="password"' in refused.text
        assert "Back to the dashboard" not in refused.text


async def test_the_signup_form_past_the_limit_keeps_what_was_typed(
    runtime_factory: RuntimeFactory,
) -> None:
    async with (
        runtime_factory(rate_limits="on", rate_limit_auth="1/minute") as runtime,
        client_for(runtime) as client,
    ):
        page = await client.get("/app/signup")
        name = f"Shop {uuid.uuid4().hex[:6]}"
        form = {
            "csrf_token": csrf_of(page.text),
            "email": f"new-{uuid.uuid4().hex[:8]}@example.com",
            "password": "correct horse battery",
            "workspace_name": name,
        }
        assert (await client.post("/app/signup", data=form)).status_code == 200
        refused = await client.post("/app/signup", data={**form, "email": "b" + form["email"]})
        assert refused.status_code == 429, refused.text[:500]
        assert int(refused.headers["Retry-After"]) > 0
        assert FORM_ERROR.search(refused.text), refused.text[:3000]
        assert name in html.unescape(refused.text)

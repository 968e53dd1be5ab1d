"""The signed-out forms' double-submit cookie over HTTPS is ``__Host-tb_csrf``: Secure, Path=/,
no Domain, so only this host can set it. A plain ``tb_csrf`` can be planted by any sibling
subdomain that sets cookies for the parent domain; with a token the planter got for its value,
their page signed the visitor in to the planter's account (login CSRF). Plain HTTP (``make
run``) keeps ``tb_csrf``; a form shown before the upgrade still signs in from this site."""

from __future__ import annotations

import uuid

import httpx

from api.runtime import Runtime
from tests.conftest import client_for
from tests.dashboard.conftest import PASSWORD, csrf_of, web_signup

HTTPS = "https://testserver"


def _set_cookies(response: httpx.Response) -> list[str]:
    return [v for k, v in response.headers.multi_items() if k == "set-cookie"]


async def _harvested_token(runtime: Runtime, value: str) -> str:
    """What a planter gets for a ``tb_csrf`` value of their choosing: the login page's token,
    fetched with that cookie (over plain HTTP here, as any page before the upgrade gave it)."""
    async with client_for(runtime) as planter:
        planter.cookies.set("tb_csrf", value)
        return csrf_of((await planter.get("/app/login")).text)


async def test_over_https_the_cookie_is_host_only(runtime: Runtime) -> None:
    async with client_for(runtime, base_url=HTTPS) as browser:
        page = await browser.get("/app/login")
        [cookie] = [c for c in _set_cookies(page) if "csrf" in c]
        assert cookie.startswith("__Host-tb_csrf="), cookie
        flags = [part.strip().lower() for part in cookie.split(";")]
        assert {"secure", "httponly", "path=/", "samesite=strict"} <= set(flags), flags
        assert not any(flag.startswith("domain=") for flag in flags), flags


async def test_a_planted_cookie_does_not_sign_a_browser_in_over_https(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    planter = await web_signup(client, "Planter's")
    value = uuid.uuid4().hex
    token = await _harvested_token(runtime, value)
    async with client_for(runtime, base_url=HTTPS) as victim:
        victim.cookies.set("tb_csrf", value)  # set for the parent domain by a sibling
        posted = await victim.post(
            "/app/login",
            data={"csrf_token": token, "email": planter.email, "password": PASSWORD},
            headers={"Sec-Fetch-Site": "same-site", "Origin": "https://evil.testserver"},
        )
        assert posted.status_code == 403, posted.text
        assert not any(c.startswith("tb_session=") for c in _set_cookies(posted))
        # The browser's own form signs in, the planted cookie beside it.
        page = await victim.get("/app/login")
        own = await victim.post(
            "/app/login",
            data={"csrf_token": csrf_of(page.text), "email": planter.email, "password": PASSWORD},
        )
        assert own.status_code == 303, own.text


async def test_a_form_shown_before_the_upgrade_still_signs_in_from_this_site(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    """Rollout: the login page shown before the upgrade set ``tb_csrf`` and carries its token;
    sent from this very origin (``Sec-Fetch-Site: same-origin``, which no other site's page
    can send), it is accepted once more."""
    person = await web_signup(client, "Upgraded")
    value = uuid.uuid4().hex
    token = await _harvested_token(runtime, value)
    async with client_for(runtime, base_url=HTTPS) as browser:
        browser.cookies.set("tb_csrf", value)
        posted = await browser.post(
            "/app/login",
            data={"csrf_token": token, "email": person.email, "password": PASSWORD},
            headers={"Sec-Fetch-Site": "same-origin", "Origin": HTTPS},
        )
        assert posted.status_code == 303, posted.text

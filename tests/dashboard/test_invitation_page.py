"""The invitation page names what the invitee is asked to join (the workspace, who invited, the
address invited), so a real invitation reads apart from a phishing page; only to the holder
of the link, and escaped."""

from __future__ import annotations

import html

import httpx

from tests.dashboard.conftest import invitation

WORKSPACE = "Acme <b>Tea</b> & Co"


async def _invite(client: httpx.AsyncClient) -> tuple[str, str, str]:
    """(the inviter's address, the invited address, the link's token)."""
    owner, invited, token = await invitation(client, WORKSPACE, role="admin")
    return owner.email, invited, token


async def test_the_page_names_the_workspace_the_inviter_and_the_address(
    client: httpx.AsyncClient,
) -> None:
    inviter, invited, token = await _invite(client)
    client.cookies.clear()  # the invitee's own browser
    page = await client.get("/app/accept-invitation", params={"token": token})
    assert page.status_code == 200, page.text
    assert html.escape(WORKSPACE, quote=False) in page.text.replace("&#34;", '"')
    assert "<b>Tea</b>" not in page.text  # escaped, not markup
    assert f"Join {html.escape(WORKSPACE, quote=False)}" in page.text
    assert inviter in page.text
    assert invited in page.text
    assert "as an admin" in page.text.lower()
    assert 'name="password"' in page.text


async def test_without_the_link_nothing_is_named(client: httpx.AsyncClient) -> None:
    inviter, invited, token = await _invite(client)
    client.cookies.clear()
    for wrong in ("", token[:-4] + "abcd", "x" * 40):
        page = await client.get("/app/accept-invitation", params={"token": wrong})
        assert page.status_code == 200
        assert "Acme" not in page.text
        assert inviter not in page.text
        assert invited not in page.text
        assert "not valid" in page.text or "link" in page.text.lower()

"""The team page's member actions: an owner changes a member's role and removes them; the last
owner cannot be demoted, removed or leave (the refusal shown beside their row); members see no
actions and are refused, but leave on their own; every action needs the CSRF token."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from api.runtime import Runtime
from tests.conftest import Owner, client_for, join, login, signup
from tests.dashboard.conftest import PASSWORD, WebOwner, csrf_of, web_signup

LAST_OWNER = "A workspace needs an owner"


async def _api_owner(client: httpx.AsyncClient, web: WebOwner) -> Owner:
    """The dashboard owner as a JSON API caller (to invite through the API helper)."""
    tokens = await login(client, web.email, PASSWORD)
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    me = (await client.get("/api/v1/me", headers=headers)).json()
    return Owner(
        email=web.email,
        password=PASSWORD,
        token=tokens["access_token"],
        user_id=me["user"]["id"],
        workspace_id=web.workspace_id,
        workspace={},
    )


async def _member_row(web: WebOwner, email: str) -> tuple[str, str]:
    """(user id, role) of the member with ``email`` on the team page."""
    page = await web.client.get(web.url("team"))
    assert page.status_code == 200, page.text
    for user_id, row in re.findall(r'<tr data-member="([^"]+)">(.*?)</tr>', page.text, re.DOTALL):
        if email in row:
            role = re.search(r'data-role="(\w+)"', row)
            assert role
            return user_id, role.group(1)
    raise AssertionError(f"{email} is not listed")


@asynccontextmanager
async def signed_in_as(runtime: Runtime, person: Owner) -> AsyncIterator[httpx.AsyncClient]:
    """Another browser, signed in to the dashboard as ``person``."""
    async with client_for(runtime) as browser:
        form = await browser.get("/app/login")
        signed_in = await browser.post(
            "/app/login",
            data={"csrf_token": csrf_of(form.text), "email": person.email, "password": PASSWORD},
        )
        assert signed_in.status_code == 303
        yield browser


async def _joined(client: httpx.AsyncClient, web: WebOwner, role: str) -> tuple[Owner, str]:
    """A new account joins the dashboard owner's workspace as ``role``; it and its user id."""
    person = await signup(client, f"{role.title()} Co")
    await join(client, await _api_owner(client, web), person, role)
    user_id, listed = await _member_row(web, person.email)
    assert listed == role
    return person, user_id


async def test_owner_changes_a_role_then_removes_the_member(
    client: httpx.AsyncClient, web: WebOwner
) -> None:
    person, user_id = await _joined(client, web, "member")

    changed = await web.post(web.url(f"team/members/{user_id}/role"), {"role": "admin"})
    assert changed.status_code == 303
    assert (await _member_row(web, person.email))[1] == "admin"

    wrong = await web.post(web.url(f"team/members/{user_id}/role"), {"role": "emperor"})
    assert wrong.status_code == 422
    assert "Choose member, admin or owner" in wrong.text
    assert (await _member_row(web, person.email))[1] == "admin"

    key = await client.post(
        f"/api/v1/workspaces/{web.workspace_id}/api-keys",
        json={"name": "their script"},
        headers=person.headers,
    )
    assert key.status_code == 201, key.text
    page = await web.client.get(web.url("team"))
    key_row = re.search(
        r"<tr>\s*<td data-label=\"Name\">their script</td>.*?</tr>", page.text, re.S
    )
    assert key_row is not None
    assert person.email in key_row.group(0)
    assert "active" in key_row.group(0)

    removed = await web.post(web.url(f"team/members/{user_id}/remove"))
    assert removed.status_code == 303
    page = await web.client.get(web.url("team"))
    assert person.email not in page.text
    key_row = re.search(
        r"<tr>\s*<td data-label=\"Name\">their script</td>.*?</tr>", page.text, re.S
    )
    assert key_row is not None
    assert "a former member" in key_row.group(0)
    assert "revoked" in key_row.group(0)
    # The audit log names who did what: the owner by their email, not "a member".
    who = re.findall(r'<td data-label="Who">([^<]*)</td><td data-label="What">([^<]*)<', page.text)
    assert (web.email, "member.removed (user)") in who, who
    assert ("a former member", "api_key.created (api_key)") in who, who
    # Their access ended: the workspace is a 404 to them now.
    gone = await client.get(f"/api/v1/workspaces/{web.workspace_id}", headers=person.headers)
    assert gone.status_code == 404


async def test_a_stale_team_page_s_action_on_someone_gone_says_so_on_the_team_page(
    client: httpx.AsyncClient, web: WebOwner
) -> None:
    """A Team page opened before the member was removed (another tab, a teammate): changing
    their role, or removing them again, showed the full-page "belongs to a workspace you are
    not a member of" error to an owner (a tester's finding); so did withdrawing an invitation
    withdrawn meanwhile. The Team page comes back saying what happened."""
    _, user_id = await _joined(client, web, "member")
    assert (await web.post(web.url(f"team/members/{user_id}/remove"))).status_code == 303
    for action, body in (("role", {"role": "admin"}), ("remove", {})):
        stale = await web.post(web.url(f"team/members/{user_id}/{action}"), body)
        assert stale.status_code == 404, (action, stale.text)  # as another workspace's id
        assert "no longer a member of this workspace" in stale.text, action
        assert "Invite a teammate" in stale.text or 'id="member-email"' in stale.text, action
    invited = await web.post(
        web.url("team/members"),
        {"email": f"x-{uuid.uuid4().hex[:8]}@example.com", "role": "member"},
    )
    assert invited.status_code == 303, invited.text
    team_page = (await web.client.get(web.url("team"))).text
    [withdraw] = re.findall(r"team/invitations/([0-9a-f-]{36})/withdraw", team_page)
    first = await web.post(web.url(f"team/invitations/{withdraw}/withdraw"))
    assert first.status_code == 303, first.text
    again = await web.post(web.url(f"team/invitations/{withdraw}/withdraw"))
    assert again.status_code == 404, again.text
    assert "already withdrawn or accepted" in again.text
    assert 'id="member-email"' in again.text  # the Team page, not the full-page error


async def test_the_last_owner_is_not_demoted_nor_removed(
    client: httpx.AsyncClient, web: WebOwner
) -> None:
    _, other_id = await _joined(client, web, "owner")
    own_id, role = await _member_row(web, web.email)
    assert role == "owner"

    # Two owners: either may be demoted; then the one left is the last.
    demoted = await web.post(web.url(f"team/members/{other_id}/role"), {"role": "member"})
    assert demoted.status_code == 303
    refused = await web.post(web.url(f"team/members/{own_id}/role"), {"role": "admin"})
    assert refused.status_code == 409
    assert LAST_OWNER in refused.text
    error = re.search(r'data-testid="member-error">([^<]+)<', refused.text)
    assert error
    assert LAST_OWNER in error.group(1)
    assert f'aria-describedby="member-{own_id}-err"' in refused.text
    assert (await _member_row(web, web.email))[1] == "owner"

    not_removed = await web.post(web.url(f"team/members/{own_id}/remove"))
    assert not_removed.status_code == 409
    assert LAST_OWNER in not_removed.text
    # Through htmx (the confirm dialog's request): the page's main part is swapped in.
    swapped = await web.post(
        web.url(f"team/members/{own_id}/remove"), headers={"HX-Request": "true"}
    )
    assert swapped.status_code == 200
    assert swapped.headers["hx-retarget"] == "#main"
    assert LAST_OWNER in swapped.text
    assert (await _member_row(web, web.email))[1] == "owner"


async def test_member_actions_need_the_csrf_token(client: httpx.AsyncClient, web: WebOwner) -> None:
    person, user_id = await _joined(client, web, "member")
    for action, data in (("role", {"role": "owner"}), ("remove", {})):
        url = web.url(f"team/members/{user_id}/{action}")
        assert (await web.client.post(url, data=data)).status_code == 403
        forged = await web.client.post(url, data={"csrf_token": "forged", **data})
        assert forged.status_code == 403
    assert await _member_row(web, person.email) == (user_id, "member")


async def test_a_member_sees_no_actions_and_is_refused(
    runtime: Runtime, client: httpx.AsyncClient, web: WebOwner
) -> None:
    person, _ = await _joined(client, web, "member")
    own_id, _ = await _member_row(web, web.email)
    async with signed_in_as(runtime, person) as browser:
        team = await browser.get(f"/app/w/{web.workspace_id}/team")
        assert team.status_code == 200
        assert web.email in team.text
        assert "Change role" not in team.text
        refused = await browser.post(
            f"/app/w/{web.workspace_id}/team/members/{own_id}/role",
            data={"csrf_token": csrf_of(team.text), "role": "member"},
        )
        assert refused.status_code == 403
    assert (await _member_row(web, web.email))[1] == "owner"


async def test_a_member_is_shown_only_the_forms_they_may_send(
    runtime: Runtime, client: httpx.AsyncClient, web: WebOwner
) -> None:
    """Members read knowledge, the widget's settings and leads but change none of them: the
    pages show no upload, FAQ, delete or save controls that would only answer 'Not allowed'
    (the owner's pages keep them all)."""
    faq = await web.post(
        web.url("knowledge/faqs"), {"question": "Open on Sundays?", "answer": "No."}
    )
    assert faq.status_code == 303
    person, _ = await _joined(client, web, "member")
    owner_pages = {p: (await web.client.get(web.url(p))).text for p in ("knowledge", "widget")}
    async with signed_in_as(runtime, person) as browser:
        pages = {
            p: (await browser.get(f"/app/w/{web.workspace_id}/{p}")).text
            for p in ("knowledge", "widget")
        }
    controls = ("knowledge/upload", "knowledge/web", "knowledge/faqs/import", "Add an FAQ")
    for control in controls:
        assert control in owner_pages["knowledge"], control
        assert control not in pages["knowledge"], control
    assert "Open on Sundays?" in pages["knowledge"]  # still readable
    assert "Delete<span" in owner_pages["knowledge"]
    assert "Delete<span" not in pages["knowledge"]
    assert '<button type="submit">Save</button>' in owner_pages["widget"]
    assert '<button type="submit">Save</button>' not in pages["widget"]
    assert re.search(r'<fieldset class="bare"\s+disabled>', pages["widget"])


async def test_a_refused_invitation_or_key_keeps_what_was_typed(
    client: httpx.AsyncClient, web: WebOwner
) -> None:
    """An invitation refused (a member already, not an address) and a key without a name come
    back on the team page with what was typed and the reason beside it; nothing is sent."""
    person, _ = await _joined(client, web, "member")
    twice = await web.post(web.url("team/members"), {"email": person.email, "role": "admin"})
    assert twice.status_code == 409
    assert "already a member" in twice.text
    assert f'value="{person.email}"' in twice.text
    assert '<option value="admin" selected>' in twice.text
    typo = await web.post(web.url("team/members"), {"email": "new-hire@", "role": "member"})
    assert typo.status_code == 422
    assert 'value="new-hire@" aria-invalid="true"' in typo.text
    assert 'id="member-email-err"' in typo.text
    page = await web.client.get(web.url("team"))
    assert "Invitations not accepted yet" not in page.text
    nameless = await web.post(web.url("team/api-keys"), {"name": "   "})
    assert nameless.status_code == 422
    assert 'id="key-name-err"' in nameless.text
    assert "<code>" not in (await web.client.get(web.url("team"))).text.split("API keys")[-1]


async def test_an_invitation_past_the_plans_seats_keeps_the_address(
    client: httpx.AsyncClient, web: WebOwner
) -> None:
    """The free plan's two seats taken (the owner and an open invitation): the next invitation
    comes back beside the form with the address typed and the plan's reason (429), not on an
    error page that lost it."""
    first = await web.post(
        web.url("team/members"),
        {"email": f"one-{uuid.uuid4().hex[:6]}@example.com", "role": "member"},
    )
    assert first.status_code == 303
    typed = f"two-{uuid.uuid4().hex[:6]}@example.com"
    full = await web.post(web.url("team/members"), {"email": typed, "role": "admin"})
    assert full.status_code == 429
    assert f'value="{typed}"' in full.text
    assert "allows 2 members" in full.text


async def test_a_member_leaves_from_the_team_page(
    runtime: Runtime, client: httpx.AsyncClient, web: WebOwner
) -> None:
    """Everyone on the team has a "Leave this workspace" button; a member who presses it is
    gone (the owner's audit log says they left), and lands on their account page."""
    person, user_id = await _joined(client, web, "member")
    async with signed_in_as(runtime, person) as browser:
        team = await browser.get(f"/app/w/{web.workspace_id}/team")
        assert 'data-testid="leave"' in team.text
        left = await browser.post(
            f"/app/w/{web.workspace_id}/team/leave", data={"csrf_token": csrf_of(team.text)}
        )
        assert left.status_code == 303, left.text
        assert left.headers["location"].startswith("/app/account?notice=You+left+")
        assert (await browser.get(f"/app/w/{web.workspace_id}/team")).status_code == 404
    page = await web.client.get(web.url("team"))
    assert person.email not in page.text
    who = re.findall(r'<td data-label="Who">([^<]*)</td><td data-label="What">([^<]*)<', page.text)
    assert ("a former member", "member.left (user)") in who, who
    assert user_id not in page.text.split("Audit log")[0]


async def test_the_last_owner_is_refused_leaving(client: httpx.AsyncClient, web: WebOwner) -> None:
    own_id, _ = await _member_row(web, web.email)
    refused = await web.post(web.url("team/leave"))
    assert refused.status_code == 409
    assert LAST_OWNER in refused.text
    assert f'id="member-{own_id}-err"' in refused.text  # beside their own row
    assert (await _member_row(web, web.email))[1] == "owner"


async def test_an_owner_yet_to_confirm_the_address_keeps_what_they_typed(
    client: httpx.AsyncClient,
) -> None:
    """Signed in before opening the confirmation mail (the mail says an unconfirmed owner may
    set up, not invite nor make keys): an invitation or a key was answered by the "Confirm your
    email first" error page, and the address or name typed was lost. They come back on the
    team page beside their form, with what was typed and the reason."""
    web = await web_signup(client, "Not yet", verify=False)
    typed = f"teammate-{uuid.uuid4().hex[:6]}@example.com"
    invited = await web.post(web.url("team/members"), {"email": typed, "role": "admin"})
    assert invited.status_code == 403
    assert "<h1>Team" in invited.text  # the team page, not the error page
    assert f'value="{typed}"' in invited.text
    assert '<option value="admin" selected>' in invited.text
    assert "Confirm your email address first" in invited.text
    keyed = await web.post(web.url("team/api-keys"), {"name": "CRM sync"})
    assert keyed.status_code == 403
    assert 'value="CRM sync"' in keyed.text
    assert "Confirm your email address first" in keyed.text

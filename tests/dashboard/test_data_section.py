"""Settings' data section: an owner who works only in the dashboard exports the workspace and
erases a visitor, with no API token (before, /app offered neither)."""

from __future__ import annotations

import html
import io
import re
import uuid
import zipfile
from urllib.parse import unquote

import httpx
from sqlalchemy import text

from api.runtime import Runtime
from core.db import Database
from core.jobs import JobQueue
from lifecycle import exports
from tests.conftest import client_for, join, signup
from tests.dashboard.conftest import WebOwner, web_login
from tests.dashboard.test_notices import notice_of
from workspaces import repository as ws_repo


async def _widget_key(runtime: Runtime, web: WebOwner) -> str:
    async with runtime.db.transaction(workspace_id=uuid.UUID(web.workspace_id)) as session:
        workspace = await ws_repo.get_workspace(session, uuid.UUID(web.workspace_id))
        assert workspace is not None
        return workspace.public_key


async def test_an_owner_exports_the_workspace_from_settings(web: WebOwner, jobs: JobQueue) -> None:
    page = await web.client.get(web.url("settings"))
    assert "Export this workspace" in page.text
    started = await web.post(web.url("settings/exports"))
    assert started.status_code == 303
    await jobs.drain()
    page = await web.client.get(web.url("settings"))
    links = re.findall(r'href="([^"]+/download[^"]*)"', page.text)
    assert len(links) == 1, page.text
    download = await web.client.get(links[0])
    assert download.status_code == 200
    assert download.headers["content-type"] == "application/zip"
    assert "README.txt" in zipfile.ZipFile(io.BytesIO(download.content)).namelist()


async def test_an_owner_erases_a_visitor_from_settings(
    web: WebOwner, runtime: Runtime, jobs: JobQueue
) -> None:
    tag = uuid.uuid4().hex[:8]
    key = {"X-Widget-Key": await _widget_key(runtime, web)}
    session = f"visitor-{tag}"
    chat = await web.client.post(
        "/api/v1/chat", json={"message": f"Hello {tag}", "session_id": session}, headers=key
    )
    assert chat.status_code == 200, chat.text
    form = await web.client.post(
        "/api/v1/widget/leads",
        json={
            "email": f"v-{tag}@example.com",
            "conversation_id": chat.json()["conversation_id"],
            "session_id": session,
        },
        headers=key,
    )
    assert form.status_code < 300, form.text
    await jobs.drain()
    assert f"v-{tag}@example.com" in (await web.client.get(web.url("leads"))).text

    erased = await web.post(web.url("settings/erasures"), {"key": "session_id", "value": session})
    assert erased.status_code == 303
    shown = await web.client.get(erased.headers["location"])
    notice = notice_of(shown.text)
    assert notice is not None
    assert unquote(notice).startswith("Visitor erased: 1 conversations, 2 messages, 1 leads")
    assert f"v-{tag}@example.com" not in (await web.client.get(web.url("leads"))).text

    # Neither key given: nothing happens, and the form says what is needed.
    refused = await web.post(web.url("settings/erasures"), {"key": "email", "value": " "})
    assert refused.status_code == 422
    assert "their phone number or their widget session id" in html.unescape(refused.text)
    # A mistyped address is refused, typed text kept, not "Visitor erased: 0 conversations".
    typo = f"v-{tag}@example,com"
    refused = await web.post(web.url("settings/erasures"), {"key": "email", "value": typo})
    assert refused.status_code == 422, refused.text
    assert "That is not an email address" in html.unescape(refused.text)
    assert typo in html.unescape(refused.text)


async def test_an_erasure_withdraws_the_export_and_settings_says_why(
    web: WebOwner, jobs: JobQueue
) -> None:
    """The export built before the erasure held the visitor: its link stays no longer, and
    the list says why it went instead of a bare "expired"."""
    started = await web.post(web.url("settings/exports"))
    assert started.status_code == 303
    await jobs.drain()
    page = await web.client.get(web.url("settings"))
    [link] = re.findall(r'href="([^"]+/download[^"]*)"', page.text)

    erased = await web.post(
        web.url("settings/erasures"), {"key": "session_id", "value": uuid.uuid4().hex}
    )
    shown = await web.client.get(erased.headers["location"])
    notice = unquote(notice_of(shown.text) or "")
    assert "1 export of this workspace withdrawn (request a new one)" in notice
    assert not re.findall(r'href="([^"]+/download[^"]*)"', shown.text)
    assert 'data-export-status="expired"' in shown.text
    assert "Withdrawn: a visitor&#39;s data was erased after this export was built" in shown.text
    assert (await web.client.get(link)).status_code == 410


async def test_an_owner_chooses_how_long_conversations_are_kept(web: WebOwner) -> None:
    """Settings shows the retention in force and takes a shorter one, or the plan's again; a
    choice the plan does not allow changes nothing and says what is allowed."""

    def now_kept(html: str) -> str:
        found = re.search(r'data-testid="retention-now">Now: kept ([^.<]+)\.', html)
        assert found, html
        return found.group(1)

    page = await web.client.get(web.url("settings"))
    assert 'data-testid="retention-section"' in page.text
    by_plan = now_kept(page.text)

    chosen = await web.post(web.url("settings/retention"), {"days": "7"})
    assert chosen.status_code == 303
    shown = await web.client.get(chosen.headers["location"])
    assert unquote(notice_of(shown.text) or "") == (
        "Conversations are now kept for 7 days after their last message"
    )
    assert now_kept(shown.text) == "7 days"
    assert '<option value="7" selected>' in shown.text

    refused = await web.post(web.url("settings/retention"), {"days": "9999"})
    assert refused.status_code == 422
    shown = refused
    said = html.unescape(re.findall(r'id="retention-err" role="alert">([^<]*)<', shown.text)[0])
    assert said.startswith("Nothing changed: on this plan, keep conversations for 7 days, 30 days")
    assert said.endswith(" or as long as the plan does.")
    assert "conversation_retention_days" not in said
    assert "null" not in said
    assert now_kept(shown.text) == "7 days"

    back = await web.post(web.url("settings/retention"), {"days": "plan"})
    shown = await web.client.get(back.headers["location"])
    assert now_kept(shown.text) == by_plan
    assert '<option value="plan" selected>' in shown.text


async def test_admins_and_members_open_settings_without_the_owners_sections(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    """Settings answered 500 to every admin and member: the retention section's flag was set for
    owners only, and the template reads it for everyone (dashboard review F1)."""
    for role in ("admin", "member"):  # a workspace each: the free plan allows 2 members
        owner = await signup(client, f"Settings for an {role}")
        person = await signup(client, f"The {role}")
        await join(client, owner, person, role)
        async with client_for(runtime) as browser:
            assert (await web_login(browser, person.email, person.password)).status_code == 303
            page = await browser.get(f"/app/w/{owner.workspace_id}/settings")
            assert page.status_code == 200, (role, page.text[:300])
            for owners_only in ("export-section", "retention-section", "delete-workspace"):
                assert f'data-testid="{owners_only}"' not in page.text, (role, owners_only)
            assert ('id="ws-name"' in page.text) is (role == "admin")


async def test_a_failed_export_says_why_and_a_ready_one_opens_its_error_page_in_the_tab(
    web: WebOwner, jobs: JobQueue, owner_db: Database
) -> None:
    """A failed export read "failed" and "-": nothing said why, or that a new one may be
    requested. And the zip's link had the ``download`` attribute: an export expired since the
    page was drawn ended as a failed download in the browser, its 410 page never shown (the
    zip is sent as an attachment anyway)."""
    async with owner_db.transaction() as session:
        await session.execute(
            text(
                "INSERT INTO workspace_exports (id, workspace_id, status, error, created_at)"
                " VALUES (:i, :w, 'failed', :e, now() - interval '3 hours')"
            ),
            {"i": uuid.uuid4(), "w": uuid.UUID(web.workspace_id), "e": exports.LOST},
        )
    started = await web.post(web.url("settings/exports"))
    assert started.status_code == 303
    await jobs.drain()
    page = (await web.client.get(web.url("settings"))).text
    failed = re.search(r'data-testid="export-failed">([^<]*)<', page)
    assert failed, page
    assert "job stopped before it finished" in failed.group(1)
    assert "Request a new one." in failed.group(1)
    link = re.search(r'<a href="([^"]+/download[^"]*)"([^>]*)>Download zip</a> \(([^)]+)\)', page)
    assert link, page
    assert "download" not in link.group(2)
    assert link.group(3).endswith(("KB", "MB"))


async def test_an_owner_erases_a_phone_only_visitor_from_settings_by_their_number(
    web: WebOwner, runtime: Runtime
) -> None:
    """The form offers the visitor's phone number as a key (before: email or session id only,
    so a visitor who left only a number could not be erased from the dashboard)."""
    page = await web.client.get(web.url("settings"))
    assert 'value="phone"' in page.text
    n = f"9{uuid.uuid4().int % 10**9:09d}"
    key = {"X-Widget-Key": await _widget_key(runtime, web)}
    form = await web.client.post(
        "/api/v1/widget/leads", json={"phone": f"+91 {n}", "name": "Ravi"}, headers=key
    )
    assert form.status_code == 202, form.text
    assert f"+91 {n}" in (await web.client.get(web.url("leads"))).text
    # Asha's form names Ravi's number: hers, kept, the number in it replaced.
    asha = {"phone": f"+91 8{n[1:]}", "message": f"Ravi is on 0{n} too"}
    form = await web.client.post("/api/v1/widget/leads", json=asha, headers=key)
    assert form.status_code == 202, form.text

    erased = await web.post(web.url("settings/erasures"), {"key": "phone", "value": f"0{n}"})
    assert erased.status_code == 303, erased.text
    notice = notice_of((await web.client.get(erased.headers["location"])).text)
    assert notice is not None
    assert unquote(notice).startswith("Visitor erased: 0 conversations, 0 messages, 1 leads")
    assert unquote(notice).endswith("; 1 leads, 1 lead submissions redacted")
    assert f"+91 {n}" not in (await web.client.get(web.url("leads"))).text

    short = await web.post(web.url("settings/erasures"), {"key": "phone", "value": "12345"})
    assert short.status_code == 422
    assert "7 to 15 digits" in html.unescape(short.text)

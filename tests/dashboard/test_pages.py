"""Every dashboard page on real data: rendered for an owner, 404 for any other workspace's ids
(a sweep over the routes), the pages' actions through their forms."""

from __future__ import annotations

import csv
import html
import io
import re
import uuid
from datetime import UTC, datetime

import httpx
import pytest
from fastapi.routing import APIRoute
from sqlalchemy import text

from api.runtime import Runtime
from core.db import Database
from core.pagination import cursor_scope, encode_key
from dashboard.app import PAGE_ROUTERS
from dashboard.web import PREFIX, utc_time
from tests.conftest import Owner, runtime_of, signup
from tests.dashboard.conftest import SAME_ORIGIN, WebOwner, asked_by_a_visitor, new_api_key
from workspaces import repository as ws_repo
from workspaces import usage_repository
from workspaces.plans import METRICS
from workspaces.usage import month_key, month_reset

TEXT = (
    b"Acme warranty policy. The Acme backup appliance has a three-year warranty covering "
    b"parts and labour. Claims go to the service centre in Pune.\n"
)


async def _other_workspace(client: httpx.AsyncClient, runtime: Runtime) -> dict[str, str]:
    """Another owner's workspace with one of everything a page URL can name."""
    other: Owner = await signup(client, "Globex")
    doc = await client.post(
        other.url("/documents"),
        json={"title": "Globex secrets", "text": "Globex keeps its secrets here."},
        headers=other.headers,
    )
    faq = await client.post(
        other.url("/faqs"),
        json={"question": "Globex question?", "answer": "Globex answer."},
        headers=other.headers,
    )
    lead = await client.post(
        other.url("/leads"), json={"email": "globex-lead@example.com"}, headers=other.headers
    )
    chat = await client.post(other.url("/chat"), json={"message": "hello"}, headers=other.headers)
    key = await client.post(other.url("/api-keys"), json={"name": "k"}, headers=other.headers)
    invitation = await client.post(
        other.url("/members"),
        json={"email": f"globex-{uuid.uuid4().hex[:8]}@example.com", "role": "member"},
        headers=other.headers,
    )
    export = await client.post(other.url("/exports"), headers=other.headers)
    await runtime.jobs.drain()
    for response in (doc, faq, lead, chat, key, invitation, export):
        assert response.status_code in (200, 201, 202), response.text
    return {
        "workspace_id": other.workspace_id,
        "document_id": doc.json()["id"],
        "faq_id": faq.json()["id"],
        "lead_id": lead.json()["id"],
        "conversation_id": chat.json()["conversation_id"],
        "key_id": key.json()["id"],
        "invitation_id": invitation.json()["id"],
        "export_id": export.json()["id"],
        "user_id": other.user_id,
    }


def _page_routes() -> list[tuple[str, set[str]]]:
    """(path, methods) of every page route that names a workspace."""
    return [
        (PREFIX + route.path, set(route.methods))
        for router in PAGE_ROUTERS
        for route in router.routes
        if isinstance(route, APIRoute) and route.path.startswith("/w/")
    ]


async def test_every_id_of_another_workspace_is_a_404(
    client: httpx.AsyncClient, runtime: Runtime, web: WebOwner
) -> None:
    foreign = await _other_workspace(client, runtime)
    routes = _page_routes()
    assert len(routes) >= 20
    checked = 0
    for path, methods in routes:
        params = re.findall(r"{(\w+)}", path)
        # The other workspace's id, and our own workspace with the other's entity ids.
        variants = [{"workspace_id": foreign["workspace_id"]}]
        if len(params) > 1:
            variants.append({"workspace_id": web.workspace_id})
        for variant in variants:
            values = {p: variant.get(p, foreign[p]) for p in params}
            url = path.format(**values)
            for method in sorted(methods - {"HEAD"}):
                if method == "GET":  # a click on a page (a download from elsewhere is 403)
                    response = await web.client.get(url, headers=SAME_ORIGIN)
                else:
                    response = await web.post(url, {"name": "x", "status": "won", "role": "member"})
                assert response.status_code == 404, (method, url, response.status_code)
                assert "Globex" not in response.text
                checked += 1
    assert checked >= 30


PAGES = [
    "",
    "knowledge",
    "playground",
    "widget",
    "conversations",
    "unanswered",
    "leads",
    "analytics",
    "plan",
    "team",
    "settings",
]


async def test_every_page_renders_for_the_owner(web: WebOwner) -> None:
    for name in PAGES:
        response = await web.client.get(web.url(name))
        assert response.status_code == 200, (name, response.text[-500:])
        assert 'aria-current="page"' in response.text, name
        assert "Skip to content" in response.text


async def _upload(web: WebOwner, files: list[tuple[str, bytes]]) -> httpx.Response:
    return await web.client.post(
        web.url("knowledge/upload"),
        data={"csrf_token": web.csrf},
        files=[("files", (name, data, "text/plain")) for name, data in files],
    )


async def test_an_upload_with_a_long_content_type_or_name_is_not_a_500(
    runtime: Runtime, web: WebOwner
) -> None:
    """A file whose part's Content-Type carried long parameters showed the 500 page; it is
    added, its media type kept. A name past what its identity holds is a clear refusal."""
    long_type = "text/plain; charset=utf-8; boundary-ish=" + "z" * 300
    added = await web.client.post(
        web.url("knowledge/upload"),
        data={"csrf_token": web.csrf},
        files=[("files", ("params.txt", b"We close at six.\n", long_type))],
    )
    assert added.status_code == 303, added.text[-500:]
    assert "1+file" in added.headers["location"]
    await runtime.jobs.drain()
    page = await web.client.get(web.url("knowledge"))
    assert page.text.count('data-status="ready"') == 1
    named = await _upload(web, [("n" * 1100 + ".txt", b"We close at six.\n")])
    assert named.status_code == 422
    assert "file name may be at most" in named.text


async def test_knowledge_upload_becomes_ready_and_shows_its_chunks(
    runtime: Runtime, web: WebOwner
) -> None:
    response = await _upload(web, [("warranty.txt", TEXT), ("hours.txt", b"We open at 9am.\n")])
    assert response.status_code == 303
    assert "2+file" in response.headers["location"]
    await runtime.jobs.drain()
    page = await web.client.get(web.url("knowledge"))
    assert page.text.count('data-status="ready"') == 2
    assert "hx-trigger" not in page.text  # nothing left to poll for
    document_id = re.search(r'data-document="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    detail = await web.client.get(web.url(f"knowledge/documents/{document_id}"))
    assert detail.status_code == 200
    assert "Chunks" in detail.text


async def test_deleting_a_document_returns_to_the_page_of_documents_it_was_on(
    runtime: Runtime, web: WebOwner
) -> None:
    await _upload(web, [("first.txt", TEXT), ("second.txt", b"We open at 9am.\n")])
    await runtime.jobs.drain()
    page = await web.client.get(web.url("knowledge"))
    forms = re.findall(r'action="([^"]+/delete)"', page.text)
    assert len(forms) == 2  # the first page: no cursor
    # From a later page of a long list (its cursor), back to that page, not the first.
    scope = cursor_scope("documents", uuid.UUID(web.workspace_id))
    cursor = encode_key(datetime(2000, 1, 1, tzinfo=UTC), uuid.uuid4(), scope=scope)
    deleted = await web.post(forms[0] + "?cursor=" + cursor)
    assert deleted.status_code == 303
    assert f"cursor={cursor}" in deleted.headers["location"]
    after = await web.client.get(web.url("knowledge"))
    assert after.text.count("data-document=") == 1


async def test_a_refused_file_among_several_is_named_and_nothing_is_added(
    runtime: Runtime, web: WebOwner
) -> None:
    refused = await _upload(web, [("december.txt", TEXT), ("fake.pdf", b"not a pdf at all")])
    assert refused.status_code == 415
    assert "fake.pdf: File does not look like a valid" in html.unescape(refused.text)
    assert "None of the 2 files was added" in refused.text
    await runtime.jobs.drain()
    assert "data-document=" not in (await web.client.get(web.url("knowledge"))).text
    # Sent again with a file already there: the notice counts it (a signed notice carries no
    # name the uploader chose; the list shows the names).
    await _upload(web, [("december.txt", TEXT)])
    again = await _upload(web, [("december.txt", TEXT), ("hours.txt", b"We open at 9am.\n")])
    location = again.headers["location"]
    assert "1+file+added%2C+1+already+there" in location
    assert "december" not in location


async def test_a_queued_document_makes_the_list_poll(web: WebOwner, runtime: Runtime) -> None:
    await _upload(web, [("a.txt", TEXT)])
    fragment = await web.client.get(web.url("knowledge/documents"))
    # Either still processing (the fragment polls) or already ready (it stops polling).
    if 'data-status="ready"' not in fragment.text:
        assert 'hx-trigger="every 2s"' in fragment.text
    await runtime.jobs.drain()
    fragment = await web.client.get(web.url("knowledge/documents"))
    assert 'data-status="ready"' in fragment.text
    assert "hx-trigger" not in fragment.text


async def test_upload_without_files_is_a_422_page(web: WebOwner) -> None:
    response = await web.post(web.url("knowledge/upload"))
    assert response.status_code == 422
    assert "at least one file" in response.text


async def test_faq_create_edit_delete(web: WebOwner) -> None:
    created = await web.post(
        web.url("knowledge/faqs"),
        {"question": "Do you ship to Mars?", "answer": "Not yet.", "alt_questions": "Mars?\n"},
    )
    assert created.status_code == 303
    page = await web.client.get(web.url("knowledge"))
    faq_id = re.search(r'data-faq="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    edited = await web.post(
        web.url(f"knowledge/faqs/{faq_id}"),
        {"question": "Do you ship to Mars?", "answer": "From 2030.", "enabled": "on"},
    )
    assert edited.status_code == 303
    form = await web.client.get(web.url(f"knowledge/faqs/{faq_id}"))
    assert "From 2030." in form.text
    # A refused edit gives back what was typed beside the reason, and saves nothing.
    refused = await web.post(
        web.url(f"knowledge/faqs/{faq_id}"),
        {"question": "   ", "answer": "From 2031, with a new rocket.", "alt_questions": "Red?"},
    )
    assert refused.status_code == 422
    assert "From 2031, with a new rocket." in refused.text
    assert ">Red?</textarea>" in refused.text
    assert 'id="q-err"' in refused.text
    assert "From 2030." in (await web.client.get(web.url(f"knowledge/faqs/{faq_id}"))).text
    deleted = await web.post(web.url(f"knowledge/faqs/{faq_id}/delete"))
    assert deleted.status_code == 303
    page = await web.client.get(web.url("knowledge"))
    assert "Do you ship to Mars?" not in page.text


async def _asked(web: WebOwner, question: str) -> httpx.Response:
    """``question`` asked in the playground without script: the page its answer redirects to."""
    asked = await web.post(web.url("playground"), {"message": question})
    assert asked.status_code == 303, asked.text
    return await web.client.get(asked.headers["location"])


async def test_playground_answers_with_its_stage_and_sources(
    runtime: Runtime, web: WebOwner
) -> None:
    await _upload(web, [("warranty.txt", TEXT)])
    await runtime.jobs.drain()
    answer = await web.post(
        web.url("playground"),
        {"message": "How long is the warranty on the backup appliance?"},
        headers={"HX-Request": "true"},
    )
    assert answer.status_code == 200
    assert 'data-testid="playground-answer"' in answer.text
    assert 'data-source="rag"' in answer.text
    assert "warranty.txt" in answer.text
    assert 'hx-swap-oob="true"' in answer.text
    home = await web.client.get(web.url())
    assert 'data-step="tried"' in home.text
    assert "2 of 4 steps done" in home.text  # knowledge added, bot tried


async def test_widget_settings_save_and_tick_the_checklist(web: WebOwner) -> None:
    saved = await web.post(
        web.url("widget"),
        {
            "bot_name": "Helper",
            "greeting": "Hello!",
            "primary_color": "#ff0000",
            "position": "bottom-left",
            "lead_capture": "on_intent",
            "lead_fields": ["email", "name"],
            "suggested_questions": "Prices?\nRefunds?",
            "allowed_origins": "https://shop.example.com",
        },
    )
    assert saved.status_code == 303
    page = await web.client.get(web.url("widget"))
    assert 'value="#ff0000"' in page.text
    assert "https://shop.example.com" in page.text
    assert "widget.js" in page.text  # the snippet
    home = await web.client.get(web.url())
    assert "1 of 4 steps done" in home.text
    bad = await web.post(web.url("widget"), {"primary_color": "red", "lead_capture": "off"})
    assert bad.status_code == 422
    assert 'aria-invalid="true"' in bad.text
    preview = await web.client.get(web.url("widget/preview") + "?color=%2300ff00")
    assert preview.status_code == 200
    assert 'data-color="#00ff00"' in preview.text
    assert preview.headers["x-frame-options"] == "SAMEORIGIN"


async def test_in_production_the_owner_is_told_to_list_their_site_before_pasting_the_snippet(
    web: WebOwner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In production no site may embed the widget until it is listed: a new owner who pasted
    the snippet saw nothing and the checklist still said only "paste the snippet". The
    checklist and the Widget page now say to list the site first, until one is listed."""
    runtime = runtime_of(web.client)
    monkeypatch.setattr(
        runtime, "settings", runtime.settings.model_copy(update={"environment": "production"})
    )
    # Production counts as HTTPS: the session cookie is the one a browser holds there.
    web.client.cookies.set("__Host-tb_session", web.client.cookies["tb_session"], path="/")
    home = await web.client.get(web.url())
    assert "until then the widget stays hidden on every site" in home.text
    page = await web.client.get(web.url("widget"))
    assert 'data-testid="sites-unlisted"' in page.text
    assert "required, the widget stays hidden on every site not listed" in page.text
    saved = await web.post(
        web.url("widget"),
        {"lead_capture": "off", "allowed_origins": "https://shop.example.com"},
    )
    assert saved.status_code == 303
    home = await web.client.get(web.url())
    assert "until then" not in home.text
    assert "Paste the embed snippet into your site" in home.text
    page = await web.client.get(web.url("widget"))
    assert 'data-testid="sites-unlisted"' not in page.text
    # In development any site may embed it: no warning.
    monkeypatch.undo()
    page = await web.client.get(web.url("widget"))
    assert "required, the widget" not in page.text


async def test_a_refused_widget_form_keeps_what_was_typed(web: WebOwner) -> None:
    """An allowed site that is none: the form comes back marked at that field with every other
    change still in it (before: a generic error page, every edit lost)."""
    refused = await web.post(
        web.url("widget"),
        {
            "bot_name": "Bread helper",
            "greeting": "Welcome to the bakery!",
            "position": "bottom-left",
            "lead_capture": "off",
            "allowed_origins": "not a url",
        },
    )
    assert refused.status_code == 422
    assert 'id="allowed_origins" name="allowed_origins" aria-invalid="true"' in refused.text
    assert "Invalid allowed origin" in refused.text
    assert 'value="Bread helper"' in refused.text
    assert "Welcome to the bakery!" in refused.text
    assert "not a url" in refused.text


async def test_renaming_the_bot_renames_it_in_the_default_greeting(web: WebOwner) -> None:
    """The form shows the default greeting, which names the bot; sent back unchanged with a new
    name it stays the default instead of keeping the old name as custom text."""
    page = await web.client.get(web.url("widget"))
    shown = re.search(r'<textarea id="greeting" name="greeting"[^>]*>([^<]*)<', page.text)
    assert shown, page.text[-2000:]
    greeting = html.unescape(shown.group(1))
    assert "Acme assistant" in greeting
    fields = {"bot_name": "Bread helper", "greeting": greeting, "lead_capture": "off"}
    assert (await web.post(web.url("widget"), fields)).status_code == 303
    again = html.unescape((await web.client.get(web.url("widget"))).text)
    assert "Hi! I'm Bread helper. How can I help?" in again
    assert "Acme assistant" not in again
    custom = {**fields, "greeting": "Fresh loaves from 7am!"}  # a greeting of one's own stays
    assert (await web.post(web.url("widget"), custom)).status_code == 303
    renamed = {**custom, "bot_name": "Crumb"}
    assert (await web.post(web.url("widget"), renamed)).status_code == 303
    assert "Fresh loaves from 7am!" in (await web.client.get(web.url("widget"))).text


async def test_snippet_installed_ticks_on_the_first_request_from_a_site(
    client: httpx.AsyncClient, web: WebOwner
) -> None:
    page = await web.client.get(web.url("widget"))
    found = re.search(r"data-key=(?:&#34;|&quot;)(pk_[\w-]+)", page.text)
    assert found, "the embed snippet names the widget key"
    key = found.group(1)
    own = await client.post(
        "/api/v1/chat",
        json={"message": "hi", "session_id": "s-own-host-1"},
        headers={"X-Widget-Key": key, "Origin": "http://testserver"},
    )
    assert own.status_code == 200
    home = await web.client.get(web.url())
    assert "First seen on" not in home.text  # the server's own pages do not count
    site = await client.post(
        "/api/v1/chat",
        json={"message": "hi", "session_id": "s-site-1"},
        headers={"X-Widget-Key": key, "Origin": "https://shop.example.com"},
    )
    assert site.status_code == 200
    home = await web.client.get(web.url())
    assert "First seen on https://shop.example.com" in home.text


async def test_leads_list_notes_and_export(client: httpx.AsyncClient, web: WebOwner) -> None:
    token = (
        await client.post(
            "/api/v1/auth/login", json={"email": web.email, "password": "correct horse battery"}
        )
    ).json()["access_token"]
    for i, name in enumerate(("Buyer 0", "Buyer 1", "प्रिया Śarma")):
        await client.post(
            f"/api/v1/workspaces/{web.workspace_id}/leads",
            json={"email": f"buyer{i}@example.com", "name": name, "message": "Quote for kayaks"},
            headers={"Authorization": f"Bearer {token}"},
        )
    page = await web.client.get(web.url("leads") + "?q=buyer1")
    assert "buyer1@example.com" in page.text
    assert "buyer2@example.com" not in page.text
    # The search box names what it searches: a word of the leads' message finds none of them,
    # so the label does not promise the message (it read "Search name, email or message").
    by_message = await web.client.get(web.url("leads") + "?q=kayaks")
    assert "0 leads match" in by_message.text
    label = re.search(r'<label for="q">([^<]*)</label>', page.text).group(1)  # type: ignore[union-attr]
    assert label == "Search name, email or phone number"
    lead_id = re.search(r'data-lead="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    saved = await web.post(
        web.url(f"leads/{lead_id}"), {"status": "qualified", "notes": "Call on Monday"}
    )
    assert saved.status_code == 303
    detail = await web.client.get(web.url(f"leads/{lead_id}"))
    assert "Call on Monday" in detail.text
    export = await web.client.get(web.url("leads/export"), headers=SAME_ORIGIN)
    assert export.status_code == 200
    assert export.headers["content-type"].startswith("text/csv")
    assert export.text.count("@example.com") == 3
    # For a spreadsheet program: UTF-8 with a byte-order mark, so the name is not mojibake.
    assert export.content.startswith(b"\xef\xbb\xbf")
    names = [r["name"] for r in csv.DictReader(io.StringIO(export.content.decode("utf-8-sig")))]
    assert "प्रिया Śarma" in names
    api = await client.get(
        f"/api/v1/workspaces/{web.workspace_id}/leads/export",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert api.content.startswith(b"id,email,name")


async def test_unanswered_group_becomes_an_faq_the_bot_uses(
    runtime: Runtime, web: WebOwner
) -> None:
    question = "Do you offer phone support on Sundays?"
    await web.post(web.url("playground"), {"message": question})  # the owner trying it out
    page = await web.client.get(web.url("unanswered"))
    assert question not in page.text  # only visitors' questions are listed
    ids = await asked_by_a_visitor(runtime, web, question)
    done = await web.post(
        web.url("unanswered/faq"),
        {"ids": ids, "question": question, "answer": "Yes, from 10am to 4pm."},
    )
    assert done.status_code == 303
    page = await web.client.get(web.url("unanswered"))
    assert question not in page.text
    answer = await _asked(web, question)
    assert "from 10am to 4pm" in answer.text
    assert 'data-source="faq"' in answer.text


async def test_conversations_list_filter_and_transcript(web: WebOwner) -> None:
    await web.post(web.url("playground"), {"message": "hello there"})
    listing = await web.client.get(web.url("conversations") + "?channel=owner")
    conversation_id = re.search(r'data-conversation="([^"]+)"', listing.text).group(1)  # type: ignore[union-attr]
    none = await web.client.get(web.url("conversations") + "?channel=widget")
    assert "data-conversation=" not in none.text
    transcript = await web.client.get(web.url(f"conversations/{conversation_id}"))
    assert "hello there" in transcript.text
    assert transcript.text.count('data-testid="transcript-message"') == 2


async def test_team_api_key_shown_once_and_revoked(web: WebOwner) -> None:
    secret = await new_api_key(web, "CRM sync")
    team = await web.client.get(web.url("team"))
    assert secret not in team.text
    assert "CRM sync" in team.text
    key_id = re.search(r"team/api-keys/([0-9a-f-]{36})/revoke", team.text).group(1)  # type: ignore[union-attr]
    revoked = await web.post(web.url(f"team/api-keys/{key_id}/revoke"))
    assert revoked.status_code == 303
    assert "revoked" in (await web.client.get(web.url("team"))).text


async def test_settings_rename_and_webhook(web: WebOwner) -> None:
    saved = await web.post(
        web.url("settings"), {"name": "Acme Renamed", "webhook_url": "https://hooks.example.com/x"}
    )
    assert saved.status_code == 303
    page = await web.client.get(web.url("settings"))
    assert "Acme Renamed" in page.text
    assert "Webhook signing secret" in page.text
    # A name of nothing visible is refused here as through the API (a zero-width space, a
    # Hangul filler, a combining mark alone).
    for invisible in ("\u200b", " \u3164 ", "\u0301"):
        refused = await web.post(
            web.url("settings"), {"name": invisible, "webhook_url": "https://hooks.example.com/x"}
        )
        assert refused.status_code == 422, invisible
    assert "Acme Renamed" in (await web.client.get(web.url("settings"))).text
    # A webhook at a private address is refused with a page saying why, nothing saved.
    private = await web.post(
        web.url("settings"), {"name": "Acme Renamed", "webhook_url": "http://10.0.0.7/hook"}
    )
    assert private.status_code == 422
    assert "private or reserved network address" in private.text
    # ... and the form holds what was typed, to be corrected rather than written again.
    assert 'value="http://10.0.0.7/hook"' in private.text
    assert 'id="webhook-err"' in private.text
    assert "http://10.0.0.7/hook" not in (await web.client.get(web.url("settings"))).text
    renamed = await web.post(
        web.url("settings"), {"name": "\u200b", "webhook_url": "https://hooks.example.com/y"}
    )
    assert 'id="name-err"' in renamed.text
    assert 'value="https://hooks.example.com/y"' in renamed.text


async def test_a_settings_page_opened_earlier_saves_only_what_was_changed_on_it(
    web: WebOwner,
) -> None:
    """Tab B opened Settings, tab A then set the handoff webhook, tab B renamed the workspace:
    both said "Saved" and the webhook address was gone (handoffs stopped without a word; a
    tester's finding). A form saves the fields changed from what it showed; a field changed
    on it and meanwhile elsewhere is not saved over (409, what was typed kept)."""
    stale = {"seen_name": "Acme", "seen_webhook_url": ""}
    hook = "https://hooks.example.com/new"
    set_hook = await web.post(web.url("settings"), {**stale, "name": "Acme", "webhook_url": hook})
    assert set_hook.status_code == 303, set_hook.text
    renamed = await web.post(web.url("settings"), {**stale, "name": "Acme Two", "webhook_url": ""})
    assert renamed.status_code == 303, renamed.text
    page = (await web.client.get(web.url("settings"))).text
    assert 'value="Acme Two"' in page
    assert f'value="{hook}"' in page  # kept
    # Both tabs changed the webhook: the second is refused, its address kept in the form.
    clash = await web.post(
        web.url("settings"),
        {**stale, "name": "Acme", "webhook_url": "https://hooks.example.com/mine"},
    )
    assert clash.status_code == 409, clash.text
    assert "was changed meanwhile" in clash.text
    assert hook in clash.text
    assert 'value="https://hooks.example.com/mine"' in clash.text
    assert f'name="seen_webhook_url" value="{hook}"' in clash.text  # a second Save replaces it
    page = (await web.client.get(web.url("settings"))).text
    assert f'value="{hook}"' in page
    assert 'value="Acme Two"' in page


async def test_plan_page_draws_meters_readable_without_colour(web: WebOwner) -> None:
    page = await web.client.get(web.url("plan"))
    assert page.status_code == 200
    assert '<svg class="meter' in page.text
    assert re.search(r'aria-label="[^"]*: \d+ (of|used)', page.text)
    # Every limit is named for people, in the meters (<dt>) and in the plans table ("x: 2").
    for key in METRICS:
        assert re.search(rf"<dt>\s*{key}\s*</dt>|[>;]\s*{key}: ", page.text) is None, key


async def test_plan_page_says_visitors_are_refused_when_a_monthly_limit_is_reached(
    web: WebOwner, owner_db: Database
) -> None:
    """Billing review 3, F2: the meters read "150 of 100 (limit reached)", and nothing said the
    bot refuses every visitor until the month ends (after a paid period ended, say)."""
    page = (await web.client.get(web.url("plan"))).text
    assert 'data-testid="limits-reached"' not in page
    async with owner_db.transaction() as session:
        await session.execute(
            text(
                "INSERT INTO usage_counters (workspace_id, month, conversations, messages,"
                " documents, chunks, llm_tokens, updated_at) VALUES (:w, :m, 150, 150, 0, 0, 0,"
                " now()) ON CONFLICT (workspace_id, month) DO UPDATE SET conversations = 150"
            ),
            {"w": web.workspace_id, "m": month_key()},
        )
    page = html.unescape((await web.client.get(web.url("plan"))).text)
    line = re.search(r'data-testid="limits-reached">(.*?)</p>', page, re.S)
    assert line is not None
    said = re.sub(r"<[^>]+>", "", line.group(1))
    assert "Your bot refuses new visitors' messages until" in said
    assert "this month's conversations (150) reached the free plan's limit." in said
    # When, with its zone: counters reset at midnight UTC, the evening before for an owner in
    # America and 05:30 for one in India (a bare date was read as the owner's own day).
    reset = utc_time(month_reset())
    assert f"until {reset}:" in said
    assert f"Monthly counters reset on {reset}." in re.sub(r"<[^>]+>", "", page)


@pytest.mark.parametrize("path", ["/app/w/{ws}/leads?cursor=garbage"])
async def test_bad_query_values_are_4xx_pages(web: WebOwner, path: str) -> None:
    response = await web.client.get(path.format(ws=web.workspace_id))
    assert 400 <= response.status_code < 500
    assert "<html" in response.text


ASSET = re.compile(r'(?:src|href)="(/app/static/[^"]+)"')


async def test_every_page_weighs_under_150_kb(web: WebOwner) -> None:
    """HTML + the CSS and scripts it loads, as transferred (no compression counted)."""
    for name in PAGES:
        page = await web.client.get(web.url(name))
        assets = sorted(set(ASSET.findall(page.text)))
        assert assets, name
        total = len(page.content)
        for asset in assets:
            response = await web.client.get(asset)
            assert response.status_code == 200, asset
            total += len(response.content)
        assert total < 150 * 1024, (name, total)


async def _import(web: WebOwner, data: bytes) -> httpx.Response:
    return await web.client.post(
        web.url("knowledge/faqs/import"),
        data={"csrf_token": web.csrf},
        files={"file": ("faqs.csv", data, "text/csv")},
    )


async def _imported(web: WebOwner, data: bytes, notice: str) -> str:
    """Import ``data``, which must succeed saying ``notice`` (URL-encoded); the knowledge page
    after it."""
    response = await _import(web, data)
    assert response.status_code == 303, response.text[-500:]
    assert notice in response.headers["location"]
    return (await web.client.get(web.url("knowledge"))).text


async def test_faqs_import_from_csv(web: WebOwner) -> None:
    good = (
        b"question,answer,alt_questions\n"
        b'"Do you ship abroad?","Yes, to 40 countries.","International shipping?|Abroad?"\n'
        b"What are your hours?,9 to 5 on weekdays.,\n"
    )
    page = await _imported(web, good, "2+FAQs+imported")
    assert "Do you ship abroad?" in page
    assert "FAQs (2)" in page

    bad = b"question,answer\nFine question?,Fine answer.\nNo answer here?,\n"
    refused = await _import(web, bad)
    assert refused.status_code == 422
    assert "rows 3" in refused.text
    assert "Fine question?" not in (await web.client.get(web.url("knowledge"))).text
    no_header = await _import(web, b"just,some\nwords,here\n")
    assert no_header.status_code == 422
    not_text = await _import(web, b"\xff\xfe\x00bad")
    assert not_text.status_code == 422
    too_many = b"question,answer\n" + b"".join(b"q%d?,a\n" % i for i in range(501))
    over = await _import(web, too_many)
    assert over.status_code == 422
    assert "At most 500" in over.text


async def test_every_faq_can_be_reached_past_the_first_hundred(
    web: WebOwner, owner_db: Database
) -> None:
    async with owner_db.transaction() as session:  # the free plan holds 100 FAQs
        await session.execute(
            text("UPDATE workspaces SET plan = 'starter' WHERE id = :w"),
            {"w": uuid.UUID(web.workspace_id)},
        )
    first = b"question,answer\nThe very first FAQ about gift wrapping?,Yes.\n"
    await _imported(web, first, "1+FAQs+imported")
    rows = b"".join(b"Question number %d about sizes?,Answer %d.\n" % (i, i) for i in range(150))
    await _imported(web, b"question,answer\n" + rows, "150+FAQs+imported")
    page = (await web.client.get(web.url("knowledge"))).text
    assert "FAQs (151)" in page
    assert "The very first FAQ about gift wrapping?" not in page  # the newest hundred first
    assert page.count("<tr data-faq=") == 100
    link = re.search(r'id="faqs-next" href="([^"]+faq_cursor=[^"]+#faqs)">Next FAQs', page)
    assert link
    second = (await web.client.get(html.unescape(link.group(1)))).text
    assert "The very first FAQ about gift wrapping?" in second
    assert second.count("<tr data-faq=") == 51
    assert "Next FAQs" not in second
    assert "First FAQs" in second


async def test_importing_a_file_again_updates_its_faqs_instead_of_adding_twins(
    web: WebOwner,
) -> None:
    """A corrected file imported again changes the answers visitors get: before, each row made
    a second FAQ with the same question that the bot never used (the older one won)."""
    first = b'question,answer\n"Do you ship abroad?","Yes, to 40 countries."\nHours?,9 to 5.\n'
    assert "2+FAQs+imported" in (await _import(web, first)).headers["location"]
    again = (
        b"question,answer,alt_questions\n"
        b'"do you ship ABROAD","Yes, to 55 countries now.","International shipping?"\n'
        b"Do you have a shop in Pune?,Not yet.,\n"
    )
    page = await _imported(web, again, "1+FAQs+imported%2C+1+updated")
    assert "FAQs (3)" in page
    assert "55 countries" in page
    assert "40 countries" not in page
    answer = await _asked(web, "International shipping?")
    assert "55 countries" in answer.text
    assert 'data-source="faq"' in answer.text


async def test_a_reimport_adds_phrasings_and_names_the_row_another_faq_asks(
    web: WebOwner,
) -> None:
    """A row is matched by any of its phrasings, and a phrasing compared as visitors' questions
    are (no twin for "can i get a refund"); a row whose phrasings two FAQs ask fails the import
    naming the row, and nothing of the file is stored."""
    first = (
        b"question,answer,alt_questions\n"
        b'"Can I get a refund?","Within 30 days.","Money back?"\n'
        b'"Do you ship abroad?","Yes.",\n'
    )
    assert "2+FAQs+imported" in (await _import(web, first)).headers["location"]
    again = (
        b"question,answer,alt_questions\n"
        b'"Money back?","Within 60 days now.","can i get a refund|Refund policy?"\n'
    )
    page = await _imported(web, again, "0+FAQs+imported%2C+1+updated")
    assert "FAQs (2)" in page
    assert "Within 60 days now." in page
    answer = await _asked(web, "Refund policy?")
    assert "Within 60 days now." in answer.text
    clash = (  # row 3 asks what both FAQs ask
        b"question,answer,alt_questions\n"
        b'"New one?","A.",\n'
        b'"Refund policy?","B.","Do you ship abroad"\n'
    )
    refused = await _import(web, clash)
    assert refused.status_code == 422
    assert "Row 3" in refused.text, refused.text[-1500:]
    assert "New one?" not in (await web.client.get(web.url("knowledge"))).text


async def test_a_reimport_does_not_take_an_faq_past_twenty_phrasings(web: WebOwner) -> None:
    """A row merged into the FAQ asking its question added its new phrasings whatever their
    count: an FAQ of 19 other phrasings took 3 more (22), past the 20 the form and the API
    hold every FAQ to. Now the import is refused naming the row, and nothing of it stored."""
    alts = "|".join(f"Nineteen way {i}?" for i in range(19))
    first = f'question,answer,alt_questions\n"Is there parking?","Yes.","{alts}"\n'.encode()
    assert "1+FAQs+imported" in (await _import(web, first)).headers["location"]
    again = (
        b"question,answer,alt_questions\n"
        b'"Where do I eat?","Upstairs.",\n'
        b'"Is there parking?","Yes, free.","Car park?|Parking lot?|Where to park?"\n'
    )
    refused = await _import(web, again)
    assert refused.status_code == 422
    assert "Row 3" in refused.text, refused.text[-1500:]
    assert "more than 20" in refused.text
    page = (await web.client.get(web.url("knowledge"))).text
    assert "Where do I eat?" not in page
    assert "Yes, free." not in page
    fits = b'question,answer,alt_questions\n"Is there parking?","Yes, free.","Car park?"\n'
    assert "1+updated" in (await _import(web, fits)).headers["location"]


async def test_playground_streams_then_sends_the_rendered_answer(
    runtime: Runtime, web: WebOwner
) -> None:
    await _upload(web, [("warranty.txt", TEXT)])
    await runtime.jobs.drain()
    response = await web.client.post(
        web.url("playground/stream"),
        data={"message": "How long is the warranty on the backup appliance?"},
        headers={"X-CSRF-Token": web.csrf, "Accept": "text/event-stream"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = re.findall(r"^event: (\w+)$", response.text, flags=re.MULTILINE)
    assert events[0] == "meta"
    assert "delta" in events
    assert events[-1] == "html"
    assert 'data-source=\\"rag\\"' in response.text
    assert "warranty.txt" in response.text
    refused = await web.client.post(
        web.url("playground/stream"),
        data={"message": "hello"},
        headers={"Accept": "text/event-stream"},
    )
    assert refused.status_code == 403


async def test_playground_without_script_answers_in_the_page(
    runtime: Runtime, web: WebOwner
) -> None:
    page = await web.client.get(web.url("playground"))
    assert "count towards this month's messages" in page.text
    asked = await web.post(web.url("playground"), {"message": "hello there"})
    assert asked.status_code == 303  # a reload of the page it leads to asks nothing again
    first = await web.client.get(asked.headers["location"])
    assert first.status_code == 200
    assert "<html" in first.text
    # A greeting is small talk, not "nothing relevant was found".
    assert 'data-testid="stage">small talk' in first.text
    assert 'data-testid="playground-answer"' in first.text
    conversation = re.search(
        r'id="conversation-id" name="conversation_id" value="([^"]+)"', first.text
    )
    assert conversation
    assert first.text.count('id="conversation-id"') == 1
    second = await web.post(
        web.url("playground"), {"message": "thanks", "conversation_id": conversation.group(1)}
    )
    assert conversation.group(1) in second.headers["location"]
    # As the page and docs/billing.md say: the owner's questions are metered like a visitor's.
    workspace_id = uuid.UUID(web.workspace_id)
    async with runtime.db.transaction(workspace_id=workspace_id) as session:
        used = await usage_repository.get_usage(
            session, workspace_id=workspace_id, month=month_key()
        )
    assert (used.conversations, used.messages) == (1, 2)
    transcript = await web.client.get(web.url(f"conversations/{conversation.group(1)}"))
    assert transcript.text.count("Answered by small talk") == 2  # hello, thanks
    assert "Answered by fallback" not in transcript.text


async def test_a_refused_new_faq_keeps_what_was_typed(web: WebOwner) -> None:
    """A new FAQ refused (no question, or one another FAQ asks) comes back on the knowledge page
    with the answer the owner wrote and the reason at its field; nothing is added. Before, an
    error page replaced the form and the answer was lost."""
    first = await web.post(
        web.url("knowledge/faqs"), {"question": "Do you deliver on Sundays?", "answer": "No."}
    )
    assert first.status_code == 303
    blank = await web.post(
        web.url("knowledge/faqs"),
        {"question": "  ", "answer": "Only in the city centre.", "alt_questions": "Sunday?"},
    )
    assert blank.status_code == 422
    assert 'id="new-q-err"' in blank.text
    assert ">Only in the city centre.</textarea>" in blank.text
    assert ">Sunday?</textarea>" in blank.text
    twin = await web.post(
        web.url("knowledge/faqs"),
        {"question": "do you deliver on sundays", "answer": "Yes, from May."},
    )
    assert twin.status_code == 409
    assert "Another FAQ already asks this (“Do you deliver on Sundays?”)" in twin.text
    assert 'value="do you deliver on sundays"' in twin.text
    assert ">Yes, from May.</textarea>" in twin.text
    # Refused by the service after the row was written (no words to match): the page drawn
    # beside the reason does not count that row.
    wordless = await web.post(web.url("knowledge/faqs"), {"question": "?", "answer": "Maybe."})
    assert wordless.status_code == 422
    assert "FAQs (1)" in wordless.text
    assert ">Maybe.</textarea>" in wordless.text
    page = await web.client.get(web.url("knowledge"))
    assert "FAQs (1)" in page.text
    assert "Yes, from May." not in page.text
    assert "Only in the city centre." not in page.text


async def test_an_faq_edit_into_another_faqs_question_keeps_what_was_typed(
    web: WebOwner,
) -> None:
    for question in ("Is parking free?", "Do you have a lift?"):
        added = await web.post(web.url("knowledge/faqs"), {"question": question, "answer": "Yes."})
        assert added.status_code == 303
    page = await web.client.get(web.url("knowledge"))
    lift = re.search(r'data-faq="([^"]+)">\s*<td data-label="Question">Do you have', page.text)
    assert lift is not None
    refused = await web.post(
        web.url(f"knowledge/faqs/{lift.group(1)}"),
        {"question": "Is parking free?", "answer": "A lift to every floor.", "enabled": "on"},
    )
    assert refused.status_code == 409
    assert "(“Is parking free?”)" in refused.text
    assert ">A lift to every floor.</textarea>" in refused.text
    kept = await web.client.get(web.url(f"knowledge/faqs/{lift.group(1)}"))
    assert 'value="Do you have a lift?"' in kept.text


async def test_an_faq_phrasing_too_long_is_refused_at_its_field(web: WebOwner) -> None:
    """A pasted paragraph as another phrasing (one per line) showed the 500 page, on adding
    and on editing; now the form comes back with the reason at the phrasings and nothing
    changes."""
    paragraph = "Our refund policy explained at length " * 80  # 3,040 characters
    added = await web.post(
        web.url("knowledge/faqs"),
        {"question": "Can I get a refund?", "answer": "Yes.", "alt_questions": paragraph},
    )
    assert added.status_code == 422, added.text[:300]
    assert 'id="new-alt-err"' in added.text
    assert "at most 1000 characters" in added.text
    assert "FAQs (0)" in (await web.client.get(web.url("knowledge"))).text
    made = await web.post(
        web.url("knowledge/faqs"),
        {"question": "Can I get a refund?", "answer": "Yes.", "alt_questions": "Refunds?"},
    )
    assert made.status_code == 303
    page = await web.client.get(web.url("knowledge"))
    found = re.search(r'data-faq="([^"]+)"', page.text)
    assert found is not None
    edited = await web.post(
        web.url(f"knowledge/faqs/{found.group(1)}"),
        {
            "question": "Can I get a refund?",
            "answer": "Yes.",
            "alt_questions": f"Refunds?\n{'退款政策' * 200}",  # 800 characters, 2,400 bytes
            "enabled": "on",
        },
    )
    assert edited.status_code == 422, edited.text[:300]
    assert 'id="alt-err"' in edited.text
    assert "Other phrasing 2 is too long to look up" in edited.text
    kept = await web.client.get(web.url(f"knowledge/faqs/{found.group(1)}"))
    assert ">Refunds?</textarea>" in kept.text


async def test_a_refused_web_address_keeps_what_was_typed(web: WebOwner) -> None:
    """A web address refused (not an address, a private one) comes back in the form with the
    reason beside it and the sitemap choice kept; no document is added."""
    typo = await web.post(web.url("knowledge/web"), {"url": "help.example.com", "kind": "sitemap"})
    assert typo.status_code == 422
    assert 'value="help.example.com" aria-invalid="true"' in typo.text
    assert "Enter a full web address" in typo.text
    assert 'value="sitemap" checked' in typo.text
    private = await web.post(web.url("knowledge/web"), {"url": "http://10.0.0.7/faq"})
    assert private.status_code == 422
    assert 'value="http://10.0.0.7/faq" aria-invalid="true"' in private.text
    assert "private or reserved network address" in private.text
    assert 'value="page" checked' in private.text
    assert "No documents yet" in (await web.client.get(web.url("knowledge"))).text


async def test_an_unconfirmed_address_sees_no_webhook_secret(
    web: WebOwner, owner_db: Database
) -> None:
    """The settings page shows the signing secret only to a confirmed address, as the API
    does; before confirming, it says how to see it and offers no rotation."""
    saved = await web.post(
        web.url("settings"), {"name": "Acme", "webhook_url": "https://hooks.example.com/z"}
    )
    assert saved.status_code == 303
    async with owner_db.transaction() as session:
        await session.execute(
            text("UPDATE users SET email_verified_at = NULL WHERE email = :e"), {"e": web.email}
        )
    page = await web.client.get(web.url("settings"))
    assert page.status_code == 200
    assert 'data-testid="secret-needs-verification"' in page.text
    assert "Webhook signing secret" not in page.text
    assert "whsec_" not in page.text
    assert 'value="https://hooks.example.com/z"' in page.text
    rotate = await web.post(web.url("settings/rotate-webhook-secret"))
    assert rotate.status_code == 403


async def test_the_conversations_page_offers_no_empty_older_page(
    runtime: Runtime, web: WebOwner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Exactly a page of conversations: no "Older conversations" link to an empty page; one
    more than a page: the link."""
    from dashboard.pages import conversations as page_module

    async with runtime.db.transaction(workspace_id=uuid.UUID(web.workspace_id)) as session:
        workspace = await ws_repo.get_workspace(session, uuid.UUID(web.workspace_id))
        assert workspace is not None
    for n in range(2):
        asked = await web.client.post(
            "/api/v1/chat",
            json={"message": f"hello {n}", "session_id": f"visitor-{uuid.uuid4().hex[:8]}"},
            headers={"X-Widget-Key": workspace.public_key},
        )
        assert asked.status_code == 200, asked.text
    monkeypatch.setattr(page_module, "PAGE_SIZE", 2)
    full = await web.client.get(web.url("conversations"))
    assert full.text.count('data-label="Messages"') == 2
    assert "Older conversations" not in full.text
    monkeypatch.setattr(page_module, "PAGE_SIZE", 1)
    first = await web.client.get(web.url("conversations"))
    assert first.text.count('data-label="Messages"') == 1
    assert "Older conversations" in first.text


async def test_a_search_with_a_nul_is_refused_before_any_export(web: WebOwner) -> None:
    """The leads page and its export refuse the same input alike (the export answered 200 with
    a bare byte-order mark, its audit entry already written)."""
    for path in ("leads", "leads/export"):
        refused = await web.client.get(web.url(path), params={"q": "a\x00b"}, headers=SAME_ORIGIN)
        assert refused.status_code == 422, path
        assert "Invalid input" in refused.text
    team = await web.client.get(web.url("team"))
    assert "leads.exported" not in team.text


async def test_head_of_the_leads_download_writes_no_audit_entry(web: WebOwner) -> None:
    """HEAD of the download ran it as a GET: its audit entry said the leads were exported
    though nothing left."""
    head = await web.client.head(web.url("leads/export"))
    assert head.status_code == 200
    assert head.headers["content-type"].startswith("text/csv")
    assert head.content == b""
    assert "leads.exported" not in (await web.client.get(web.url("team"))).text
    assert (await web.client.get(web.url("leads/export"), headers=SAME_ORIGIN)).status_code == 200
    assert "leads.exported" in (await web.client.get(web.url("team"))).text

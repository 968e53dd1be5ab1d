"""The permission table (workspaces/permissions.py), walked through the real HTTP API.

For every action, each kind of caller (a member, an admin, an owner, an API key of the
workspace) sends the action's request(s); the answer must be what the table says: the action's
success status when allowed, 403 ``insufficient_role`` naming the action when refused. Every
allowed audited action must leave exactly one audit entry (its event, the caller as actor, their
IP and user agent); a refused one, and an allowed action the table does not audit, none.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from core.config import Settings
from core.db import Database
from tests.conftest import Owner, join, signup
from tests.fakes.razorpay_server import FakeRazorpay
from tests.workspaces.conftest import billing_on
from workspaces.permissions import ROLES, TABLE, Action, PrincipalKind, allowed, as_markdown

DOCS = Path(__file__).resolve().parents[2] / "docs" / "permissions.md"
CALLERS: tuple[str, ...] = (*ROLES, "api_key")

# The policy, written out independently of workspaces.permissions.TABLE: changing who may do
# what means changing both. Columns: member, admin, owner, API key ("Y" allowed, "-" refused);
# then the audit event an allowed action leaves.
EXPECTED: dict[Action, tuple[str, str | None]] = {
    Action.WORKSPACE_UPDATE: ("- Y Y Y", "workspace.updated"),
    Action.WEBHOOK_READ: ("- Y Y Y", None),
    Action.WEBHOOK_ROTATE_SECRET: ("- Y Y Y", "webhook_secret.rotated"),
    Action.WEBHOOK_CONFIRM: ("- - Y -", "webhook.confirmed"),
    Action.MEMBERS_READ: ("Y Y Y Y", None),
    Action.MEMBER_ADD: ("- - Y -", "member.invited"),  # issue 18: owners in person only
    Action.MEMBER_ROLE_CHANGE: ("- - Y -", "member.role_changed"),
    Action.MEMBER_REMOVE: ("- - Y -", "member.removed"),
    Action.INVITATIONS_READ: ("- - Y -", None),
    Action.INVITATION_REVOKE: ("- - Y -", "invitation.revoked"),
    Action.API_KEYS_READ: ("- Y Y Y", None),
    Action.API_KEY_CREATE: ("- Y Y -", "api_key.created"),
    Action.API_KEY_REVOKE: ("- Y Y Y", "api_key.revoked"),
    Action.AUDIT_READ: ("- Y Y Y", None),
    Action.WIDGET_CONFIGURE: ("- Y Y Y", "widget.updated"),
    Action.WIDGET_ROTATE_KEY: ("- Y Y Y", "widget_key.rotated"),
    Action.LEADS_READ: ("Y Y Y Y", None),
    Action.LEAD_CREATE: ("Y Y Y Y", None),
    Action.LEAD_UPDATE: ("Y Y Y Y", "lead.updated"),
    Action.LEAD_DELETE: ("- Y Y Y", "lead.deleted"),  # issue 18: admins, audited
    Action.LEADS_EXPORT: ("Y Y Y Y", "leads.exported"),
    Action.BILLING_MANAGE: ("- - Y -", None),
    Action.PAYMENTS_READ: ("- - Y -", None),
    Action.DOCUMENT_WRITE: ("- Y Y Y", None),
    Action.DOCUMENT_RETRY: ("- Y Y Y", None),
    Action.DOCUMENT_DELETE: ("- Y Y Y", "document.deleted"),
    Action.FAQ_CREATE: ("- Y Y Y", "faq.created"),  # issue 18: FAQ writes need an admin
    Action.FAQ_UPDATE: ("- Y Y Y", "faq.updated"),
    Action.FAQ_DELETE: ("- Y Y Y", "faq.deleted"),
    Action.UNANSWERED_RESOLVE: ("Y Y Y Y", None),
    Action.OWNER_CHAT: ("Y Y Y Y", None),
    Action.SOURCES_READ: ("Y Y Y Y", None),  # issue 16: web sources that re-sync
    Action.SOURCE_UPDATE: ("- Y Y Y", "source.updated"),
    Action.SOURCE_SYNC: ("- Y Y Y", "source.sync_requested"),
    Action.ANALYTICS_READ: ("Y Y Y Y", None),  # issue 16: everyone who works the inbox
    # Members work support: they read conversations and change their status; keys only read.
    Action.CONVERSATIONS_READ: ("Y Y Y Y", None),
    Action.CONVERSATION_UPDATE: ("Y Y Y -", "conversation.updated"),
    Action.FEEDBACK_GIVE: ("Y Y Y Y", None),
    Action.CONVERSATIONS_EXPORT: ("- Y Y -", "conversations.exported"),  # issue 16: people only
    Action.EXPORT_CREATE: ("- - Y -", "export.requested"),  # issue 14: owners in person
    Action.EXPORT_READ: ("- - Y -", None),
    Action.EXPORT_DOWNLOAD: ("- - Y -", "export.downloaded"),
    Action.WORKSPACE_DELETE: ("- - Y -", "workspace.deleted"),
    Action.WORKSPACE_RESTORE: ("- - Y -", "workspace.restored"),
    Action.VISITOR_ERASE: ("- - Y -", "visitor.erased"),  # issue 14: owners in person
    Action.RETENTION_UPDATE: ("- - Y -", "retention.updated"),
}


def expected(action: Action, caller: str) -> bool:
    return EXPECTED[action][0].split()[CALLERS.index(caller)] == "Y"


@pytest.fixture
def settings(razorpay: FakeRazorpay) -> Settings:
    """Billing on (against the local fake), and a plan with room for every member (a
    non-expiring pro: ordering a plan is refused as included, past the permission check)."""
    return billing_on(razorpay, "whsec_permissions_0001")


@dataclass
class Team:
    """A workspace with one caller of each kind; ``ids`` are their audit actor ids."""

    client: httpx.AsyncClient
    owner: Owner
    headers: dict[str, dict[str, str]] = field(default_factory=dict)
    ids: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)

    async def as_owner(self, method: str, path: str, json: Any = None) -> dict[str, Any]:
        """A set-up step by the owner; must succeed."""
        response = await self.client.request(
            method, self.owner.url(path), json=json, headers=self.owner.headers
        )
        assert response.status_code < 300, response.text
        return response.json() if response.content else {}  # type: ignore[no-any-return]


async def _team(client: httpx.AsyncClient, owner: Owner) -> Team:
    team = Team(client=client, owner=owner)
    team.headers["owner"] = owner.headers
    team.ids["owner"] = (owner.user_id, None)
    for role in ("admin", "member"):
        person = await signup(client, f"{role.title()} of the walk")
        await join(client, owner, person, role)
        team.headers[role] = person.headers
        team.ids[role] = (person.user_id, None)
    key = await team.as_owner("POST", "/api-keys", {"name": "walk"})
    team.headers["api_key"] = {"Authorization": f"Bearer {key['key']}"}
    team.ids["api_key"] = (None, key["id"])
    return team


# Actions whose probes change the workspace for the next (seats filled, a deletion) get a team
# of their own; the others share one (accounts, joins and key: some 60 % of the requests).
OWN_TEAM = {Action.MEMBER_ADD, Action.MEMBER_ROLE_CHANGE, Action.MEMBER_REMOVE}
OWN_TEAM |= {Action.INVITATION_REVOKE, Action.WORKSPACE_DELETE, Action.WORKSPACE_RESTORE}
SHARED: dict[str, Team] = {}


async def _team_for(action: Action, client: httpx.AsyncClient) -> Team:
    if action in OWN_TEAM:
        return await _team(client, await signup(client, "Acme"))
    if "team" not in SHARED:
        SHARED["team"] = await _team(client, await signup(client, "Acme"))
    return replace(SHARED["team"], client=client)  # any of the tests' apps takes its tokens


# --- one request (after its owner-made set-up) per action ---------------------------------------


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    json: Any = None
    expect: int = 200  # the status when the table allows the caller
    refused_as: Action | None = None  # another action the same request checks first


Probe = Callable[[Team], Awaitable[Call]]


def fixed(method: str, path: str, json: Any = None, expect: int = 200) -> Probe:
    async def probe(team: Team) -> Call:
        return Call(method, path, json, expect)

    return probe


def unique_email(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:12]}@example.com"


async def _invite(team: Team) -> Call:
    # Anyone's address, with or without an account: the same request, the same answer.
    return Call("POST", "/members", {"email": unique_email("invitee"), "role": "member"}, 202)


async def _joined(team: Team) -> Owner:
    person = await signup(team.client, "Colleague")
    await join(team.client, team.owner, person, "member")
    return person


async def _role_change(team: Team) -> Call:
    person = await _joined(team)
    return Call("PATCH", f"/members/{person.user_id}", {"role": "admin"})


async def _member_to_remove(team: Team) -> Call:
    person = await _joined(team)
    return Call("DELETE", f"/members/{person.user_id}", expect=204)


async def _invitation_to_revoke(team: Team) -> Call:
    invitation = await team.as_owner("POST", "/members", {"email": unique_email("revoked")})
    return Call("DELETE", f"/invitations/{invitation['id']}", expect=204)


async def _new_lead(team: Team) -> Call:
    return Call("POST", "/leads", {"email": unique_email("new-lead")}, 201)


async def _new_document(team: Team) -> Call:
    body = {"title": "Hours", "text": f"Open 9 to 5, reference {uuid.uuid4()}."}
    return Call("POST", "/documents", body, 202)


async def _new_faq(team: Team) -> Call:
    return Call(
        "POST", "/faqs", {"question": f"Do you ship {uuid.uuid4()}?", "answer": "Yes."}, 201
    )


async def _key_to_revoke(team: Team) -> Call:
    key = await team.as_owner("POST", "/api-keys", {"name": "to revoke"})
    return Call("DELETE", f"/api-keys/{key['id']}", expect=204)


async def _lead(team: Team) -> str:
    lead = await team.as_owner("POST", "/leads", {"email": unique_email("lead")})
    return str(lead["id"])


async def _read_lead(team: Team) -> Call:
    return Call("GET", f"/leads/{await _lead(team)}")


async def _lead_submissions(team: Team) -> Call:
    return Call("GET", f"/leads/{await _lead(team)}/submissions")


async def _update_lead(team: Team) -> Call:
    return Call("PATCH", f"/leads/{await _lead(team)}", {"status": "contacted"})


async def _delete_lead(team: Team) -> Call:
    return Call("DELETE", f"/leads/{await _lead(team)}", expect=204)


async def _document(team: Team) -> str:
    body = {"title": "Returns", "text": f"Returns are accepted within 30 days. {uuid.uuid4()}"}
    document = await team.as_owner("POST", "/documents", body)
    return str(document["id"])


async def _replace_document(team: Team) -> Call:
    text_ = f"Returns are accepted within 60 days. {uuid.uuid4()}"
    return Call("PUT", f"/documents/{await _document(team)}", {"text": text_}, 202)


async def _retry_document(team: Team) -> Call:
    return Call("POST", f"/documents/{await _document(team)}/retry", expect=202)


async def _delete_document(team: Team) -> Call:
    return Call("DELETE", f"/documents/{await _document(team)}", expect=204)


async def _source(team: Team) -> str:
    """A page source (its page on a closed loopback port: the fetches fail at once)."""
    url = f"http://127.0.0.1:9/page-{uuid.uuid4().hex[:12]}"
    await team.as_owner("POST", "/documents", {"url": url})
    sources = await team.as_owner("GET", "/sources?limit=100")
    [source] = [s for s in sources["items"] if s["url"] == url]
    return str(source["id"])


async def _source_syncs(team: Team) -> Call:
    return Call("GET", f"/sources/{await _source(team)}/syncs")


async def _source_schedule(team: Team) -> Call:
    return Call("PUT", f"/sources/{await _source(team)}/schedule", {"schedule": "weekly"})


async def _source_sync(team: Team) -> Call:
    return Call("POST", f"/sources/{await _source(team)}/sync", expect=202)


async def _faq(team: Team) -> str:
    faq = await team.as_owner(
        "POST", "/faqs", {"question": f"Opening hours {uuid.uuid4()}?", "answer": "9 to 5."}
    )
    return str(faq["id"])


async def _update_faq(team: Team) -> Call:
    return Call("PATCH", f"/faqs/{await _faq(team)}", {"answer": "10 to 6."})


async def _delete_faq(team: Team) -> Call:
    return Call("DELETE", f"/faqs/{await _faq(team)}", expect=204)


async def _ready_export(team: Team) -> Call:
    export = await team.as_owner("POST", "/exports")
    for _ in range(1200):  # the in-process job builds it in this event loop
        status = await team.as_owner("GET", f"/exports/{export['id']}")
        if status["status"] != "queued" and status["status"] != "running":
            break
        await asyncio.sleep(0.05)
    assert status["status"] == "ready", status
    return Call("GET", f"/exports/{export['id']}/download")


async def _is_deleted(team: Team) -> bool:
    response = await team.client.get(team.owner.url(), headers=team.owner.headers)
    return response.status_code == 404


async def _deletion(team: Team) -> Call:
    """The owner's earlier probe deleted it: restored first, so the next caller finds it."""
    if await _is_deleted(team):
        await team.as_owner("POST", "/restore")
    return Call("DELETE", "", {"confirm": team.owner.workspace["slug"]}, 202)


async def _restoration(team: Team) -> Call:
    if not await _is_deleted(team):
        await team.as_owner("DELETE", "", {"confirm": team.owner.workspace["slug"]})
    return Call("POST", "/restore")


async def _turn(team: Team) -> dict[str, Any]:
    """A conversation of its own: the owner's chat turn (its conversation and answer ids)."""
    return await team.as_owner("POST", "/chat", {"message": f"Hello {uuid.uuid4().hex[:8]}"})


async def _transcript(team: Team) -> Call:
    return Call("GET", f"/conversations/{(await _turn(team))['conversation_id']}")


async def _close_conversation(team: Team) -> Call:
    turn = await _turn(team)
    return Call("PATCH", f"/conversations/{turn['conversation_id']}", {"status": "closed"})


async def _rate_answer(team: Team) -> Call:
    body = {"message_id": (await _turn(team))["message_id"], "rating": "up"}
    return Call("POST", "/feedback", body, 204)


NO_SUCH = "00000000-0000-4000-8000-000000000000"

PROBES: dict[Action, list[Probe]] = {
    Action.WORKSPACE_UPDATE: [fixed("PATCH", "", {"persona": "Short answers."})],
    Action.WEBHOOK_READ: [fixed("GET", "/webhook"), fixed("GET", "/webhook/deliveries")],
    Action.WEBHOOK_ROTATE_SECRET: [fixed("POST", "/webhook/rotate-secret")],
    Action.WEBHOOK_CONFIRM: [fixed("POST", "/webhook/confirm")],
    Action.MEMBERS_READ: [fixed("GET", "/members")],
    Action.MEMBER_ADD: [_invite],
    Action.MEMBER_ROLE_CHANGE: [_role_change],
    Action.MEMBER_REMOVE: [_member_to_remove],
    Action.INVITATIONS_READ: [fixed("GET", "/invitations")],
    Action.INVITATION_REVOKE: [_invitation_to_revoke],
    Action.API_KEYS_READ: [fixed("GET", "/api-keys")],
    Action.API_KEY_CREATE: [fixed("POST", "/api-keys", {"name": "another"}, 201)],
    Action.API_KEY_REVOKE: [_key_to_revoke],
    Action.AUDIT_READ: [fixed("GET", "/audit")],
    Action.WIDGET_CONFIGURE: [fixed("PATCH", "/widget", {"bot_name": "Walker"})],
    Action.WIDGET_ROTATE_KEY: [fixed("POST", "/widget/rotate-key")],
    Action.LEADS_READ: [fixed("GET", "/leads"), _read_lead, _lead_submissions],
    Action.LEAD_CREATE: [_new_lead],
    Action.LEAD_UPDATE: [_update_lead],
    Action.LEAD_DELETE: [_delete_lead],
    Action.LEADS_EXPORT: [fixed("GET", "/leads/export")],
    Action.BILLING_MANAGE: [
        # Allowed callers get past the check: to "nothing to buy" (the workspace's pro plan does
        # not expire and includes what it would buy, 409 plan_included), to the order lookup,
        # or to "nothing to cancel".
        fixed("POST", "/billing/orders", {"plan": "pro", "period": "monthly"}, 409),
        fixed(
            "POST",
            "/billing/verify",
            {
                "razorpay_order_id": "order_NoSuchOrder01",
                "razorpay_payment_id": "pay_NoSuchPayment1",
                "razorpay_signature": "0" * 64,
            },
            404,
        ),
        fixed("POST", "/billing/subscription/cancel", None, 409),
        fixed("POST", "/billing/subscription/resume", None, 409),
    ],
    Action.PAYMENTS_READ: [fixed("GET", "/billing/payments")],
    Action.DOCUMENT_WRITE: [_new_document, _replace_document],
    Action.DOCUMENT_RETRY: [_retry_document],
    Action.DOCUMENT_DELETE: [_delete_document],
    Action.FAQ_CREATE: [_new_faq],
    Action.FAQ_UPDATE: [_update_faq],
    Action.FAQ_DELETE: [_delete_faq],
    Action.UNANSWERED_RESOLVE: [fixed("POST", "/unanswered/resolve", {"ids": [NO_SUCH]})],
    Action.OWNER_CHAT: [fixed("POST", "/chat", {"message": "When are you open?"})],
    Action.SOURCES_READ: [fixed("GET", "/sources"), _source_syncs],
    Action.SOURCE_UPDATE: [_source_schedule],
    Action.SOURCE_SYNC: [_source_sync],
    Action.ANALYTICS_READ: [fixed("GET", "/analytics"), fixed("GET", "/chat/stats")],
    Action.CONVERSATIONS_READ: [
        fixed("GET", "/conversations"),
        _transcript,
        fixed("GET", "/unanswered"),
    ],
    Action.CONVERSATION_UPDATE: [_close_conversation],
    Action.FEEDBACK_GIVE: [_rate_answer],
    Action.CONVERSATIONS_EXPORT: [
        fixed("GET", "/conversations/export?format=jsonl"),
        fixed("GET", "/unanswered/export"),
    ],
    Action.EXPORT_CREATE: [fixed("POST", "/exports", expect=202)],
    Action.EXPORT_READ: [fixed("GET", "/exports"), fixed("GET", f"/exports/{NO_SUCH}", expect=404)],
    Action.EXPORT_DOWNLOAD: [_ready_export],
    Action.WORKSPACE_DELETE: [_deletion],
    Action.WORKSPACE_RESTORE: [_restoration],
    Action.VISITOR_ERASE: [fixed("POST", "/erasures", {"session_id": "walk-visitor"})],
    Action.RETENTION_UPDATE: [fixed("PUT", "/retention", {"conversation_retention_days": 7})],
}


async def _audit_rows(owner_db: Database, workspace_id: str) -> dict[str, dict[str, Any]]:
    async with owner_db.transaction() as session:
        rows = await session.execute(
            text(
                "SELECT id, action, actor_user_id, actor_api_key_id, ip, user_agent"
                " FROM audit_log WHERE workspace_id = :ws"
            ),
            {"ws": workspace_id},
        )
        return {str(r.id): dict(r._mapping) for r in rows}


def _kind(caller: str) -> PrincipalKind:
    return "api_key" if caller == "api_key" else "user"


def test_every_action_has_a_row_an_expectation_and_a_request() -> None:
    assert set(TABLE) == set(Action)
    assert set(EXPECTED) == set(Action)
    assert set(PROBES) == set(Action)


@pytest.mark.parametrize("caller", CALLERS)
def test_the_table_is_the_expected_policy(caller: str) -> None:
    """The pure table, every action for this caller (an API key acts with the admin role)."""
    role = "admin" if caller == "api_key" else caller
    for action in Action:
        assert allowed(action, kind=_kind(caller), role=role) == expected(action, caller), action
        assert TABLE[action].audit == EXPECTED[action][1], action


@pytest.mark.parametrize("action", list(Action), ids=str)
async def test_each_caller_gets_what_the_table_says(
    action: Action, client: httpx.AsyncClient, owner_db: Database, jobs: Any
) -> None:
    team = await _team_for(action, client)
    owner = team.owner
    event = EXPECTED[action][1]
    for caller in CALLERS:
        may = expected(action, caller)
        for probe in PROBES[action]:
            call = await probe(team)
            agent = f"permissions-walk/{caller}/{uuid.uuid4().hex[:8]}"
            before = await _audit_rows(owner_db, owner.workspace_id)
            response = await client.request(
                call.method,
                owner.url(call.path),
                json=call.json,
                headers=team.headers[caller] | {"User-Agent": agent},
            )
            new = [
                row
                for key, row in (await _audit_rows(owner_db, owner.workspace_id)).items()
                if key not in before
            ]
            where = f"{action.value} as {caller}: {call.method} {call.path}"
            if not may:
                assert response.status_code == 403, f"{where}: {response.text}"
                error = response.json()["error"]
                assert error["code"] == "insufficient_role", where
                assert error["details"]["action"] == (call.refused_as or action).value, where
                assert new == [], where
                continue
            assert response.status_code == call.expect, f"{where}: {response.text}"
            if event is None:
                assert new == [], where
                continue
            assert [row["action"] for row in new] == [event], where
            user_id, key_id = team.ids[caller]
            entry = new[0]
            assert (entry["actor_user_id"], entry["actor_api_key_id"]) == (
                uuid.UUID(user_id) if user_id else None,
                uuid.UUID(key_id) if key_id else None,
            ), where
            assert entry["user_agent"] == agent, where
            assert entry["ip"], where
    await jobs.drain()


def test_the_documented_table_is_the_code() -> None:
    """docs/permissions.md shows the table as ``python -m workspaces.permissions`` prints it."""
    assert as_markdown() in DOCS.read_text()

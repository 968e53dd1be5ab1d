"""Who may do what in a workspace: one table, one check, and the audit entries the table asks for.

Every state-changing or sensitive action on a workspace is an ``Action``. ``TABLE`` gives, for
each, the callers allowed to do it and the audit event it leaves (if any). A caller is either
a signed-in user, with their role in the workspace (member, admin or owner), or an API key of the
workspace. A key has no role of its own: it is a shared secret a machine holds, so it gets what
the ``api key`` column says, never what needs a person (adding members, creating keys, billing).

Services call ``authorize(access, action)`` before they change or read anything. A refusal
raises 403 ``insufficient_role`` and changes nothing. The ``Permit`` it returns writes the
audit entry once the change is made, in the same unit of work::

    permit = authorize(access, Action.LEAD_DELETE)
    await repo.delete_lead(...)
    await permit.record(session, target_type="lead", target_id=lead_id)

The entry names the actor (user or API key) and where they acted from (``access.client``: IP,
user agent, request id), so services need nothing from HTTP. An action that fails after the
check (404, 409...) raises before ``record``: refused and failed actions leave no entry.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Forbidden
from workspaces import audit

if TYPE_CHECKING:
    from workspaces.service import WorkspaceAccess

Role = Literal["member", "admin", "owner"]
PrincipalKind = Literal["user", "api_key"]
ROLES: Final[tuple[Role, ...]] = ("member", "admin", "owner")


class Action(enum.StrEnum):
    """What a caller does; the value is stable (it appears in 403 details)."""

    what: str

    def __new__(cls, value: str, what: str) -> Action:
        member = str.__new__(cls, value)
        member._value_ = value
        member.what = what
        return member

    # the workspace
    WORKSPACE_UPDATE = "workspace.update", "change the workspace's settings"
    WEBHOOK_READ = "webhook.read", "read the webhook secret and list the webhook's deliveries"
    WEBHOOK_ROTATE_SECRET = "webhook.rotate_secret", "rotate the webhook secret"
    WEBHOOK_CONFIRM = (
        "webhook.confirm",
        "resume a webhook paused because the person who set its URL left the workspace",
    )
    MEMBERS_READ = "members.read", "list the workspace's members"
    MEMBER_ADD = "member.add", "invite members"
    MEMBER_ROLE_CHANGE = "member.change_role", "change a member's role"
    MEMBER_REMOVE = "member.remove", "remove members"
    INVITATIONS_READ = "invitations.read", "list pending invitations"
    INVITATION_REVOKE = "invitation.revoke", "withdraw invitations"
    API_KEYS_READ = "api_keys.read", "list API keys"
    API_KEY_CREATE = "api_key.create", "create API keys"
    API_KEY_REVOKE = "api_key.revoke", "revoke API keys"
    AUDIT_READ = "audit.read", "read the audit log"
    WIDGET_CONFIGURE = "widget.configure", "configure the widget"
    WIDGET_ROTATE_KEY = "widget.rotate_key", "rotate the widget key"
    # leads
    LEADS_READ = "leads.read", "read leads"
    LEAD_CREATE = "lead.create", "create leads"
    LEAD_UPDATE = "lead.update", "update leads"
    LEAD_DELETE = "lead.delete", "delete leads"
    LEADS_EXPORT = "leads.export", "export leads"
    # billing
    BILLING_MANAGE = "billing.manage", "buy, verify, cancel or resume a plan"
    PAYMENTS_READ = "payments.read", "read the payment history"
    # knowledge and chat
    DOCUMENT_WRITE = "document.write", "add or replace documents"
    DOCUMENT_RETRY = "document.retry", "retry documents"
    DOCUMENT_DELETE = "document.delete", "delete documents"
    FAQ_CREATE = "faq.create", "create FAQs"
    FAQ_UPDATE = "faq.update", "change FAQs"
    FAQ_DELETE = "faq.delete", "delete FAQs"
    UNANSWERED_RESOLVE = "unanswered.resolve", "resolve unanswered questions"
    OWNER_CHAT = "chat.owner", "chat with the bot as the workspace"
    SOURCES_READ = "sources.read", "list web sources and their syncs"
    SOURCE_UPDATE = "source.update", "change a web source's sync schedule"
    SOURCE_SYNC = "source.sync", "sync a web source now"
    ANALYTICS_READ = "analytics.read", "read the workspace's analytics"
    CONVERSATIONS_READ = (
        "conversations.read",
        "read conversations one at a time: list, transcript, unanswered questions",
    )
    CONVERSATION_UPDATE = "conversation.update", "open, hand off or close a conversation"
    FEEDBACK_GIVE = "feedback.give", "rate the bot's answers as the team"
    CONVERSATIONS_EXPORT = (
        "conversations.export",
        "export every conversation of a date range at once, with its messages; every"
        " unanswered question not dealt with (CSV)",
    )
    # the workspace's data (lifecycle/)
    EXPORT_CREATE = "export.create", "export the workspace's data"
    EXPORT_READ = "export.read", "see the workspace's exports"
    EXPORT_DOWNLOAD = "export.download", "download an export"
    WORKSPACE_DELETE = "workspace.delete", "delete the workspace"
    WORKSPACE_RESTORE = "workspace.restore", "restore a deleted workspace"
    VISITOR_ERASE = "visitor.erase", "erase a visitor's data"
    RETENTION_UPDATE = "retention.update", "change how long conversations are kept"


@dataclass(frozen=True)
class Rule:
    """Who may: users by role, and API keys; and the audit event an allowed action leaves."""

    member: bool
    admin: bool
    owner: bool
    api_key: bool
    audit: str | None = None

    def allows(self, kind: PrincipalKind, role: str) -> bool:
        if kind == "api_key":
            return self.api_key
        return role in ROLES and bool(getattr(self, role))


Y, N = True, False

# The policy. Change it here and nowhere else; tests/workspaces/test_permissions_table.py walks
# every row through the HTTP API with each role and an API key.
# fmt: off
TABLE: Final[Mapping[Action, Rule]] = MappingProxyType({
    #                                  member admin owner  api key  audit event
    Action.WORKSPACE_UPDATE:      Rule(N,     Y,    Y,     Y,       "workspace.updated"),
    Action.WEBHOOK_READ:          Rule(N,     Y,    Y,     Y),
    Action.WEBHOOK_ROTATE_SECRET: Rule(N,     Y,    Y,     Y,       "webhook_secret.rotated"),
    Action.WEBHOOK_CONFIRM:       Rule(N,     N,    Y,     N,       "webhook.confirmed"),
    Action.MEMBERS_READ:          Rule(Y,     Y,    Y,     Y),
    Action.MEMBER_ADD:            Rule(N,     N,    Y,     N,       "member.invited"),
    Action.MEMBER_ROLE_CHANGE:    Rule(N,     N,    Y,     N,       "member.role_changed"),
    Action.MEMBER_REMOVE:         Rule(N,     N,    Y,     N,       "member.removed"),
    Action.INVITATIONS_READ:      Rule(N,     N,    Y,     N),
    Action.INVITATION_REVOKE:     Rule(N,     N,    Y,     N,       "invitation.revoked"),
    Action.API_KEYS_READ:         Rule(N,     Y,    Y,     Y),
    Action.API_KEY_CREATE:        Rule(N,     Y,    Y,     N,       "api_key.created"),
    Action.API_KEY_REVOKE:        Rule(N,     Y,    Y,     Y,       "api_key.revoked"),
    Action.AUDIT_READ:            Rule(N,     Y,    Y,     Y),
    Action.WIDGET_CONFIGURE:      Rule(N,     Y,    Y,     Y,       "widget.updated"),
    Action.WIDGET_ROTATE_KEY:     Rule(N,     Y,    Y,     Y,       "widget_key.rotated"),
    Action.LEADS_READ:            Rule(Y,     Y,    Y,     Y),
    Action.LEAD_CREATE:           Rule(Y,     Y,    Y,     Y),
    Action.LEAD_UPDATE:           Rule(Y,     Y,    Y,     Y,       "lead.updated"),
    Action.LEAD_DELETE:           Rule(N,     Y,    Y,     Y,       "lead.deleted"),
    Action.LEADS_EXPORT:          Rule(Y,     Y,    Y,     Y,       "leads.exported"),
    Action.BILLING_MANAGE:        Rule(N,     N,    Y,     N),
    Action.PAYMENTS_READ:         Rule(N,     N,    Y,     N),
    Action.DOCUMENT_WRITE:        Rule(N,     Y,    Y,     Y),
    Action.DOCUMENT_RETRY:        Rule(N,     Y,    Y,     Y),
    Action.DOCUMENT_DELETE:       Rule(N,     Y,    Y,     Y,       "document.deleted"),
    Action.FAQ_CREATE:            Rule(N,     Y,    Y,     Y,       "faq.created"),
    Action.FAQ_UPDATE:            Rule(N,     Y,    Y,     Y,       "faq.updated"),
    Action.FAQ_DELETE:            Rule(N,     Y,    Y,     Y,       "faq.deleted"),
    Action.UNANSWERED_RESOLVE:    Rule(Y,     Y,    Y,     Y),
    Action.OWNER_CHAT:            Rule(Y,     Y,    Y,     Y),
    Action.SOURCES_READ:          Rule(Y,     Y,    Y,     Y),
    Action.SOURCE_UPDATE:         Rule(N,     Y,    Y,     Y,       "source.updated"),
    Action.SOURCE_SYNC:           Rule(N,     Y,    Y,     Y,       "source.sync_requested"),
    Action.ANALYTICS_READ:        Rule(Y,     Y,    Y,     Y),
    Action.CONVERSATIONS_READ:    Rule(Y,     Y,    Y,     Y),
    Action.CONVERSATION_UPDATE:   Rule(Y,     Y,    Y,     N,       "conversation.updated"),
    Action.FEEDBACK_GIVE:         Rule(Y,     Y,    Y,     Y),
    Action.CONVERSATIONS_EXPORT:  Rule(N,     Y,    Y,     N,       "conversations.exported"),
    Action.EXPORT_CREATE:         Rule(N,     N,    Y,     N,       "export.requested"),
    Action.EXPORT_READ:           Rule(N,     N,    Y,     N),
    Action.EXPORT_DOWNLOAD:       Rule(N,     N,    Y,     N,       "export.downloaded"),
    Action.WORKSPACE_DELETE:      Rule(N,     N,    Y,     N,       "workspace.deleted"),
    Action.WORKSPACE_RESTORE:     Rule(N,     N,    Y,     N,       "workspace.restored"),
    Action.VISITOR_ERASE:         Rule(N,     N,    Y,     N,       "visitor.erased"),
    Action.RETENTION_UPDATE:      Rule(N,     N,    Y,     N,       "retention.updated"),
})
# fmt: on


def kind_of(access: WorkspaceAccess) -> PrincipalKind:
    return "api_key" if access.principal.is_api_key else "user"


def allowed(action: Action, *, kind: PrincipalKind, role: Role) -> bool:
    """The table's answer, without raising."""
    return TABLE[action].allows(kind, role)


def _refusal(action: Action, rule: Rule, kind: PrincipalKind) -> Forbidden:
    roles = [r for r in ROLES if rule.allows("user", r)]
    people = " and ".join(f"{r}s" for r in reversed(roles)) or "nobody"
    if kind == "api_key":
        message = f"API keys cannot {action.what}; sign in as one of the {people}"
    else:
        message = f"Only {people} can {action.what}"
    return Forbidden(
        message,
        code="insufficient_role",
        details={"action": action.value, "roles": roles, "api_keys": rule.api_key},
    )


@dataclass(frozen=True)
class Permit:
    """An allowed action; ``record`` writes its audit entry when the table asks for one."""

    access: WorkspaceAccess
    action: Action

    @property
    def audited(self) -> bool:
        return TABLE[self.action].audit is not None

    async def record(
        self,
        session: AsyncSession,
        *,
        target_type: str | None = None,
        target_id: uuid.UUID | str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> audit.AuditEntry:
        """Append the action's audit entry in this unit of work (call it after the change)."""
        event = TABLE[self.action].audit
        if event is None:
            raise LookupError(f"{self.action.value} is not an audited action (permissions.TABLE)")
        return await audit.record(
            session,
            workspace_id=self.access.workspace.id,
            actor=audit.Actor.of(self.access),
            action=event,
            target_type=target_type,
            target_id=target_id,
            details=details,
        )


def authorize(access: WorkspaceAccess, action: Action) -> Permit:
    """The permit for ``action``, or 403 ``insufficient_role`` when the table refuses it."""
    rule = TABLE[action]
    kind = kind_of(access)
    if not rule.allows(kind, access.role):
        raise _refusal(action, rule, kind)
    return Permit(access, action)


def as_markdown() -> str:
    """The table for people (docs/permissions.md): ``python -m workspaces.permissions``."""

    def mark(yes: bool) -> str:
        return "allow" if yes else "-"

    lines = [
        "| action | what it covers | member | admin | owner | API key | audit event |",
        "|---|---|---|---|---|---|---|",
    ]
    for action, rule in TABLE.items():
        cells = [
            f"`{action.value}`",
            action.what,
            *(mark(rule.allows("user", role)) for role in ROLES),
            mark(rule.api_key),
            f"`{rule.audit}`" if rule.audit else "-",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(as_markdown())

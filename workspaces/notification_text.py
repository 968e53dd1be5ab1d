"""What a notification mail says about an event (``describe``): its subject, its lines, the
dashboard page it links to and the lead it quotes; and what the summary of the events held past
an hourly cap says (``lead_summary``, ``handoff_summary``). workspaces/notification_delivery.py
sends them."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy.ext.asyncio import AsyncSession

from workspaces import lead_repository, usage
from workspaces import notification_repository as repo
from workspaces.models import Workspace
from workspaces.plans import PLANS

if TYPE_CHECKING:
    from workspaces.notification_delivery import NotificationDeps


@dataclass(frozen=True)
class Notice:
    kind: str
    subject: str
    lines: list[str]
    link: str
    created_at: datetime
    lead_id: uuid.UUID | None = None
    """The lead the notice quotes (its email, name, phone, message): an erasure deletes the mail."""
    conversation_ids: tuple[uuid.UUID, ...] = ()
    """The conversations whose visitors' words it quotes: erasing one deletes the mail."""


def _money(data: dict[str, Any]) -> str:
    amount, currency = data.get("amount"), data.get("currency") or ""
    if isinstance(amount, int):
        return f"{amount / 100:,.2f} {currency}".strip()
    return "a payment"


def _plan_name(code: object) -> str:
    plan = PLANS.get(code) if isinstance(code, str) else None
    return plan.name if plan is not None else "paid"


_LIMIT_NAMES: Final[Mapping[str, str]] = {
    "conversations": "conversations a month",
    "messages": "messages a month",
    "documents": "documents",
    "chunks": "chunks",
    "faqs": "FAQs",
    "members": "members",
    "daily_llm_tokens": "LLM tokens a day",
}


def _limits(code: object) -> str:
    """A plan's limits in words: "100 conversations a month, 1,000 messages a month, ..."."""
    plan = PLANS.get(code) if isinstance(code, str) else None
    if plan is None:
        return "those of the plan"
    return ", ".join(
        f"{'unlimited' if (limit := plan.limits.get(metric)) is None else f'{limit:,}'} {name}"
        for metric, name in _LIMIT_NAMES.items()
    )


def _when(value: object) -> str | None:
    try:
        moment = datetime.fromisoformat(str(value)).astimezone(UTC)
    except ValueError:
        return None
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _held_charge(data: dict[str, Any]) -> tuple[str, list[str]]:
    """A recurring charge Razorpay took after the owner's cancel (billing:
    ``charged_after_cancel``): when, that the plan did not renew, that it goes back."""
    when = _when(data.get("charged_at"))
    lines = [
        f"Razorpay charged {_money(data)}"
        + (f" on {when}" if when else "")
        + " through your Razorpay subscription, after you cancelled.",
        "Your plan did not renew: the charge bought nothing.",
    ]
    # Refunded before it was held (``refunded``: all of it, or a part).
    part = _refunded_part(data)
    if part == "all":
        lines.append(_REFUNDED_ALL)
        return f"Payment refunded: {_money(data)}", lines
    if part is not None:
        lines.append(f"{part} of it has been refunded to the way you paid already.")
        lines.append("The rest is held for a refund to the way you paid; you need not do anything.")
    else:
        lines.append(
            "The payment is held for a refund to the way you paid; you need not do anything."
        )
    if data.get("keepable"):
        lines.append(
            "If you meant to keep the subscription and the plan page still offers"
            ' "Keep the Razorpay subscription" (until the cancel reaches Razorpay), choosing it'
            " makes this charge pay for its cycle instead of being refunded."
        )
    return f"Payment held for a refund: {_money(data)}", lines


def _received(data: dict[str, Any], plan: object) -> tuple[str, list[str]]:
    """A recurring charge of the owner's cycle; refunded (``refunded``: all of it, or a part)
    while its cycle was not known yet (billing: ``recurring_charge_refunded``). A recurring
    charge on a workspace whose plan is none of the paid ones names its subscription, not a
    plan: it mailed "for the free plan" for money that bought no plan here."""
    subscription = data.get("subscription_id")
    paid_plan = isinstance(plan, str) and plan in PLANS and any(PLANS[plan].prices.values())
    if subscription and not paid_plan:
        lines = [
            f"We received {_money(data)} through your Razorpay subscription {subscription}.",
            "It does not change your plan here; the plan page shows the plan in effect.",
        ]
    else:
        lines = [f"We received {_money(data)} for the {plan} plan."]
    part = _refunded_part(data)
    if part == "all":
        return f"Payment received and refunded: {_money(data)}", [*lines, _REFUNDED_ALL]
    partly = [] if part is None else [f"{part} of it has been refunded to the way you paid."]
    return f"Payment received: {_money(data)}", [*lines, *partly]


_REFUNDED_ALL: Final = "It has been refunded to the way you paid; you need not do anything."


def _refunded_part(data: dict[str, Any]) -> str | None:
    """What of a payment ``data["refunded"]`` says was refunded: "all" (or an amount unknown),
    the part in money, or None for nothing."""
    refunded, amount = data.get("refunded"), data.get("amount")
    if not isinstance(refunded, int):
        return None
    if not isinstance(amount, int) or refunded >= amount:
        return "all"
    return _money({**data, "amount": refunded})


def _money_back(data: dict[str, Any]) -> tuple[str, list[str]]:
    """A refund (or lost chargeback) of a recurring charge of the owner's cycle, after its
    "Payment received" (billing: ``recurring_charge_refunded``, ``_charged_back``)."""
    if data.get("money_back") == "charged back":
        return f"Payment charged back: {_money(data)}", [
            f"{_money(data)} of a payment through your Razorpay subscription was charged back"
            " (a dispute decided for the cardholder)."
        ]
    return f"Payment refunded: {_money(data)}", [
        f"{_money(data)} of a payment through your Razorpay subscription has been refunded"
        " to the way you paid; you need not do anything."
    ]


def _held_payment(data: dict[str, Any]) -> tuple[str, list[str]]:
    """A payment whose money was kept while it bought nothing (billing: ``held``)."""
    if data.get("held") == "charged_after_cancel":
        return _held_charge(data)
    plan, running = _plan_name(data.get("plan")), _plan_name(data.get("running_plan"))
    until = _when(data.get("running_until"))
    if data.get("held") == "superseded":
        why = f"a later payment had already set the {running} plan"
    elif data.get("held") == "order_paid_twice":
        why = (
            "its order was already paid by another payment, and one order buys one period "
            f"(your {running} plan is paid until {until or 'the end of its period'})"
        )
    else:
        why = (
            f"your {running} plan is paid until {until or 'the end of its period'}, and a "
            "payment for a lower plan does not replace a higher plan that is running"
        )
    lines = [
        f"We received {_money(data)} for the {plan} plan, but it did not change your plan: {why}.",
        "The payment is held for a refund to the way you paid; you need not do anything.",
    ]
    return f"Payment held for a refund: {_money(data)}", lines


QUOTE_LINES: Final = 20  # lines of a visitor's message a mail quotes (the lead's page has all)
_LINE_BREAKS: Final = re.compile(r"\r\n|[\r\n\u2028\u2029\x85]")


def one_line(value: object, limit: int) -> str:
    """Text from outside (a visitor's name, a web page's title, an error) for one line of a
    mail: line breaks and other control or format characters (bidi overrides) out, runs of space
    as one, at most ``limit`` characters. A line break in it wrote lines of its own into the
    text part, under the mail's own ("Open it in TrulyBot:" and a link of the visitor's)."""
    text = str(value)
    cleaned = "".join(ch if ch.isprintable() else (" " if ch.isspace() else "") for ch in text)
    words = " ".join(cleaned.split())
    if len(words) <= limit:
        return words
    return words[: limit - 1].rstrip() + "\u2026"


def quoted(message: str, limit: int = 500) -> list[str]:
    """A visitor's message as quoted lines (``> ...``): its own lines kept, each marked as the
    visitor's, so none reads as a line of the mail; at most ``limit`` characters and
    ``QUOTE_LINES`` lines."""
    text = message[:limit]
    lines = [
        "".join(ch if ch.isprintable() else (" " if ch == "\t" else "") for ch in line).rstrip()
        for line in _LINE_BREAKS.split(text)
    ]
    while lines and not lines[-1]:
        lines.pop()
    cut = len(lines) > QUOTE_LINES or len(message) > limit
    lines = lines[:QUOTE_LINES]
    if cut:
        lines.append("\u2026")
    return [f"> {line}" if line else ">" for line in lines]


ERASE_FROM_THE_CONVERSATION = (
    'Or open the conversation (the link below) and choose "Erase this visitor\'s data": the'
    " erase form opens filled in with its widget session id."
)
"""An erasure request's way in the dashboard: the transcript links to Settings' erase form with
the conversation's session id (dashboard/pages/conversations.py, ``_erase_link``)."""


async def describe(
    session: AsyncSession, deps: NotificationDeps, workspace: Workspace, event: repo.EventRow
) -> Notice:
    data, kind = event.data, event.kind
    page = f"/app/w/{workspace.id}"
    lines: list[str] = []
    quoted_lead: uuid.UUID | None = None
    if kind == "lead.created":
        lead = None
        if data.get("lead_id"):
            lead = await lead_repository.get_lead(
                session, workspace_id=workspace.id, lead_id=uuid.UUID(str(data["lead_id"]))
            )
        if lead is None:
            subject, link = "New lead (since deleted)", f"{page}/leads"
        else:
            # A lead who left only a phone number is named by it (no "Email: None").
            contact = lead.email or lead.phone or ""
            who = one_line(lead.name or "", 200) or one_line(contact, 320)
            subject, link = f"New lead: {who}", f"{page}/leads/{lead.id}"
            quoted_lead = lead.id
            lines = [f"Email: {one_line(lead.email, 320)}"] if lead.email else []
            lines += [f"Name: {one_line(lead.name, 200)}"] if lead.name else []
            lines += [f"Phone: {one_line(lead.phone, 40)}"] if lead.phone else []
            lines += ["Message:", *quoted(lead.message)] if lead.message else []
            lines += [f"Source: {one_line(lead.source, 40)}"] if lead.source else []
    elif kind == "handoff.requested" and data.get("erasure"):
        # A visitor typed their number or address and asked to have it removed: the chat
        # cannot erase (it saved no lead); the owner can, by what the conversation shows.
        subject = "A visitor asks to have their details erased"
        link = f"{page}/conversations/{data.get('conversation_id', '')}"
        lines = [
            "A visitor asked your bot to remove their contact details. The chat saved no lead.",
            "Erase their data under Settings, Your data, by the email address or phone number"
            " they typed in the conversation.",
            ERASE_FROM_THE_CONVERSATION,
        ]
        if data.get("typed") is False:  # "please delete my data": no detail typed
            lines = [
                "A visitor asked your bot to erase their data. They typed no email address or"
                " phone number in the chat.",
                "Erase their data under Settings, Your data, by the address or number you know"
                " them by, or by the widget session id of the conversation (the"
                " conversation.handoff webhook's session_id, or the conversation in the API).",
                ERASE_FROM_THE_CONVERSATION,
            ]
    elif kind == "handoff.requested":
        subject = "A visitor asks to talk to a person"
        link = f"{page}/conversations/{data.get('conversation_id', '')}"
        lines = ["A visitor asked for a human in a conversation with your bot."]
    elif kind in ("payment.captured", "payment.failed"):
        plan = data.get("plan") or "your"
        known = isinstance(data.get("amount"), int)  # a halted subscription names no payment
        if kind == "payment.captured" and data.get("held"):
            subject, lines = _held_payment(data)
        elif kind == "payment.captured" and data.get("money_back"):
            subject, lines = _money_back(data)
        elif kind == "payment.captured":
            subject, lines = _received(data, plan)
        else:
            subject = f"Payment failed: {_money(data)}" if known else "Payment failed"
            money = f" of {_money(data)}" if known else ""
            lines = [f"A payment{money} for the {plan} plan failed."]
            if data.get("reason"):
                lines.append(f"Reason: {one_line(data['reason'], 300)}")
        if data.get("payment_id"):
            lines.append(f"Payment id: {one_line(data['payment_id'], 64)}")
        if data.get("subscription_id"):
            lines.append(f"Razorpay subscription: {one_line(data['subscription_id'], 64)}")
        link = f"{page}/plan"
    elif kind in ("quota.80", "quota.100"):
        metric = usage.LABELS.get(str(data.get("metric")), str(data.get("metric", "usage")))
        used, limit = data.get("used"), data.get("limit")
        stored = bool(data.get("stored"))  # documents, chunks: what is stored, not monthly
        if kind == "quota.80":
            quota = "your plan's limit" if stored else "your monthly quota"
            subject = f"{metric[0].upper()}{metric[1:]} at 80% of {quota}"
        else:
            subject = f"{metric[0].upper()}{metric[1:]} quota reached"
        if stored:
            lines = [f"{used} of {limit} {metric} stored ({data.get('plan')} plan)."]
        else:
            lines = [
                f"{used} of {limit} {metric} used in {data.get('month')} ({data.get('plan')} plan)."
            ]
        if kind == "quota.100" and stored:
            lines.append(f"New {metric} are refused until you remove some.")
        elif kind == "quota.100":
            lines.append(f"New {metric} are refused until the quota resets next month.")
        lines.append("Upgrade your plan to raise the limit.")
        link = f"{page}/plan"
    elif kind == "plan.expiring":
        plan = _plan_name(data.get("plan"))
        ends = _when(data.get("ends_at"))
        subject = f"Your {plan} plan ends on {ends[:10]}" if ends else f"Your {plan} plan ends soon"
        lines = [
            f"The {plan} plan is prepaid until {ends or 'the end of its period'}; it does not "
            "renew on its own.",
            "Extend it on the plan page to keep its limits; otherwise the workspace is on the "
            f"{_plan_name(data.get('fallback'))} plan from then on.",
        ]
        link = f"{page}/plan"
    elif kind == "plan.revoked" and data.get("cause") == "chargeback_reversed":
        plan = _plan_name(data.get("plan"))
        subject = f"Your {plan} plan is back: the chargeback was reversed"
        until = _when(data.get("now_until"))
        lines = [
            f"The dispute of the payment for the {plan} plan was decided for you in a later "
            "phase: the money is yours again, and so is the plan"
            + (f", paid until {until}." if until else "."),
            f"Its limits: {_limits(data.get('plan'))}.",
        ]
        if data.get("payment_id"):
            lines.append(f"Payment id: {one_line(data['payment_id'], 64)}")
        link = f"{page}/plan"
    elif kind == "plan.revoked":
        ended, now_plan = _plan_name(data.get("plan")), _plan_name(data.get("now_plan"))
        chargeback = data.get("cause") == "chargeback"
        subject = f"Your {ended} plan ended: " + (
            "the payment was charged back" if chargeback else "the payment was refunded"
        )
        money = _money(data) if isinstance(data.get("amount"), int) else "the payment"
        lines = [
            f"The {ended} plan ended because {money} for it was "
            + (
                "charged back (a dispute decided for the cardholder)."
                if chargeback
                else "refunded."
            )
        ]
        until = _when(data.get("now_until"))
        lines.append(
            f"The workspace is now on the {now_plan} plan"
            + (f" (paid until {until})." if until else ".")
        )
        lines.append(f"Its limits: {_limits(data.get('now_plan'))}.")
        lines.append("Buy a plan on the plan page to raise them again.")
        if data.get("payment_id"):
            lines.append(f"Payment id: {one_line(data['payment_id'], 64)}")
        link = f"{page}/plan"
    elif kind == "source.failing":
        url = one_line(data.get("url") or "a web source", 500)
        failures = data.get("consecutive_failures")
        subject = f"Web source failing: {url[:120]}"
        lines = [
            f"The last {failures} syncs of {url} failed."
            if isinstance(failures, int)
            else f"The syncs of {url} keep failing.",
            f"Last error: {one_line(data.get('error') or 'unknown', 500)}",
            "Its pages keep the content of their last good sync. This mail is sent once; the"
            " next comes only if the source recovers and then fails again.",
        ]
        link = f"{page}/knowledge"
    else:  # ingestion.failed
        title = one_line(data.get("title") or "A document", 200)
        subject = f"Document failed: {title}"
        lines = [f'"{title}" could not be added to your knowledge base.']
        lines.append(f"Reason: {one_line(data.get('reason') or 'unknown', 500)}")
        link = f"{page}/knowledge/documents/{data.get('document_id', '')}"
    return Notice(kind, subject, lines, deps.url(link), event.created_at, quoted_lead)


# --- summaries of what an hourly cap held ---------------------------------------------------

WORDS_CHARS: Final = 80  # of a visitor's first words quoted in a handoff summary
"""The summary quotes this much of each of the latest visitors' first message: enough to tell a
bot's flood from a customer, not their whole story (the conversation page has it)."""


def first_words(message: str) -> str:
    """The start of a visitor's message for one line of a mail: control and format characters
    (line breaks, bidi overrides) out, runs of space as one, at most ``WORDS_CHARS``. (The HTML
    part escapes it like every value.)"""
    return one_line(message, WORDS_CHARS)


def _hour(until: datetime) -> str:
    start = until - timedelta(hours=1)
    return f"between {start:%Y-%m-%d %H:%M} and {until:%H:%M} UTC"


def lead_summary(
    deps: NotificationDeps, workspace: Workspace, held: int, until: datetime
) -> Notice:
    """The mail of ``held`` new leads past the cap on "New lead" mails in the hour ending
    ``until``."""
    leads = "new lead" if held == 1 else "new leads"
    return Notice(
        kind="lead.created",
        subject=f"{held} more {leads} in the last hour",
        lines=[
            f"{held} more {leads} came in {_hour(until)}.",
            f"Past {deps.lead_mails_per_hour} in an hour, new leads are not mailed one by one;"
            " every lead is stored and listed on the leads page.",
        ],
        link=deps.url(f"/app/w/{workspace.id}/leads"),
        created_at=until,
    )


def handoff_summary(
    deps: NotificationDeps,
    workspace: Workspace,
    held: int,
    until: datetime,
    latest: Sequence[tuple[uuid.UUID, datetime, str]],
) -> Notice:
    """The mail of ``held`` handoff requests past the cap on their mails in the hour ending
    ``until``; ``latest``: the conversation, when it asked and its visitor's first message of the
    newest of them, newest first (a conversation erased since is not among them)."""
    visitors = "visitor" if held == 1 else "visitors"
    lines = [
        f"{held} more {visitors} asked to talk to a person {_hour(until)}.",
        f"Past {deps.handoff_mails_per_hour} in an hour, handoff requests are not mailed one"
        " by one; every one of these conversations is handed off and listed on the"
        " conversations page.",
    ]
    if latest:
        lines.append("The latest, with each visitor's first words:")
        lines += [
            f'{at.astimezone(UTC):%H:%M} UTC: "{first_words(words)}"' for _, at, words in latest
        ]
    return Notice(
        kind="handoff.requested",
        subject=f"{held} more {visitors} asked for a person in the last hour",
        lines=lines,
        link=deps.url(f"/app/w/{workspace.id}/conversations?status=handoff"),
        created_at=until,
        conversation_ids=tuple(cid for cid, _, _ in latest),
    )

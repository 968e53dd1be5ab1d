"""The plan catalog: one place for every plan's monthly limits and prices.

Limits are per workspace per calendar month (UTC), except ``daily_llm_tokens`` (per UTC day) and
``members``, ``documents``/``chunks`` and ``faqs`` which count what is stored. ``None`` means
unlimited. Prices are INR in paise (1 INR = 100 paise), as Razorpay expects. One account may own
``FREE_WORKSPACES_PER_ACCOUNT`` workspaces with no paid period running (core/config.py;
``workspaces.more_workspaces.check_room_for_workspace``), so the per-workspace limits cannot be
multiplied by making workspaces.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

Metric = Literal[
    "conversations", "messages", "documents", "chunks", "faqs", "members", "daily_llm_tokens"
]
Period = Literal["monthly", "yearly"]
METRICS: tuple[Metric, ...] = (
    "conversations",
    "messages",
    "documents",
    "chunks",
    "faqs",
    "members",
    "daily_llm_tokens",
)
MONTHLY_METRICS: tuple[Metric, ...] = ("conversations", "messages")
"""Counted per month: at the limit, new conversations or messages are refused until it ends."""


@dataclass(frozen=True)
class Plan:
    code: str
    name: str
    limits: dict[str, int | None]
    prices: dict[str, int] = field(default_factory=dict)  # period -> paise
    public: bool = True
    conversation_retention_days: int | None = None
    """Conversations older than this (by their last message) are deleted; None keeps them.
    A workspace may choose a shorter period, never a longer one."""

    def limit(self, metric: Metric) -> int | None:
        return self.limits.get(metric)

    def price(self, period: Period) -> int | None:
        return self.prices.get(period)


PLANS: dict[str, Plan] = {
    "free": Plan(
        code="free",
        name="Free",
        limits={
            "conversations": 100,
            "messages": 1_000,
            "documents": 20,
            "chunks": 2_000,
            "faqs": 100,
            "members": 2,
            "daily_llm_tokens": 50_000,
        },
        prices={"monthly": 0, "yearly": 0},
        conversation_retention_days=30,
    ),
    "starter": Plan(
        code="starter",
        name="Starter",
        limits={
            "conversations": 2_000,
            "messages": 20_000,
            "documents": 500,
            "chunks": 50_000,
            "faqs": 2_000,
            "members": 5,
            "daily_llm_tokens": 1_000_000,
        },
        prices={"monthly": 99_900, "yearly": 999_000},
        conversation_retention_days=90,
    ),
    "pro": Plan(
        code="pro",
        name="Pro",
        limits={
            "conversations": 20_000,
            "messages": 200_000,
            "documents": 5_000,
            "chunks": 500_000,
            "faqs": 20_000,
            "members": 25,
            "daily_llm_tokens": 10_000_000,
        },
        prices={"monthly": 499_900, "yearly": 4_999_000},
        conversation_retention_days=365,
    ),
    "unlimited": Plan(
        code="unlimited",
        name="Unlimited (self-hosted)",
        limits=dict.fromkeys(METRICS),
        prices={},
        public=False,
    ),
}

PAID_PLANS = ("starter", "pro")
PLAN_RANK = {"free": 0, "starter": 1, "pro": 2, "unlimited": 3}


def plan_in_effect(
    plan: str, expires_at: datetime | None, fallback: str | None, now: datetime | None = None
) -> str:
    """``plan`` until ``expires_at`` (None: no end), then ``fallback`` (free when unset)."""
    if expires_at is None or (now or datetime.now(UTC)) < expires_at:
        return plan
    return fallback or "free"


def get_plan(code: str) -> Plan:
    try:
        return PLANS[code]
    except KeyError:
        raise ValueError(f"unknown plan {code!r}") from None

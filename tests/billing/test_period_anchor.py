"""Extending a plan keeps the day of the month it was bought on: a month bought on 31 January
ends on 28 February (February has no 31st), and the next month paid to extend it ends on
31 March, not on 28 March. Before, each extension counted a month from the clamped end, so an
owner who bought on the 29th, 30th or 31st lost up to three days at the first short month and
was on the 28th from then on."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from billing.state import CHARGEBACK_REVERSED, SubscriptionState, apply_event, reinstate
from tests.billing.test_state import lost_chargeback, paid, refund_of, run


def when(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, 10, 0, tzinfo=UTC)


def test_extensions_keep_the_day_the_plan_was_bought_on() -> None:
    state, decisions = run(
        SubscriptionState(),
        paid("p1", when(2025, 1, 31)),
        paid("p2", when(2025, 2, 20)),
        paid("p3", when(2025, 3, 20)),
        paid("p4", when(2025, 4, 20)),
    )
    assert [d.reason for d in decisions] == ["applied", "extended", "extended", "extended"]
    ends = sorted(p.end for p in state.paid_periods)
    assert ends == [when(2025, 2, 28), when(2025, 3, 31), when(2025, 4, 30), when(2025, 5, 31)]
    assert state.current_period_end == when(2025, 5, 31)


def test_a_year_bought_on_29_february_is_extended_to_29_february_again() -> None:
    state, _ = run(
        SubscriptionState(),
        paid("y1", when(2024, 2, 29), period="yearly"),
        paid("y2", when(2025, 1, 10), period="yearly"),
        paid("y3", when(2026, 1, 10), period="yearly"),
        paid("y4", when(2027, 1, 10), period="yearly"),
    )
    assert state.current_period_end == when(2028, 2, 29)


def test_an_extension_from_a_day_that_is_not_a_clamped_one_counts_from_that_day() -> None:
    """Bought on the 28th: the 28th stays (nothing was clamped to it)."""
    state, _ = run(
        SubscriptionState(), paid("p1", when(2025, 1, 28)), paid("p2", when(2025, 2, 10))
    )
    assert state.current_period_end == when(2025, 3, 28)


@pytest.mark.parametrize(
    ("p1_refunded", "end"), [(False, when(2025, 3, 31)), (True, when(2025, 3, 28))]
)
def test_a_reversed_chargeback_gives_an_anchored_extension_its_whole_month_back(
    p1_refunded: bool, end: datetime
) -> None:
    """p1 bought on 31 January, p2 extends it to 31 March (31 days from 28 February). With p1
    refunded on 25 February, p2 moves three days earlier (25 February - 28 March, still 31
    days). p2's chargeback lost on 10 March, then reversed: back to where it ended. With p1
    refunded it came back to 25 March: its month was counted again from its moved start (25
    February plus a month, no chain day to keep there), three days short."""
    chain, _ = run(
        SubscriptionState(),
        paid("p1", when(2025, 1, 31)),
        paid("p2", when(2025, 2, 20)),
    )
    if p1_refunded:
        chain, _ = apply_event(chain, refund_of("p1", when(2025, 2, 25)))
    assert chain.current_period_end == end
    lost, _ = apply_event(chain, lost_chargeback("p2", when(2025, 3, 10)))
    assert lost.current_period_end == when(2025, 3, 10)
    back, decision = reinstate(lost, "p2", when(2025, 3, 15))
    assert decision.reason == CHARGEBACK_REVERSED
    assert back.current_period_end == end
    assert back.paid_periods == chain.paid_periods


def test_a_chain_stored_before_the_day_was_kept_still_lets_a_late_higher_plan_in() -> None:
    """Starter bought on 31 January and extended on 20 February, stored by the release before
    (28 February, 28 March: its extension counted from the clamped day). A Pro payment of
    15 February reported after them is the plan from 15 February and takes the extension
    back, as for a chain stored now. It was ``superseded`` (the owner paid for Pro and stayed
    on Starter): the replay, under the new rule, ended on 31 March, later than the stored
    28 March, and a stored end earlier than its payments' was taken for one moved by hand."""
    now, _ = run(SubscriptionState(), paid("s1", when(2025, 1, 31)), paid("s2", when(2025, 2, 20)))
    before = replace(
        now,
        current_period_end=when(2025, 3, 28),
        paid_periods=frozenset(
            replace(p, paid_for=None, end=when(2025, 3, 28) if p.payment_id == "s2" else p.end)
            for p in now.paid_periods
        ),
    )
    for stored in (now, before):
        state, decision = apply_event(stored, paid("pro1", when(2025, 2, 15), plan="pro"))
        assert (decision.reason, decision.held) == ("applied", frozenset({"s2"}))
        assert (state.plan_code, state.current_period_end) == ("pro", when(2025, 3, 15))


def test_a_chain_keeps_its_own_plans_day_not_the_plan_before_it() -> None:
    """Starter bought on 31 January at 10:00 ended on 28 February at 10:00, the second a Pro
    year was bought (a fresh period: another plan). The Pro year's month-long extension from 28
    February 2026 ended on 31 March: the chain's day was looked up through Starter's month,
    which ended where the Pro year began, and Starter's 31st was kept for a Pro plan bought on
    the 28th. Now 28 March."""
    state, decisions = run(
        SubscriptionState(),
        paid("s1", when(2025, 1, 31)),
        paid("y1", when(2025, 2, 28), plan="pro", period="yearly"),
        paid("p2", when(2026, 2, 1), plan="pro"),
    )
    assert [d.reason for d in decisions] == ["applied", "applied", "extended"]
    assert state.current_period_end == when(2026, 3, 28)

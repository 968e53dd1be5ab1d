"""The figures the dashboard writes beside its charts: a quota meter says 100% only once the
limit is reached, and shares round halves up (the analytics review's F3: 999 of 1,000 read
"(100%)" with no "limit reached", and 1 of 8 answers read "12%")."""

from __future__ import annotations

import pytest

from dashboard import charts


@pytest.mark.parametrize(
    ("used", "limit", "shown"),
    [
        (0, 1000, "0 of 1,000 (0%)"),
        (994, 1000, "994 of 1,000 (99%)"),
        (995, 1000, "995 of 1,000 (99%)"),
        (999, 1000, "999 of 1,000 (99%)"),
        (1000, 1000, "1,000 of 1,000 (100%) (limit reached)"),
        (1001, 1000, "1,001 of 1,000 (100%) (limit reached)"),
        (1, 3, "1 of 3 (33%)"),
    ],
)
def test_a_meter_is_full_only_at_the_limit(used: int, limit: int, shown: str) -> None:
    bar = str(charts.usage_bar("Messages", used, limit))
    assert f'<span class="meter-text">{shown}</span>' in bar
    full = '<rect class="meter-fill" x="0" y="0" width="320"'
    assert (full in bar) == (used >= limit)


@pytest.mark.parametrize(
    ("share", "shown"),
    [
        (0.125, "13%"),
        (0.005, "1%"),
        (0.145, "15%"),
        (0.5, "50%"),
        (0.1234, "12%"),
        (2 / 3, "67%"),
        (0.0, "0%"),
        (1.0, "100%"),
        (None, "no data"),
    ],
)
def test_shares_round_halves_up(share: float | None, shown: str) -> None:
    assert charts.percent(share) == shown
    if share is not None:
        assert f"Stage: {shown}" in str(charts.share_bar("Stage", share))


def test_the_known_mix_of_the_review() -> None:
    """8 answers: 1 FAQ, 1 cache, 1 retrieval, 4 fallback, 1 handoff (it read 12% x 4, 50%)."""
    shares = [round(n / 8, 4) for n in (1, 1, 1, 4, 1)]
    assert [charts.percent(s) for s in shares] == ["13%", "13%", "13%", "50%", "13%"]

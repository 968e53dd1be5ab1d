"""bench.turn_floor's closed-loop arithmetic (a pure function; nothing is timed here)."""

from __future__ import annotations

import pytest

from bench.turn_floor import floor, throughput

ISSUE = {"visitors": 64, "p95_goal_ms": 400.0, "cores": 2.0}


def test_every_turn_alike_needs_visitors_over_the_goal() -> None:
    f = floor(**ISSUE, p95_to_mean=1.0, model_alone_ms=6.3, model_batched_ms=4.5)
    assert f.needed_rps == pytest.approx(160.0)  # 64 / 0.4 s
    assert f.cpu_budget_ms == pytest.approx(12.5)  # 2 cores / 160 per second


def test_a_wider_tail_needs_more_throughput() -> None:
    f = floor(**ISSUE, p95_to_mean=1.5, model_alone_ms=6.3, model_batched_ms=4.5)
    assert f.needed_rps == pytest.approx(240.0)  # mean <= 400 / 1.5 ms
    assert f.cpu_budget_ms == pytest.approx(2000 / 240)


def test_time_outside_the_overhead_lowers_the_need() -> None:
    f = floor(**ISSUE, p95_to_mean=2.0, model_alone_ms=6.3, model_batched_ms=4.5, rest_ms=100.0)
    assert f.needed_rps == pytest.approx(64 / (0.2 + 0.1))


def test_with_the_rest_at_zero_the_ratio_is_the_models() -> None:
    f = floor(**ISSUE, p95_to_mean=1.0, model_alone_ms=6.3, model_batched_ms=4.5)
    assert f.model_bound_rps == pytest.approx(1000 / 4.5)
    assert f.best_ratio == pytest.approx(6.3 / 4.5)
    assert f.ratio_with_rest == pytest.approx(6.3 / 4.5)
    assert f.best_ratio < 5


def test_the_rest_of_the_turn_shares_the_cores() -> None:
    # on: 2000 / 14.5 = 137.9 < 1000 / 4.5; off: 2000 / 16.3 = 122.7 < 1000 / 6.3
    f = floor(**ISSUE, p95_to_mean=1.0, model_alone_ms=6.3, model_batched_ms=4.5, other_ms=10.0)
    assert f.ratio_with_rest == pytest.approx(16.3 / 14.5)
    assert throughput(4.5, 10.0, 2.0) == pytest.approx(2000 / 14.5)
    assert throughput(6.3, 0.0, 2.0) == pytest.approx(1000 / 6.3)  # one model thread


@pytest.mark.parametrize(
    "bad",
    [
        {"visitors": 0},
        {"p95_goal_ms": 0.0},
        {"p95_to_mean": 0.9},
        {"cores": 0.0},
        {"model_batched_ms": 0.0},
        {"other_ms": -1.0},
        {"rest_ms": -1.0},
    ],
)
def test_impossible_inputs_are_refused(bad: dict[str, float]) -> None:
    given = {**ISSUE, "p95_to_mean": 1.0, "model_alone_ms": 6.3, "model_batched_ms": 4.5}
    with pytest.raises(ValueError, match="> 0"):
        floor(**{**given, **bad})  # type: ignore[arg-type]

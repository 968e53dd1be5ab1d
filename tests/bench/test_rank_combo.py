"""The weighted page ranker's scoring and fit (bench.rank_combo) on hand-made candidates."""

from __future__ import annotations

import numpy as np

from bench import rank_combo


def _question(
    qid: str, half: str, expected: str, rows: dict[str, list[float]]
) -> rank_combo.Question:
    pages = list(rows)
    return rank_combo.Question(
        qid, "t", half, [expected], pages, np.asarray([rows[p] for p in pages], dtype=np.float64)
    )


def test_the_lead_weight_reorders_and_the_fit_finds_it_on_the_tune_half_only() -> None:
    # features: vector, bm25, title, centroid, lead, log(chunks)
    tune = [
        _question(
            "a", "tune", "right", {"wrong": [1, 0, 0, 0, 0.1, 0], "right": [0.9, 0, 0, 0, 0.8, 0]}
        ),
        _question(
            "b", "tune", "right", {"wrong": [1, 0, 0, 0, 0.2, 0], "right": [0.8, 0, 0, 0, 0.9, 0]}
        ),
    ]
    assert rank_combo.ranks(tune, rank_combo.START) == [2, 2]
    with_lead = {**rank_combo.START, "wd": 0.5}
    assert rank_combo.ranks(tune, with_lead) == [1, 1]
    fitted = rank_combo.fit(tune, trials=200, free=("wl", "wd"))
    assert rank_combo.mrr(tune, fitted) == 1.0
    assert fitted["wt"] == fitted["wc"] == fitted["wn"] == 0.0
    # Nothing to gain: the shipped point stays (a move must raise the tune MRR).
    right_first = [
        _question("c", "tune", "right", {"right": [1, 1, 0, 0, 0, 0], "x": [0, 0, 0, 0, 1, 0]})
    ]
    assert rank_combo.fit(right_first, trials=50) == rank_combo.START

"""bench.naive_baseline cuts a page's whole body text into 180-word windows and ranks pages by
their best window, as issue 12's naive script does."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.naive_baseline import page_text, rank_by_best_window, windows


def test_windows_are_consecutive_180_words_and_cover_the_page() -> None:
    words = [f"w{i}" for i in range(400)]
    cut = windows(words)
    assert [len(w.split()) for w in cut] == [180, 180, 40]
    assert " ".join(cut).split() == words
    assert windows(words[:360]) == [" ".join(words[:180]), " ".join(words[180:360])]
    assert windows(words[:7]) == [" ".join(words[:7])]
    assert windows([]) == []


def test_overlapping_windows_reach_the_end_once() -> None:
    words = [f"w{i}" for i in range(400)]
    cut = windows(words, 180, 90)
    assert [w.split()[0] for w in cut] == ["w0", "w90", "w180", "w270"]
    assert cut[-1].split()[-1] == "w399"


def test_page_text_is_the_whole_body_with_its_navigation(tmp_path: Path) -> None:
    page = tmp_path / "p.html"
    page.write_text(
        "<html><head><title>git-reset(1)</title></head><body>"
        "<div class='navheader'><a href='x.html'>Prev</a></div>"
        "<h1>NAME</h1><p>git-reset - Reset current HEAD</p></body></html>"
    )
    title, words = page_text(page)
    assert title == "git-reset(1)"
    assert words == ["Prev", "NAME", "git-reset", "-", "Reset", "current", "HEAD"]


def test_a_page_ranks_by_its_best_window_alone() -> None:
    sources = ["many", "many", "many", "one", "other"]
    scores = np.array([0.5, 0.55, 0.52, 0.6, 0.1])
    assert rank_by_best_window(scores, sources, 2) == ["one", "many"]

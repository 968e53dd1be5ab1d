"""bench.adapt_encoder's pairs and batches (the lever itself lost: docs/retrieval.md)."""

from __future__ import annotations

import random
from types import SimpleNamespace

from bench.adapt_encoder import batches, cloze_pairs, title_pairs

BODY = "The command reapplies each commit of the branch on top of the new base, one at a time. "


def _corpus() -> SimpleNamespace:
    sources = ["git-rebase.html"] * 3 + ["git-log.html"] * 2 + ["index.html"]
    titles = {
        "git-rebase.html": "git-rebase - Reapply commits on top of another base tip",
        "git-log.html": "git-log - Show commit logs",
        "index.html": "Index",
    }
    bodies = [BODY * 3, BODY * 3, "too short", BODY * 3, "x = {a;;b}", BODY * 3]
    texts = [f"{titles[s]} > DESCRIPTION\n\n{b}" for s, b in zip(sources, bodies, strict=True)]
    return SimpleNamespace(sources=sources, titles=titles, bodies=bodies, texts=texts)


def test_a_title_pair_asks_with_the_description_and_answers_with_the_body_alone() -> None:
    pairs = title_pairs(_corpus(), per_page=8, rng=random.Random(1))
    assert {(p, q) for p, q, _ in pairs} == {
        ("git-rebase.html", "Reapply commits on top of another base tip"),
        ("git-log.html", "Show commit logs"),
    }  # a one-word title ("Index") asks nothing; a short body answers nothing
    assert len(pairs) == 3
    assert all("Reapply" not in passage and "DESCRIPTION" not in passage for _, _, passage in pairs)


def test_a_cloze_pair_takes_one_prose_sentence_out_of_its_chunk() -> None:
    pairs = cloze_pairs(_corpus(), most=100, rng=random.Random(3))
    assert {p for p, _, _ in pairs} == {"git-rebase.html", "git-log.html", "index.html"}
    assert all(q.split() == BODY.split() for _, q, _ in pairs)  # never the code or the stub


def test_a_batch_holds_each_page_once_and_the_one_page_tail_is_dropped() -> None:
    pairs = [(f"p{i}.html", f"q{i}", f"d{i}") for i in range(40)]
    pairs += [("big.html", f"q{i}", f"d{i}") for i in range(30)]
    out = batches(pairs, size=16, rng=random.Random(5))
    assert all(len({p for p, _, _ in b}) == len(b) >= 8 for b in out)
    assert sum(len(b) for b in out) < len(pairs)  # big.html's leftovers are not batches of one
    assert len({(p, q) for b in out for p, q, _ in b}) == sum(len(b) for b in out)

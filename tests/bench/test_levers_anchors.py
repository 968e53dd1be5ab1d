"""The anchor-text lever's reader (bench.levers_anchors) on a small corpus of real HTML files."""

from __future__ import annotations

from pathlib import Path

from bench.levers_anchors import anchor_contexts


def _page(root: Path, name: str, body: str) -> tuple[Path, str]:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"<html><body>{body}</body></html>", encoding="utf-8")
    return path, name


def test_a_linking_sentence_describes_the_linked_page(tmp_path: Path) -> None:
    files = [
        _page(
            tmp_path,
            "guide.html",
            "<p>Start here. If you want to throw away all uncommitted changes, you should see"
            ' <a href="reset.html#hard">reset(1)</a>, particularly the --hard option.'
            " Nothing else here.</p>"
            '<p>See also <a href="reset.html">reset(1)</a>, <a href="howto/undo.html">undo</a>.</p>'
            '<p>This very page is <a href="guide.html">the guide</a> for people who read it.</p>',
        ),
        _page(tmp_path, "reset.html", "<p>Reset current HEAD to the specified state.</p>"),
        _page(
            tmp_path,
            "howto/undo.html",
            '<li>Undoing a merge is done with <a href="../reset.html">reset</a> and a hard flag'
            " in most cases.</li>",
        ),
    ]
    found = anchor_contexts(files)
    assert found == {
        "reset.html": [
            "If you want to throw away all uncommitted changes, you should see reset(1) ,"
            " particularly the --hard option.",
            "Undoing a merge is done with reset and a hard flag in most cases.",
        ]
    }


def test_single_keeps_sentences_that_link_to_one_page(tmp_path: Path) -> None:
    files = [
        _page(
            tmp_path,
            "a.html",
            '<p>Both <a href="b.html">b</a> and <a href="c.html">c</a> take a list of paths to'
            " work on today.</p>",
        ),
        _page(tmp_path, "b.html", "<p>b</p>"),
        _page(tmp_path, "c.html", "<p>c</p>"),
    ]
    assert set(anchor_contexts(files)) == {"b.html", "c.html"}
    assert anchor_contexts(files, single=True) == {}

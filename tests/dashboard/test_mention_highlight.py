# ruff: noqa: RUF001 (Greek capitals, as a message writes them)
"""The words around a conversation search's text (``rag.chat.conversations.around``): the span
marked is the text the message writes, whatever lowering the message or the search does to
letters. Python lowers "İ" to two characters ("i" and a combining dot), PostgreSQL's ``lower``
(which finds the messages) to "i": a message holding one was shown from its start with nothing
marked, and a search holding one marked a span one character short of the match (the rest of
the match shown after the mark) or found nothing the database had found."""

from __future__ import annotations

import pytest

from rag.chat.conversations import MENTION_CONTEXT, around

DOTTED = "i\u0307"  # what "İ".lower() gives: "i" and a combining dot above


@pytest.mark.parametrize(
    ("text", "q", "marked"),
    [
        ("Wir liefern nach İstanbul und İzmir", "İstanbul", "İstanbul"),
        ("Wir liefern nach İstanbul und İzmir", "izmir", "İzmir"),  # as the database finds it
        ("Wir liefern nach İstanbul und İzmir", "zmir", "zmir"),
        ("Wir liefern nach İstanbul und İzmir", "UND", "und"),
        ("Wir liefern nach izmir", "İzmir", "izmir"),
        (f"Büro in {DOTTED}zmir, Straße 5", f"{DOTTED}zmir", f"{DOTTED}zmir"),
        (f"Büro in {DOTTED}zmir, Straße 5", "İzmir", None),  # no "izmir": nor for the database
        ("Büro in İzmir, STRASSE 5", "strasse", "STRASSE"),
        ("Die Straße ist gesperrt", "STRAẞE", "Straße"),  # "ẞ" lowers to "ß"
        ("Die Straße ist gesperrt", "ße ist", "ße ist"),
        ("İİİ refund İİİ", "refund", "refund"),
        ("İİİ refund İİİ", "i", "İ"),
        ("ΟΔΟΣ ΕΡΜΟΥ 5", "οδοσ", "ΟΔΟΣ"),  # letter by letter, as PostgreSQL: no final "ς"
        ("ΟΔΟΣ ΕΡΜΟΥ, İstanbul", "ΟΔΟΣ", "ΟΔΟΣ"),
    ],
)
def test_the_marked_span_is_the_matched_text(text: str, q: str, marked: str | None) -> None:
    before, mark, after = around(text, q)
    if marked is None:  # not found: the message's start, nothing marked
        assert (before, mark, after) == (text, "", "")
        return
    assert mark == marked
    assert before + mark + after == text  # short: nothing cut


def test_the_words_around_are_counted_in_the_messages_letters() -> None:
    text = "İ" * 100 + " refund " + "İ" * 100
    before, mark, after = around(text, "REFUND")
    assert mark == "refund"
    assert before == "…" + "İ" * (MENTION_CONTEXT - 1) + " "
    assert after == " " + "İ" * (MENTION_CONTEXT - 1) + "…"

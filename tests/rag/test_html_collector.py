"""parse_html pauses Python's cyclic garbage collector while it parses (its passes over the
growing tree were most of a large page's parse) and gives it back as it found it: on, off, after
a failure, and with parses in several threads at once."""

from __future__ import annotations

import gc
import threading
import uuid
from collections.abc import Iterator

import pytest

from rag.knowledge import html_parsing
from rag.knowledge.html_parsing import parse_html


@pytest.fixture
def collector_restored() -> Iterator[None]:
    enabled = gc.isenabled()
    yield
    if enabled:
        gc.enable()
    else:
        gc.disable()


def _page() -> bytes:
    word = f"w{uuid.uuid4().hex[:10]}"
    return f"<html><body><h1>{word}</h1><div><p>{word}</p></div></body></html>".encode()


@pytest.mark.parametrize("enabled", [True, False])
def test_the_collector_is_left_as_it_was(enabled: bool, collector_restored: None) -> None:
    seen: list[bool] = []
    original = html_parsing._main_content

    def spy(document: html_parsing._Node) -> tuple[html_parsing._Node, bool]:
        seen.append(gc.isenabled())
        return original(document)

    (gc.enable if enabled else gc.disable)()
    html_parsing._main_content = spy  # type: ignore[assignment]
    try:
        title, sections = parse_html(_page(), "text/html")
    finally:
        html_parsing._main_content = original  # type: ignore[assignment]
    assert title
    assert sections
    assert seen == [False]
    assert gc.isenabled() is enabled


def test_the_collector_comes_back_after_a_failed_parse(collector_restored: None) -> None:
    gc.enable()
    with pytest.raises(TypeError):
        parse_html(None, "text/html")  # type: ignore[arg-type]
    assert gc.isenabled()


def test_parses_in_threads_leave_the_collector_on(collector_restored: None) -> None:
    gc.enable()
    start = threading.Barrier(4)
    failures: list[BaseException] = []

    def parse_some() -> None:
        start.wait()
        try:
            for _ in range(50):
                parse_html(_page(), "text/html")
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=parse_some) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert gc.isenabled()

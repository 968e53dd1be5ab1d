"""A hostile site's robots.txt (500 KiB, the most read) costs little and never holds the
server's event loop.

``Disallow: /`` and 170,000 ``é*`` took 3 to 6 s to read: each character not allowed in a URI
was percent-encoded by a ``quote`` call of its own (about ten calls a character), and the file
was read on the event loop of the server reading the sitemap, every workspace's requests
waiting, for each of the listing's sites (up to 16). The file is read in a worker thread, and
percent-encoded in one ``quote`` of the whole text.

The work is counted, not timed: the functions called (Python's and C's, from Python)."""

from __future__ import annotations

import gc
import threading
import tracemalloc
from contextlib import ExitStack
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from rag.knowledge import robots
from rag.knowledge.robots import parse_robots
from tests.fakes.http_handler import answer, serving
from tests.rag.test_language_cost_of_long_text import _calls


def _hostile(unit: str) -> str:
    """A robots.txt of one rule filling ``robots.MAX_BYTES`` with ``unit``."""
    head = "User-agent: *\nDisallow: /"
    units = (robots.MAX_BYTES - len(head) - 1) // len(unit.encode())
    return head + unit * units + "\n"


def _robots_txt(text: str) -> type[BaseHTTPRequestHandler]:
    """A site answering ``text`` to every request."""
    body = text.encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            answer(self, body, "text/plain; charset=utf-8")

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@pytest.mark.parametrize("unit", ["é*", "é", "<>*", "%41*", "%c3%a9"])
def test_reading_a_hostile_robots_txt_costs_at_most_a_call_or_two_a_character(
    unit: str,
) -> None:
    text = _hostile(unit)
    calls = _calls(lambda: parse_robots(text))
    assert calls <= 2 * len(text.encode()), f"{calls} calls for {len(text)} characters"


def test_rules_are_percent_encoded_as_before() -> None:
    """(Held before: the same rules as one character at a time.)"""
    for rule, path in [
        ("/café", "/caf%C3%A9"),
        ("/%70rivate", "/private"),
        ("/%3c", "/%3C"),
        ("/a b<c>", "/a%20b%3Cc%3E"),
        ("/%zz%", "/%zz%"),
        ("/%é", "/%%C3%A9"),
        ("/*$", "/*$"),
        ("/%7e%7E%2f", "/~~%2F"),
    ]:
        assert robots._normalized(rule) == path, rule


async def test_a_robots_txt_is_read_off_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    loop_thread = threading.get_ident()
    threads: list[int] = []
    real = robots.parse_robots

    def parse(text: str, agent: str = robots.AGENT) -> robots.Robots:
        threads.append(threading.get_ident())
        return real(text, agent)

    monkeypatch.setattr(robots, "parse_robots", parse)
    with serving(_robots_txt(_hostile("é*"))) as base:
        rules = await robots.read_robots(base, allow_private=True, timeout=30)
    robots.forget_recent()
    assert [rule.allow for rule in rules.rules] == [False]
    assert threads
    assert loop_thread not in threads


SITES = 8


async def test_the_rules_kept_for_page_jobs_are_bounded_in_bytes() -> None:
    """The rules read lately are kept (``RECENT_SECONDS``) for the page jobs of a sitemap, of
    1,024 sites at most, whatever each weighed: a 500 KiB file of ``ab*`` is 170,000 pieces,
    about 10 MB once read, so an owner listing pages on many sites of their own (16 a
    sitemap) could make one process hold gigabytes. What is kept is bounded in bytes
    (``RECENT_BYTES``); measured, not estimated."""
    handler = _robots_txt(_hostile("ab*"))
    robots.forget_recent()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        with ExitStack() as stack:
            bases = [stack.enter_context(serving(handler)) for _ in range(SITES)]
            for base in bases:
                await robots.read_robots(base, allow_private=True, timeout=30)
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
        robots.forget_recent()
    assert kept <= robots.RECENT_BYTES + 4 * 1_048_576, f"{kept / 1_048_576:.0f} MiB kept"

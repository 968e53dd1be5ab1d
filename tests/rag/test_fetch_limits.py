"""The address limits of every outgoing fetch (rag/knowledge/addresses.py), at their edges: a
URL of ``MAX_URL_LENGTH`` (2,048) characters is fetched and one more is refused before any
connection, a redirect's target too; a host name's labels of 63 characters and names of 253
(RFC 1035) are taken, one more refused; and ``FETCH_TIMEOUT_SECONDS`` bounds the whole fetch, so
a server sending its head or its body a byte at a time, each in time for a read's timeout,
cannot hold a fetch past it. (They held; nothing tested them.)"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from rag.knowledge.addresses import (
    MAX_HOST_LENGTH,
    MAX_URL_LENGTH,
    FetchFailed,
    UrlNotAllowed,
    refuse_at_sight,
)
from rag.knowledge.fetch import fetch_url
from tests.fakes.http_handler import answer, serving

TOO_LONG_TARGET = "/next/" + "b" * MAX_URL_LENGTH


@pytest.fixture
def site() -> Iterator[tuple[str, list[str]]]:
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            if self.path == "/redirect":
                self.send_response(302)
                self.send_header("Location", TOO_LONG_TARGET)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = b"<p>here</p>"
            answer(self, body, "text/html")

        def log_message(self, *args: Any) -> None:
            pass

    with serving(Handler) as base:
        yield base, hits


async def test_a_url_of_the_most_characters_is_fetched_and_one_more_is_not(
    site: tuple[str, list[str]],
) -> None:
    base, hits = site
    longest = base + "/" + "a" * (MAX_URL_LENGTH - len(base) - 1)
    assert len(longest) == MAX_URL_LENGTH
    page = await fetch_url(longest, allow_private=True)
    assert page.data == b"<p>here</p>"
    with pytest.raises(UrlNotAllowed, match="too long"):
        await fetch_url(longest + "a", allow_private=True)
    assert len(hits) == 1


async def test_a_redirect_to_a_url_past_the_limit_is_not_followed(
    site: tuple[str, list[str]],
) -> None:
    base, hits = site
    with pytest.raises(UrlNotAllowed, match="too long"):
        await fetch_url(base + "/redirect", allow_private=True)
    assert hits == ["/redirect"]


def _name(length: int, label: int = 63) -> str:
    """A host name of ``length`` characters, labels of at most ``label``."""
    labels: list[str] = []
    while sum(map(len, labels)) + len(labels) < length:
        left = length - sum(map(len, labels)) - len(labels)
        labels.append("a" * min(label, left))
    name = ".".join(labels)
    assert len(name) == length
    return name


@pytest.mark.parametrize(
    ("host", "taken"),
    [
        (f"{'a' * 63}.example", True),
        (f"{'a' * 64}.example", False),
        (_name(MAX_HOST_LENGTH), True),
        (_name(MAX_HOST_LENGTH) + ".", True),  # a final dot is no character of the name
        (_name(MAX_HOST_LENGTH + 1), False),
    ],
)
def test_host_names_are_taken_up_to_their_limits(host: str, taken: bool) -> None:
    url = f"https://{host}/"
    if taken:
        refuse_at_sight(url, allow_private=False, field="url")
    else:
        with pytest.raises(UrlNotAllowed, match="not a valid host name"):
            refuse_at_sight(url, allow_private=False, field="url")


DRIP_BYTES = 40
DRIP_SECONDS = 0.3  # between two bytes: far inside any read's timeout


@pytest.mark.parametrize("part", ["head", "body"])
async def test_a_server_dripping_its_answer_is_cut_at_the_fetch_s_timeout(part: str) -> None:
    """Read whole, the answer takes 12 s; each byte comes 0.3 s after the one before."""
    sent: list[int] = []
    stopped = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
            length = f"Content-Length: {DRIP_BYTES}\r\n\r\n".encode()
            drip, whole = (head, b"") if part == "head" else (b"x" * DRIP_BYTES, head + length)
            try:
                self.wfile.write(whole)
                for i in range(len(drip)):
                    self.wfile.write(drip[i : i + 1])
                    self.wfile.flush()
                    sent.append(i)
                    time.sleep(DRIP_SECONDS)
            except (BrokenPipeError, ConnectionResetError):
                pass
            finally:
                stopped.set()

        def log_message(self, *args: Any) -> None:
            pass

    with serving(Handler) as base:
        with pytest.raises(FetchFailed, match="Timed out after 1 s"):
            await fetch_url(base + "/drip.txt", allow_private=True, timeout=1.0)
        assert stopped.wait(30), "the server never stopped"
    assert len(sent) < DRIP_BYTES


@pytest.mark.parametrize(
    "host",
    [
        "0177.0.0.1",  # octal
        "0x7f000001",  # hexadecimal, one number
        "0x7f.0.0.1",
        "017700000001",  # octal, one number
        "127.1",
        "0",  # 0.0.0.0
        "0.0.0.0",
        "[::]",
        "[::7f00:1]",  # IPv4-compatible (deprecated) 127.0.0.1
        "[::ffff:0:7f00:1]",  # IPv4-translated
        "[0:0:0:0:0:ffff:127.0.0.1]",
        "[::ffff:a9fe:a9fe]",  # 169.254.169.254, mapped
        "2852039166",  # 169.254.169.254 as one number
        "[fe80::1%25lo]",
    ],
)
async def test_loopback_and_metadata_addresses_in_any_spelling_are_refused_unconnected(
    site: tuple[str, list[str]], host: str
) -> None:
    """(Held: each is refused, and the server is never reached.)"""
    base, hits = site
    port = base.rsplit(":", 1)[1]
    with pytest.raises(UrlNotAllowed):
        await fetch_url(f"http://{host}:{port}/page", allow_networks=[])
    assert hits == []

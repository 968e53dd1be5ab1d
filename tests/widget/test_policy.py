"""Table-driven tests for the widget origin policy."""

from __future__ import annotations

import pytest

from core.errors import ValidationFailed
from widget.policy import normalize_allowed_origin, origin_allowed, parse_origin

PARSE_CASES: list[tuple[str, tuple[str, str, int] | None]] = [
    ("https://shop.example.com", ("https", "shop.example.com", 443)),
    ("http://shop.example.com", ("http", "shop.example.com", 80)),
    ("https://shop.example.com:443", ("https", "shop.example.com", 443)),
    ("http://shop.example.com:80", ("http", "shop.example.com", 80)),
    ("https://shop.example.com:80", ("https", "shop.example.com", 80)),
    ("http://localhost:3000", ("http", "localhost", 3000)),
    ("HTTPS://Shop.EXAMPLE.com", ("https", "shop.example.com", 443)),
    ("https://shop.example.com.", ("https", "shop.example.com", 443)),
    ("https://xn--bcher-kva.example", ("https", "xn--bcher-kva.example", 443)),
    ("https://bücher.example", ("https", "xn--bcher-kva.example", 443)),
    ("http://127.0.0.1:8000", ("http", "127.0.0.1", 8000)),
    ("http://[::1]:8080", ("http", "[::1]", 8080)),
    ("http://[0:0:0:0:0:0:0:1]", ("http", "[::1]", 80)),
    ("https://my_host.example.com", ("https", "my_host.example.com", 443)),
    # rejected
    ("null", None),
    ("NULL", None),
    ("", None),
    ("shop.example.com", None),
    ("//shop.example.com", None),
    ("https://", None),
    ("https://shop.example.com/", None),
    ("https://shop.example.com/path", None),
    ("https://shop.example.com?q=1", None),
    ("https://shop.example.com#frag", None),
    ("https://user:pw@shop.example.com", None),
    ("https://user@shop.example.com", None),
    ("https://shop.example.com:", None),
    ("https://shop.example.com:0", None),
    ("https://shop.example.com:65536", None),
    ("https://shop.example.com:+80", None),
    ("https://shop.example.com:8o", None),
    ("https://shop..example.com", None),
    ("https://shop.example.com..", None),
    ("https://-shop.example.com", None),
    ("https://shop-.example.com", None),
    ("https://sh op.example.com", None),
    (" https://shop.example.com", None),
    ("https://shop.example.com\n", None),
    ("https://*.example.com", None),
    ("ftp://shop.example.com", None),
    ("file://", None),
    ("chrome-extension://abcdef", None),
    ("javascript://alert(1)", None),
    ("http://[::1", None),
    ("http://[zz::1]", None),
    ("http://::1", None),
    ("http://1.2.3", None),
    ("http://999.1.1.1", None),
    ("https://" + "a" * 64 + ".example.com", None),
]


@pytest.mark.parametrize(("origin", "expected"), PARSE_CASES)
def test_parse_origin(origin: str, expected: tuple[str, str, int] | None) -> None:
    assert parse_origin(origin) == expected


ALLOWED = [
    "https://shop.example.com",
    "http://localhost:3000",
    "https://*.example.org",
    "https://*.dev.example.net:8443",
]

ALLOW_CASES: list[tuple[str | None, bool]] = [
    (None, True),
    ("https://shop.example.com", True),
    ("https://SHOP.example.com", True),
    ("https://shop.example.com:443", True),
    ("https://shop.example.com.", True),
    ("http://shop.example.com", False),
    ("https://shop.example.com:8443", False),
    ("https://example.com", False),
    ("https://evil-shop.example.com", False),
    ("https://shop.example.com.evil.io", False),
    ("http://localhost:3000", True),
    ("http://localhost", False),
    ("http://localhost:3001", False),
    ("https://localhost:3000", False),
    ("http://127.0.0.1:3000", False),
    # wildcard
    ("https://a.example.org", True),
    ("https://a.b.example.org", True),
    ("https://A.Example.ORG", True),
    ("https://a.example.org:443", True),
    ("https://example.org", False),
    ("https://evilexample.org", False),
    ("https://a.evilexample.org", False),
    ("http://a.example.org", False),
    ("https://a.example.org:8443", False),
    ("https://a.example.org.evil.io", False),
    ("https://x.dev.example.net:8443", True),
    ("https://x.dev.example.net", False),
    ("https://dev.example.net:8443", False),
    # malformed
    ("null", False),
    ("", False),
    ("https://user@shop.example.com", False),
    ("https://shop.example.com/", False),
    ("https://*.example.org", False),
]


@pytest.mark.parametrize(("origin", "expected"), ALLOW_CASES)
def test_origin_allowed(origin: str | None, expected: bool) -> None:
    assert origin_allowed(origin, ALLOWED, development=False) is expected
    assert origin_allowed(origin, ALLOWED, development=True) is expected


@pytest.mark.parametrize(
    ("origin", "development", "expected"),
    [
        (None, False, True),
        (None, True, True),
        ("https://anything.example", True, True),
        ("https://anything.example", False, False),
        ("http://localhost:5173", False, False),
        ("http://localhost:5173", True, True),
        ("null", True, True),  # a file or a sandboxed frame, in development
        ("null", False, False),
        # Nothing a page has as its origin, in development too (these were a 500 there).
        ("http://[", True, False),
        ("https://]x", True, False),
        ("https://shop.example.com/path", True, False),
    ],
)
def test_empty_allowed_list(origin: str | None, development: bool, expected: bool) -> None:
    assert origin_allowed(origin, [], development=development) is expected


def test_entries_are_normalized_when_matching() -> None:
    allowed = ["HTTPS://Shop.Example.com:443/", "https://*.Bücher.example"]
    assert origin_allowed("https://shop.example.com", allowed, development=False)
    assert origin_allowed("https://a.xn--bcher-kva.example", allowed, development=False)
    assert not origin_allowed("https://xn--bcher-kva.example", allowed, development=False)


def test_a_unicode_entry_matches_the_origin_browsers_send_not_an_idna_2003_lookalike() -> None:
    """faß.de's pages send ``Origin: https://xn--fa-hia.de``; fass.de is someone else's."""
    allowed = ["https://faß.de"]
    assert origin_allowed("https://xn--fa-hia.de", allowed, development=False)
    assert not origin_allowed("https://fass.de", allowed, development=False)
    assert normalize_allowed_origin("https://faß.de") != "https://fass.de"


def test_malformed_stored_entries_never_grant_access() -> None:
    allowed = ["*", "https://*", "*.com", "https://a.*.com", "not an origin"]
    for origin in ["https://a.com", "https://x.a.y.com", "https://b.com"]:
        assert not origin_allowed(origin, allowed, development=False)
        assert not origin_allowed(origin, allowed, development=True)


NORMALIZE_CASES: list[tuple[str, str]] = [
    ("https://shop.example.com", "https://shop.example.com"),
    ("HTTPS://Shop.Example.COM", "https://shop.example.com"),
    ("https://shop.example.com/", "https://shop.example.com"),
    ("  https://shop.example.com  ", "https://shop.example.com"),
    ("https://shop.example.com:443", "https://shop.example.com"),
    ("http://shop.example.com:80", "http://shop.example.com"),
    ("https://shop.example.com:8443", "https://shop.example.com:8443"),
    ("https://shop.example.com.", "https://shop.example.com"),
    ("http://localhost:3000", "http://localhost:3000"),
    ("http://LOCALHOST:3000/", "http://localhost:3000"),
    ("https://*.example.com", "https://*.example.com"),
    ("https://*.Example.com:443", "https://*.example.com"),
    ("https://*.example.com:8443", "https://*.example.com:8443"),
    ("https://*.co.uk", "https://*.co.uk"),
    ("http://*.localhost:8080", "http://*.localhost:8080"),
    ("https://bücher.example", "https://xn--bcher-kva.example"),
    ("https://*.bücher.example", "https://*.xn--bcher-kva.example"),
    ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
    ("http://[::1]:8080", "http://[::1]:8080"),
    # As Chromium's `new URL(...).origin` has them (UTS-46 non-transitional, the WHATWG URL
    # standard): ß, final sigma and the joiners are kept, not mapped as IDNA 2003 mapped them.
    ("https://faß.de", "https://xn--fa-hia.de"),
    ("https://βόλος.com", "https://xn--nxasmm1c.com"),
    ("https://ශ්\u200dරී.com", "https://xn--10cl1a0b660p.com"),
    ("https://☃.com", "https://xn--n3h.com"),
    ("https://bücher\u3002de", "https://xn--bcher-kva.de"),
    ("https://Bücher.DE", "https://xn--bcher-kva.de"),
    ("https://\ufb01.com", "https://fi.com"),
]


@pytest.mark.parametrize(("entry", "expected"), NORMALIZE_CASES)
def test_normalize_allowed_origin(entry: str, expected: str) -> None:
    assert normalize_allowed_origin(entry) == expected
    # canonical form is a fixed point
    assert normalize_allowed_origin(expected) == expected


BAD_ENTRIES: list[tuple[str, str]] = [
    ("", "non-empty"),
    ("   ", "non-empty"),
    ("*", "every website"),
    ("shop.example.com", "missing a scheme"),
    ("*.com", "missing a scheme"),
    ("*.example.com", "missing a scheme"),
    ("ftp://shop.example.com", "not supported"),
    ("https://shop.example.com/path", "path"),
    ("https://shop.example.com//", "path"),
    ("https://shop.example.com/?a=1", "path, query"),
    ("https://shop.example.com?a=1", "query"),
    ("https://shop.example.com#x", "fragment"),
    # A browser reads a backslash as a slash: a path, not a host with a backslash in it.
    ("https://shop.example.com\\path", "has no path"),
    ("https://user:pass@shop.example.com", "user name"),
    ("https://*", "wildcard"),
    ("https://*.", "wildcard"),
    ("https://*.com", "top-level domain"),
    ("https://a.*.com", "wildcard"),
    ("https://*a.example.com", "wildcard"),
    ("https://*.*.example.com", "wildcard"),
    ("https://**.example.com", "wildcard"),
    ("https://*.127.0.0.1", "domain name"),
    ("https://*.[::1]", "malformed"),
    ("https://shop.example.com:99999", "port"),
    ("https://shop.example.com:abc", "port"),
    # Digits of another script (int() reads them, as 80): no port a browser writes.
    ("https://shop.example.com:\u0668\u0660", "port"),
    # A port past five digits is not read: int() refuses 4,300 digits and more (a 500).
    ("https://shop.example.com:" + "9" * 5000, "port"),
    ("https://shop..example.com", "invalid host"),
    ("https://", "host is missing"),
    ("https://shop example.com", "spaces"),
    # Hosts a browser refuses to parse: no page has them as its origin.
    ("https://a\u200cb.com", "joiner"),
    ("https://\u0661\u0662\u0663.com", "internationalized"),
]


@pytest.mark.parametrize(("entry", "fragment"), BAD_ENTRIES)
def test_normalize_rejects(entry: str, fragment: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        normalize_allowed_origin(entry)
    assert fragment in info.value.message
    assert info.value.code == "validation_error"

"""SSRF-safe fetching against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import gzip
import ipaddress
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from core.errors import AppError, UnsupportedMediaType
from rag.knowledge.addresses import FetchFailed, UrlNotAllowed, is_public_address
from rag.knowledge.fetch import FetchTooLarge, UnsupportedEncoding, fetch_url
from rag.knowledge.sitemaps import InvalidSitemap, fetch_sitemap, parse_sitemap
from tests.fakes.dns import REBIND_HOST, RebindingResolver
from tests.fakes.http_handler import serving
from tests.fakes.receiver import receiver

Route = Callable[[BaseHTTPRequestHandler], None]


def _send(
    handler: BaseHTTPRequestHandler,
    status: int,
    body: bytes = b"",
    content_type: str | None = "text/plain",
    *,
    length: bool = True,
    headers: dict[str, str] | None = None,
) -> None:
    handler.send_response(status)
    if content_type:
        handler.send_header("Content-Type", content_type)
    if length:
        handler.send_header("Content-Length", str(len(body)))
    for key, value in (headers or {}).items():
        handler.send_header(key, value)
    handler.end_headers()
    handler.wfile.write(body)


@dataclass
class Server:
    port: int
    routes: dict[str, Route]
    hits: list[tuple[str, str]] = field(default_factory=list)  # (path, Host header)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def paths(self) -> list[str]:
        return [p for p, _ in self.hits]


def _urlset(urls: list[str]) -> bytes:
    entries = "".join(f"<url><loc>{u}</loc></url>" for u in urls)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{entries}</urlset>'
    ).encode()


def _index(urls: list[str]) -> bytes:
    entries = "".join(f"<sitemap><loc>{u}</loc></sitemap>" for u in urls)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{entries}'
        "</sitemapindex>"
    ).encode()


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    state: dict[str, Server] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            srv = state["server"]
            path = self.path.split("?")[0]
            srv.hits.append((path, self.headers.get("Host", "")))
            route = srv.routes.get(path)
            if route is None:
                _send(self, 404, b"missing")
            else:
                try:
                    route(self)
                except (BrokenPipeError, ConnectionResetError):
                    return  # the client gave up (timeout test)

        def log_message(self, format: str, *args: object) -> None:
            return

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    port = httpd.server_address[1]
    base = f"http://127.0.0.1:{port}"
    html = b"<html><head><title>Hello</title></head><body><p>Hi there</p></body></html>"

    def encoded(body: bytes, coding: str) -> Route:
        return lambda h: _send(h, 200, body, "text/html", headers={"Content-Encoding": coding})

    raw_deflate = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    routes: dict[str, Route] = {
        "/gzip.html": encoded(gzip.compress(html), "gzip"),
        "/x-gzip.html": encoded(gzip.compress(html), "x-gzip"),
        "/deflate.html": encoded(zlib.compress(html), "deflate"),
        "/raw-deflate.html": encoded(raw_deflate.compress(html) + raw_deflate.flush(), "deflate"),
        "/identity.html": encoded(html, "identity"),
        "/gzip-identity.html": encoded(gzip.compress(html), "gzip, identity"),
        "/gzip-gzip.html": encoded(gzip.compress(gzip.compress(html)), "gzip, gzip"),
        "/gzip-deflate.html": encoded(zlib.compress(gzip.compress(html)), "gzip, deflate"),
        "/br.html": encoded(html, "br"),
        "/corrupt-gzip.html": encoded(b"\x1f\x8b\x08\x00garbage-not-deflate" * 4, "gzip"),
        "/gzip-5000.txt": lambda h: _send(
            h, 200, gzip.compress(b"a" * 5000), headers={"Content-Encoding": "gzip"}
        ),
        "/accept-encoding": lambda h: _send(h, 200, h.headers.get("Accept-Encoding", "").encode()),
        "/page.html": lambda h: _send(h, 200, html, "text/html; charset=utf-8"),
        "/image.png": lambda h: _send(h, 200, b"\x89PNG....", "image/png"),
        "/file.pdf": lambda h: _send(h, 200, b"%PDF-1.4 fake", "application/octet-stream"),
        "/big-declared": lambda h: _send(h, 200, b"a" * 5000),
        "/big-streamed": lambda h: _send(h, 200, b"a" * 5000, length=False),
        "/slow": lambda h: (time.sleep(1.5), _send(h, 200, b"late")),
        "/redirect-ok": lambda h: _send(h, 302, headers={"Location": "/page.html"}),
        "/redirect-loop": lambda h: _send(h, 302, headers={"Location": "/redirect-loop"}),
        "/redirect-127-0-0-2": lambda h: _send(
            h, 302, headers={"Location": f"http://127.0.0.2:{port}/page.html"}
        ),
        "/redirect-ipv6-loopback": lambda h: _send(
            h, 301, headers={"Location": f"http://[::1]:{port}/page.html"}
        ),
        "/redirect-file": lambda h: _send(h, 302, headers={"Location": "file:///etc/passwd"}),
        "/sitemap.xml": lambda h: _send(
            h,
            200,
            _urlset([f"{base}/a", f"{base}/b", "ftp://elsewhere.invalid/x", f"{base}/a"]),
            "application/xml",
        ),
        "/index.xml": lambda h: _send(
            h,
            200,
            _index([f"{base}/child1.xml", f"{base}/broken.xml", f"{base}/nested.xml"]),
            "text/xml",
        ),
        "/child1.xml": lambda h: _send(
            h, 200, _urlset([f"{base}/c{i}" for i in range(3)]), "text/xml"
        ),
        "/nested.xml": lambda h: _send(h, 200, _index([f"{base}/deep.xml"]), "text/xml"),
        "/deep.xml": lambda h: _send(h, 200, _index([f"{base}/deeper.xml"]), "text/xml"),
        "/deeper.xml": lambda h: _send(h, 200, _urlset([f"{base}/too-deep"]), "text/xml"),
        "/big-sitemap.xml": lambda h: _send(
            h, 200, _urlset([f"{base}/p{i}" for i in range(500)]), "application/xml"
        ),
        "/sitemap.xml.gz": lambda h: _send(
            h, 200, gzip.compress(_urlset([f"{base}/gz"])), "application/gzip"
        ),
        "/sitemap.txt": lambda h: _send(h, 200, f"{base}/t1\n\n{base}/t2\n".encode()),
    }
    srv = Server(port=port, routes=routes)
    state["server"] = srv
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture
def srv(server: Server) -> Server:
    server.hits.clear()
    return server


LOOPBACK_ONLY = ["127.0.0.1/32"]


async def test_loopback_is_refused_by_default(srv: Server) -> None:
    for url in (
        srv.url("/page.html"),
        srv.url("/page.html", host="localhost"),
        srv.url("/page.html", host="[::ffff:127.0.0.1]"),
        srv.url("/page.html", host="2130706433"),  # 127.0.0.1 as a decimal number
    ):
        with pytest.raises(UrlNotAllowed) as info:
            await fetch_url(url)
        assert info.value.code == "url_not_allowed"
        assert info.value.status_code == 422
    assert srv.hits == []  # refused before any connection


async def test_private_allowed_on_request_and_host_header_kept(srv: Server) -> None:
    page = await fetch_url(srv.url("/page.html", host="localhost"), allow_private=True)
    assert page.data.startswith(b"<html>")
    assert page.media_type == "text/html"
    assert page.content_type == "text/html; charset=utf-8"
    assert page.final_url == srv.url("/page.html", host="localhost")
    # Connected to the checked IP, but the server still saw the original host name.
    assert srv.hits == [("/page.html", f"localhost:{srv.port}")]


async def test_redirects_are_followed_and_rechecked(srv: Server) -> None:
    page = await fetch_url(srv.url("/redirect-ok"), allow_networks=LOOPBACK_ONLY)
    assert page.final_url == srv.url("/page.html")
    assert page.url == srv.url("/redirect-ok")
    assert srv.paths() == ["/redirect-ok", "/page.html"]


@pytest.mark.parametrize("path", ["/redirect-127-0-0-2", "/redirect-ipv6-loopback"])
async def test_redirect_to_loopback_refused_on_the_hop(srv: Server, path: str) -> None:
    # 127.0.0.1 itself is allowed here; the redirect target is another loopback address.
    with pytest.raises(UrlNotAllowed) as info:
        await fetch_url(srv.url(path), allow_networks=LOOPBACK_ONLY)
    assert "/page.html" in info.value.details["url"]
    assert srv.paths() == [path]


async def test_redirect_to_other_scheme_refused(srv: Server) -> None:
    with pytest.raises(UrlNotAllowed):
        await fetch_url(srv.url("/redirect-file"), allow_private=True)


async def test_redirect_limit(srv: Server) -> None:
    with pytest.raises(FetchFailed, match="Too many redirects"):
        await fetch_url(srv.url("/redirect-loop"), allow_private=True, max_redirects=3)
    assert srv.paths() == ["/redirect-loop"] * 4


@pytest.mark.parametrize("path", ["/big-declared", "/big-streamed"])
async def test_byte_cap(srv: Server, path: str) -> None:
    with pytest.raises(FetchTooLarge) as info:
        await fetch_url(srv.url(path), allow_private=True, max_bytes=1000)
    assert info.value.code == "fetch_too_large"
    page = await fetch_url(srv.url(path), allow_private=True, max_bytes=5000)
    assert len(page.data) == 5000


async def test_wrong_content_type_refused(srv: Server) -> None:
    with pytest.raises(UnsupportedMediaType) as info:
        await fetch_url(srv.url("/image.png"), allow_private=True)
    assert info.value.status_code == 415


async def test_octet_stream_accepted_by_extension(srv: Server) -> None:
    page = await fetch_url(srv.url("/file.pdf"), allow_private=True)
    assert page.content_type == "application/pdf"


async def test_http_errors_and_timeouts_are_fetch_failed(srv: Server) -> None:
    with pytest.raises(FetchFailed) as info:
        await fetch_url(srv.url("/nope"), allow_private=True)
    assert info.value.details["status"] == 404
    # The slow route answers long after the timeout: "Timed out" shows the timeout fired.
    with pytest.raises(FetchFailed, match="Timed out"):
        await fetch_url(srv.url("/slow"), allow_private=True, timeout=0.3)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.invalid/file",
        "file:///etc/passwd",
        "http://user:pw@example.invalid/",
        "http:///nohost",
        "javascript:alert(1)",
    ],
)
async def test_bad_urls_refused(url: str) -> None:
    with pytest.raises(UrlNotAllowed):
        await fetch_url(url)


def test_address_classification() -> None:
    blocked = [
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "127.0.0.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.1",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "fec0::1",  # site-local, deprecated: is_global says True
        "ff02::1",
        "::ffff:10.0.0.1",
        "::ffff:127.0.0.1",
        "2002:a00:1::",  # 6to4 wrapping 10.0.0.1
        "64:ff9b::a00:1",  # NAT64 wrapping 10.0.0.1
        "64:ff9b:1::a9fe:a9fe",  # local-use NAT64 (RFC 8215) wrapping 169.254.169.254
        "64:ff9b:1::808:808",  # local-use NAT64: a gateway of the site's own, whatever it wraps
    ]
    for text in blocked:
        assert not is_public_address(ipaddress.ip_address(text)), text
    for text in ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111", "::ffff:1.1.1.1"]:
        assert is_public_address(ipaddress.ip_address(text)), text


# IANA's special-purpose registries (iana-ipv4-special-registry, iana-ipv6-special-registry):
# blocks whose "Globally Reachable" is False, or that no fetch should reach, which Python
# 3.11's ipaddress counts as global; each with the addresses at its edges.
NOT_GLOBAL_BY_THE_REGISTRY = [
    "192.0.0.8",  # 192.0.0.8/32, IPv4 dummy address (RFC 7600)
    "192.0.0.11",  # 192.0.0.0/24, IETF Protocol Assignments (RFC 6890), not .9/.10
    "192.0.0.169",
    "192.0.0.172",
    "192.0.0.255",
    "192.88.99.1",  # 192.88.99.0/24, deprecated 6to4 Relay Anycast (RFC 7526)
    "192.88.99.2",  # 192.88.99.2/32, 6a44-relay anycast address (RFC 6751)
    "192.88.99.255",
    "3fff::",  # 3fff::/20, Documentation (RFC 9637)
    "3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff",
    "5f00::1",  # 5f00::/16, Segment Routing (SRv6) SIDs (RFC 9602)
    "5f00:ffff::1",
    "64:ff9b:1::1",  # 64:ff9b:1::/48, IPv4-IPv6 Translation, local use (RFC 8215)
    "2001:2::1",  # 2001:2::/48, Benchmarking (RFC 5180)
    "2001:2:0:ffff::1",
    "100:0:0:1::1",  # 100:0:0:1::/64, Dummy IPv6 Prefix (RFC 9780)
    "100::1",  # 100::/64, Discard-Only Address Block (RFC 6666)
    "::ffff:192.0.0.8",  # the same IPv4 blocks inside IPv6 forms
    "2002:c000:8::",  # 6to4 of 192.0.0.8
    "64:ff9b::c000:8",  # NAT64 of 192.0.0.8
]

PUBLIC_BESIDE_THEM = [
    "192.0.0.9",  # 192.0.0.9/32, Port Control Protocol Anycast (RFC 7723): globally reachable
    "192.0.0.10",  # 192.0.0.10/32, TURN Anycast (RFC 8155): globally reachable
    "192.0.1.1",
    "191.255.255.254",
    "192.88.98.255",
    "192.88.100.1",
    "3ffe:ffff::1",  # below 3fff::/20
    "3fff:1000::1",  # past 3fff::/20
    "2001:4860:4860::8888",
    "2a00:1450:4001:80b::200e",  # real hosts
    "2606:4700:4700::1111",
    "8.8.8.8",
    "151.101.1.69",
    "::ffff:8.8.8.8",
    "2002:808:808::1",  # 6to4 of 8.8.8.8
]


@pytest.mark.parametrize("text", NOT_GLOBAL_BY_THE_REGISTRY)
def test_registry_blocks_python_counts_as_global_are_refused(text: str) -> None:
    assert not is_public_address(ipaddress.ip_address(text))


@pytest.mark.parametrize("text", PUBLIC_BESIDE_THEM)
def test_public_addresses_beside_those_blocks_stay_allowed(text: str) -> None:
    assert is_public_address(ipaddress.ip_address(text))


async def test_sitemap_urlset_deduplicated_http_only(srv: Server) -> None:
    urls = await fetch_sitemap(srv.url("/sitemap.xml"), allow_private=True)
    assert urls == [srv.url("/a"), srv.url("/b")]


async def test_sitemap_index_nested_and_depth_bounded(srv: Server) -> None:
    urls = await fetch_sitemap(srv.url("/index.xml"), allow_private=True, max_depth=2)
    # child1 pages; broken.xml (404) skipped; nested -> deep is an index at depth 2: not followed.
    assert urls == [srv.url(f"/c{i}") for i in range(3)]
    assert "/deeper.xml" not in srv.paths()
    assert {"/child1.xml", "/broken.xml", "/nested.xml", "/deep.xml"} <= set(srv.paths())


async def test_sitemap_bounded_by_max_pages(srv: Server) -> None:
    urls = await fetch_sitemap(srv.url("/big-sitemap.xml"), allow_private=True, max_pages=25)
    assert urls == [srv.url(f"/p{i}") for i in range(25)]


async def test_sitemap_gzip_and_text_formats(srv: Server) -> None:
    assert await fetch_sitemap(srv.url("/sitemap.xml.gz"), allow_private=True) == [srv.url("/gz")]
    assert await fetch_sitemap(srv.url("/sitemap.txt"), allow_private=True) == [
        srv.url("/t1"),
        srv.url("/t2"),
    ]


async def test_sitemap_root_errors_raise(srv: Server) -> None:
    with pytest.raises(UrlNotAllowed):
        await fetch_sitemap(srv.url("/sitemap.xml"))
    with pytest.raises(AppError) as info:
        await fetch_sitemap(srv.url("/missing.xml"), allow_private=True)
    assert info.value.code == "fetch_failed"


@pytest.mark.parametrize(
    "path",
    [
        "/gzip.html",
        "/x-gzip.html",
        "/deflate.html",
        "/raw-deflate.html",
        "/identity.html",
        "/gzip-identity.html",
    ],
)
async def test_one_content_coding_is_decoded(srv: Server, path: str) -> None:
    page = await fetch_url(srv.url(path), allow_private=True)
    assert page.data.startswith(b"<html><head><title>Hello</title>")
    assert page.data.endswith(b"</html>")


async def test_only_the_codings_we_decode_are_asked_for(srv: Server) -> None:
    page = await fetch_url(srv.url("/accept-encoding"), allow_private=True)
    assert page.data == b"gzip, deflate"


@pytest.mark.parametrize("path", ["/gzip-gzip.html", "/gzip-deflate.html", "/br.html"])
async def test_stacked_or_unknown_codings_are_refused(srv: Server, path: str) -> None:
    with pytest.raises(UnsupportedEncoding) as info:
        await fetch_url(srv.url(path), allow_private=True)
    assert info.value.code == "unsupported_encoding"
    assert info.value.status_code == 422


async def test_corrupt_compressed_body_is_fetch_failed(srv: Server) -> None:
    with pytest.raises(FetchFailed, match="could not be decoded") as info:
        await fetch_url(srv.url("/corrupt-gzip.html"), allow_private=True)
    assert info.value.code == "fetch_failed"


async def test_the_cap_counts_decoded_bytes(srv: Server) -> None:
    with pytest.raises(FetchTooLarge):
        await fetch_url(srv.url("/gzip-5000.txt"), allow_private=True, max_bytes=4999)
    page = await fetch_url(srv.url("/gzip-5000.txt"), allow_private=True, max_bytes=5000)
    assert page.data == b"a" * 5000


async def test_a_dns_answer_that_changes_after_the_check_is_not_followed(
    srv: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    resolver = RebindingResolver(["127.0.0.1", "127.0.0.2"])  # checked, then "internal"
    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    with receiver(host="127.0.0.2", port=srv.port):
        page = await fetch_url(f"http://{REBIND_HOST}:{srv.port}/page.html", allow_private=True)
    assert page.data.startswith(b"<html>")
    assert srv.hits == [("/page.html", f"{REBIND_HOST}:{srv.port}")]
    assert resolver.asked == ["127.0.0.1"]


@pytest.mark.parametrize(
    "body",
    [b"", b"   \n", b"We are down for maintenance", b"<html><body>hi</body></html>", b"<<<"],
)
def test_junk_is_not_a_sitemap_that_lists_nothing(body: bytes) -> None:
    with pytest.raises(InvalidSitemap) as info:
        parse_sitemap(body)
    assert (info.value.code, info.value.status_code) == ("invalid_sitemap", 422)


def test_an_empty_urlset_is_a_sitemap_that_lists_nothing() -> None:
    assert parse_sitemap(b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"/>') == (
        "urlset",
        [],
    )


# --- bytes after the end of a compressed body ---------------------------------------------------

TRAILING_TOTAL = 64 * 1_048_576  # what the server means to send after the compressed body
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
_EMPTY_STORED_BLOCK = b"\x00\x00\x00\xff\xff"  # not final, no output: the stream never ends


@dataclass
class Trickle:
    """One streamed answer: how many bytes after the body the server got out, and whether it
    is done (it stops when the client hangs up, or after ``TRAILING_TOTAL``)."""

    sent: int = 0
    done: threading.Event = field(default_factory=threading.Event)


@pytest.fixture
def trickling() -> Iterator[tuple[str, dict[str, Trickle]]]:
    html = b"<html><body><p>the real page</p></body></html>"
    heads = {
        "/gzip-then-junk.html": ("gzip", gzip.compress(html), b"junk" * 16_384),
        "/deflate-then-junk.html": ("deflate", zlib.compress(html), b"junk" * 16_384),
        "/endless-empty-blocks.html": ("gzip", _GZIP_HEADER, _EMPTY_STORED_BLOCK * 13_107),
    }
    answers: dict[str, Trickle] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            coding, head, filler = heads[self.path]
            answer = answers[self.path] = Trickle()
            try:
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Encoding", coding)
                self.end_headers()  # no Content-Length: the body ends when the server closes
                self.wfile.write(head)
                while answer.sent < TRAILING_TOTAL:
                    self.wfile.write(filler)
                    self.wfile.flush()
                    answer.sent += len(filler)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client hung up: what it should do
            finally:
                answer.done.set()

        def log_message(self, format: str, *args: object) -> None:
            return

    with serving(Handler) as base:
        yield base, answers


async def _finished(answer: Trickle) -> Trickle:
    assert await asyncio.to_thread(answer.done.wait, 120), "the server never finished its answer"
    return answer


@pytest.mark.parametrize("path", ["/gzip-then-junk.html", "/deflate-then-junk.html"])
async def test_reading_stops_at_the_end_of_a_compressed_body(
    trickling: tuple[str, dict[str, Trickle]], path: str
) -> None:
    """Bytes after the end of a gzip/deflate body were read (and dropped) until the server
    stopped or the fetch timed out, so a server streaming junk after a small page held the fetch
    (and a sitemap slot) for FETCH_TIMEOUT_SECONDS (ingestion review U2). The page is returned
    and the connection closed while the server still has most of its junk to send."""
    base, answers = trickling
    page = await fetch_url(base + path, allow_private=True, max_bytes=1_048_576)
    assert page.data == b"<html><body><p>the real page</p></body></html>"
    answer = await _finished(answers[path])
    assert answer.sent < TRAILING_TOTAL // 2, f"the server sent {answer.sent} junk bytes"


async def test_a_compressed_stream_that_never_ends_is_too_large_by_its_raw_bytes(
    trickling: tuple[str, dict[str, Trickle]],
) -> None:
    """Empty stored blocks decode to nothing, so the decoded-byte cap never tripped: the fetch
    read whatever the server sent. The raw bytes are capped too (twice the cap and a piece)."""
    base, answers = trickling
    with pytest.raises(FetchTooLarge):
        await fetch_url(
            base + "/endless-empty-blocks.html", allow_private=True, max_bytes=1_048_576
        )
    answer = await _finished(answers["/endless-empty-blocks.html"])
    assert answer.sent < TRAILING_TOTAL // 2, f"the server sent {answer.sent} bytes"


async def test_fetches_share_one_tls_context(srv: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each fetch's client loaded certifi's CA bundle into a TLS context of its own (40 ms of
    CPU on a busy host per page of a sitemap's sync, per sitemap file, per webhook posted): the
    process's one context is used by every fetch, a plain http:// one included."""
    import ssl

    made = 0
    real = ssl.create_default_context

    def counted(*args: object, **kwargs: object) -> ssl.SSLContext:
        nonlocal made
        made += 1
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ssl, "create_default_context", counted)
    for _ in range(3):
        await fetch_url(srv.url("/page.html"), allow_networks=LOOPBACK_ONLY)
    await fetch_sitemap(srv.url("/sitemap.xml"), allow_networks=LOOPBACK_ONLY)
    assert made <= 1  # the process's first, when no test before this one fetched

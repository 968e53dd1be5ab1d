"""SSRF-safe fetching of web pages (and of sitemap files, read in rag/knowledge/sitemaps.py).

Every hop (the first URL and each redirect) passes ``rag.knowledge.addresses.check_url_addresses``
and the connection goes to an address that was checked (``pinned_request``), so neither a private
address nor a DNS answer that changes after the check (rebinding) is reached. When the first
address does not take the connection (a dual-stack host whose IPv6 address is unreachable), the
next checked one is tried. Environment proxies are
ignored (``trust_env=False``) for the same reason.

Bodies are read raw and decoded here, never by httpx: at most one content coding (gzip or
deflate) is accepted, and it is inflated in bounded pieces counted against the byte cap, so a
small compressed body cannot make the process hold more than the cap plus one piece (the
decoders are ``rag.knowledge.codings``: every member of a gzip body is read, and a body cut
short inside its stream is refused). Reading stops at the end of the compressed stream, and the
raw bytes read are capped too (twice the cap plus one piece), so bytes sent after the end, or a
stream that never produces output, cannot keep a fetch reading until its timeout.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

import httpx

from core.errors import AppError, UnsupportedMediaType
from core.tls import outgoing_tls
from rag.knowledge.addresses import (
    FetchFailed,
    IPAddress,
    IPNetwork,
    UrlNotAllowed,
    allowed_networks,
    check_url_addresses,
    pinned_request,
)
from rag.knowledge.codings import CODINGS, PIECE, Inflater
from rag.knowledge.content_types import response_type
from rag.knowledge.decoding import declared_charset
from rag.knowledge.parsing import DOCX_MIME

log = logging.getLogger(__name__)

USER_AGENT = "TrulyBot/0.1 (+document ingestion)"
ACCEPT_ENCODING = "gzip, deflate"

DOCUMENT_TYPES: tuple[str, ...] = (
    "text/html",
    "application/xhtml+xml",
    "text/plain",
    "text/markdown",
    "text/x-markdown",
    "application/pdf",
    DOCX_MIME,
)
SITEMAP_TYPES: tuple[str, ...] = (
    "application/xml",
    "text/xml",
    "text/plain",
    "application/gzip",
    "application/x-gzip",
)
TYPE_ALIASES = {
    "application/x-pdf": "application/pdf",
    "application/acrobat": "application/pdf",
    "application/nappdf": "application/pdf",
    "image/pdf": "application/pdf",
    "text/x-markdown": "text/markdown",
    "text/xml": "application/xml",
    "application/x-gzip": "application/gzip",
}
"""Other names of an accepted type (shared-mime-info's aliases): a page sent as one is read as
that type, e.g. a PDF served as ``application/x-pdf``, which was refused (415)."""
_GENERIC_TYPES = {
    "",
    "application/octet-stream",
    "binary/octet-stream",
    "application/unknown",
    "application/x-download",
    "application/force-download",
}
"""Types that say nothing of the content (a download forced on a browser): the name decides."""
_EXTENSION_TYPES = {
    ".pdf": "application/pdf",
    ".docx": DOCX_MIME,
    ".txt": "text/plain",
    ".text": "text/plain",
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".html": "text/html",
    ".htm": "text/html",
    ".xhtml": "application/xhtml+xml",
    ".xml": "application/xml",
    ".gz": "application/gzip",
}
_REDIRECTS = {301, 302, 303, 307, 308}
MIN_CONNECT_SECONDS = 1.0
"""The least connect time one address of several gets (``_connect``)."""


def _raw_limit(max_bytes: int) -> int:
    """The most compressed bytes read for a decoded cap of ``max_bytes``: deflate grows
    incompressible data by well under half, so only a stream that is not a real body (one that
    produces nothing, say) reaches it."""
    return 2 * max_bytes + PIECE


class FetchTooLarge(AppError):
    code = "fetch_too_large"
    status_code = 413
    message = "The fetched content is too large"


class UnsupportedEncoding(FetchFailed):
    code = "unsupported_encoding"
    message = "The response uses a content encoding that is not accepted"


@dataclass(frozen=True, slots=True)
class FetchedPage:
    """A fetched response body; ``content_type`` is the header's value (with charset); a header
    of several values (sent twice) as browsers read it (``content_types.response_type``)."""

    url: str
    final_url: str
    content_type: str
    data: bytes
    etag: str | None = None
    last_modified: str | None = None
    not_modified: bool = False
    """A 304 to a conditional request: no body was downloaded (``data`` is empty)."""
    truncated: bool = False
    """Asked with ``truncate``: the body went on past ``max_bytes``; ``data`` is its start."""

    @property
    def media_type(self) -> str:
        return self.content_type.split(";")[0].strip().lower()


_FETCH_HEADERS = {"User-Agent": USER_AGENT, "Accept": "*/*", "Accept-Encoding": ACCEPT_ENCODING}


_NO_CODING = frozenset({"identity", "none"})
"""Names of no coding: ``none`` is no registered coding, but servers send it for identity."""


def _content_coding(response: httpx.Response, url: str) -> str | None:
    """The response's one content coding (None for identity); stacked or unknown: refused.
    Names are read in any case, with spaces around them (``GZIP``, ``gzip, identity``)."""
    header = response.headers.get("content-encoding", "")
    codings = [
        value.strip().lower()
        for value in response.headers.get_list("content-encoding", split_commas=True)
    ]
    codings = [c for c in codings if c and c not in _NO_CODING]
    details = {"url": url, "content_encoding": header}
    if len(codings) > 1:
        raise UnsupportedEncoding(
            f"Stacked content encodings are not accepted ({', '.join(codings)})", details=details
        )
    if codings and codings[0] not in CODINGS:
        raise UnsupportedEncoding(
            f"Content encoding {codings[0]!r} is not supported", details=details
        )
    return codings[0] if codings else None


MAX_KEPT = {"etag": 300, "last-modified": 100, "content-type": 200}
"""The longest ETag, Last-Modified and Content-Type a ``FetchedPage`` carries: the widths of the
columns that keep them (documents, sources). A server's longer header made the page's
ingestion, and every sync of it, fail on the database as ``internal_error``."""


_SENDABLE = re.compile(r"[\t\x20-\x7e]*")
"""A header value httpx sends as it is: visible ASCII, spaces and tabs."""


def _validator(response: httpx.Response, name: str) -> str | None:
    """The response's ``name`` validator; one longer than is kept, or one holding a byte past
    ASCII (RFC 9110's obs-text, read as Latin-1), is dropped: the page is then fetched whole
    each time, its content hash still telling what changed. Sent back, such a byte was a
    ``UnicodeEncodeError`` that failed every sync of its source from then on."""
    value = response.headers.get(name)
    if value is None or len(value) > MAX_KEPT[name] or not _SENDABLE.fullmatch(value):
        return None
    return value


def _kept_type(header: str, media: str, effective: str) -> str:
    """The content type a page keeps: the header when it names the type read and fits, else
    that type with the header's charset (the one parameter parsing reads), else the type. A
    type read by its alias or the URL's extension is named as read, with the header's charset."""
    if media == effective and len(header) <= MAX_KEPT["content-type"]:
        return header
    charset = declared_charset(header)
    kept = f"{effective}; charset={charset}" if charset else effective
    return kept if len(kept) <= MAX_KEPT["content-type"] else effective


def _conditional(etag: str | None, last_modified: str | None) -> dict[str, str]:
    """The conditional request's headers; a validator that cannot be sent (stored before
    ``_validator`` dropped such ones) is left out."""
    asked = {"If-None-Match": etag, "If-Modified-Since": last_modified}
    return {name: value for name, value in asked.items() if value and _SENDABLE.fullmatch(value)}


def _effective_type(media_type: str, url: httpx.URL, allowed: Iterable[str]) -> str | None:
    allowed_set = {t.lower() for t in allowed}
    if media_type in allowed_set:
        return media_type
    if TYPE_ALIASES.get(media_type) in allowed_set:
        return TYPE_ALIASES[media_type]
    if media_type in _GENERIC_TYPES:
        guessed = _EXTENSION_TYPES.get(PurePosixPath(url.path).suffix.lower())
        if guessed in allowed_set:
            return guessed
    return None


async def fetch_url(
    url: str,
    *,
    allow_private: bool = False,
    timeout: float = 10.0,  # noqa: ASYNC109 - a per-fetch budget, applied with asyncio.timeout
    max_bytes: int = 5 * 1_048_576,
    max_redirects: int = 5,
    allowed_types: Iterable[str] = DOCUMENT_TYPES,
    allow_networks: Iterable[str | IPNetwork] = (),
    client: httpx.AsyncClient | None = None,
    etag: str | None = None,
    last_modified: str | None = None,
    truncate: bool = False,
) -> FetchedPage:
    """GET ``url`` safely; ``timeout`` bounds the whole fetch (DNS, redirects and body).

    ``truncate``: a body past ``max_bytes`` is cut there (``FetchedPage.truncated``) instead of
    refused; nothing past it is read.

    ``etag`` / ``last_modified``: the validators of an earlier fetch, sent as If-None-Match /
    If-Modified-Since on every hop; a 304 answer returns ``not_modified`` without a body.

    Raises ``UrlNotAllowed`` (422), ``FetchFailed`` (422), ``FetchTooLarge`` (413) or
    ``UnsupportedMediaType`` (415).
    """
    allowed = tuple(allowed_types)
    networks = allowed_networks(allow_networks)
    own_client = client is None
    http = client or httpx.AsyncClient(
        follow_redirects=False, trust_env=False, timeout=timeout, verify=outgoing_tls()
    )
    try:
        async with asyncio.timeout(timeout):
            return await _fetch(
                http,
                url,
                allow_private,
                networks,
                max_bytes,
                max_redirects,
                allowed,
                _conditional(etag, last_modified),
                truncate,
            )
    except TimeoutError as exc:
        raise FetchFailed(f"Timed out after {timeout:g} s", details={"url": url}) from exc
    except httpx.HTTPError as exc:
        raise FetchFailed(f"Fetch failed: {exc}", details={"url": url}) from exc
    finally:
        if own_client:
            await http.aclose()


async def _connect(
    http: httpx.AsyncClient,
    parsed: httpx.URL,
    addresses: Sequence[IPAddress],
    headers: dict[str, str],
) -> httpx.Response:
    """The response of the first of ``addresses`` (each checked) that takes the connection: a
    host whose first address is unreachable (a dual-stack site whose IPv6 does not route) is
    asked at the next. While more remain, one attempt's connect may take its share of the
    client's connect timeout (at least ``MIN_CONNECT_SECONDS``)."""
    last: httpx.TransportError | None = None
    for i, ip in enumerate(addresses):
        request = pinned_request(http, "GET", parsed, ip, headers=headers)
        left = len(addresses) - i
        timeouts = dict(request.extensions.get("timeout") or {})
        connect = timeouts.get("connect")
        if left > 1 and isinstance(connect, int | float):
            timeouts["connect"] = max(MIN_CONNECT_SECONDS, connect / left)
            request.extensions["timeout"] = timeouts
        try:
            return await http.send(request, stream=True, follow_redirects=False)
        except ValueError as exc:  # (idna's errors are UnicodeErrors)
            # httpx reads a redirect's Location as it answers: a host that is not valid IDNA
            # (``http://xn--/``) raised idna's error, no AppError, which failed a sitemap's
            # whole sync. No request can reach it: refused as any address the checks refuse.
            raise UrlNotAllowed(
                f"The page redirects to an invalid URL ({exc})", details={"url": str(parsed)}
            ) from exc
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            last = exc
            if left > 1:
                log.info("%s: %s unreachable (%s); trying the next address", parsed, ip, exc)
    assert last is not None
    raise last


async def _fetch(
    http: httpx.AsyncClient,
    url: str,
    allow_private: bool,
    networks: Sequence[IPNetwork],
    max_bytes: int,
    max_redirects: int,
    allowed: tuple[str, ...],
    conditional: dict[str, str],
    truncate: bool = False,
) -> FetchedPage:
    current = url
    headers = {**_FETCH_HEADERS, **conditional}
    for _hop in range(max_redirects + 1):
        parsed, addresses = await check_url_addresses(
            current, allow_private=allow_private, allow_networks=networks
        )
        response = await _connect(http, parsed, addresses, headers)
        try:
            if response.status_code in _REDIRECTS:
                location = response.headers.get("location")
                if not location:
                    raise FetchFailed(
                        "Redirect without a Location header", details={"url": current}
                    )
                current = str(parsed.join(location))
                continue
            if response.status_code == 304 and conditional:
                return FetchedPage(
                    url=url,
                    final_url=str(parsed),
                    content_type="",
                    data=b"",
                    etag=_validator(response, "etag") or conditional.get("If-None-Match"),
                    last_modified=_validator(response, "last-modified")
                    or conditional.get("If-Modified-Since"),
                    not_modified=True,
                )
            if not 200 <= response.status_code < 300:
                raise FetchFailed(
                    f"The server answered HTTP {response.status_code}",
                    details={"url": current, "status": response.status_code},
                )
            header, media = response_type(response.headers.get("content-type", ""))
            effective = _effective_type(media, parsed, allowed)
            if effective is None:
                raise UnsupportedMediaType(
                    f"Unsupported content type {media or 'none'!r}",
                    details={"url": current, "content_type": header},
                )
            too_large = FetchTooLarge(
                f"Content is larger than {max_bytes} bytes",
                details={"url": current, "max_bytes": max_bytes},
            )
            declared = response.headers.get("content-length")
            if not truncate and declared and declared.isdigit() and int(declared) > max_bytes:
                raise too_large
            inflater = Inflater(_content_coding(response, current))
            body = bytearray()
            truncated = False
            received, most_raw = 0, _raw_limit(max_bytes)
            ended = False  # stopped reading before the body's end (the caps, its stream's end)
            async for raw in response.aiter_raw():  # decoded here, piece by piece, never by httpx
                received += len(raw)
                for piece in inflater.feed(raw):
                    body += piece
                    if len(body) > max_bytes:
                        if not truncate:
                            raise too_large
                        del body[max_bytes:]
                        truncated = True
                        break
                if truncated or inflater.eof:  # past the stream's end: nothing more to read
                    ended = True
                    break
                if received > most_raw:  # compressed bytes that decode to (next to) nothing
                    if not truncate:
                        raise too_large
                    truncated = ended = True
                    break
            if not ended:
                inflater.finish(current)  # a compressed body cut short is no whole page
            return FetchedPage(
                url=url,
                final_url=str(parsed),
                content_type=_kept_type(header, media, effective),
                data=bytes(body),
                etag=_validator(response, "etag"),
                last_modified=_validator(response, "last-modified"),
                truncated=truncated,
            )
        finally:
            await response.aclose()
    raise FetchFailed(f"Too many redirects (more than {max_redirects})", details={"url": url})


__all__ = [
    "DOCUMENT_TYPES",
    "SITEMAP_TYPES",
    "FetchTooLarge",
    "FetchedPage",
    "Inflater",
    "UnsupportedEncoding",
    "fetch_url",
]

"""Where a server-side request may go: the SSRF checks of every outgoing URL.

A URL is http/https only, without credentials, not too long; its host is resolved with DNS and
refused when any address is private, loopback, link-local, multicast, reserved, unspecified or
otherwise not global (IANA's special-purpose blocks that Python 3.11 counts as global too:
``_NOT_GLOBAL``; IPv4-mapped, 6to4, Teredo and NAT64 IPv6 forms, local-use NAT64 too, are
unwrapped first), unless ``allow_private``. A name that does not resolve is refused in the
same words as one resolving to a private address, so an owner cannot probe which internal
names exist. ``pinned_request`` then connects to the very address that was checked (the URL's
host is replaced by the IP; ``Host`` and TLS SNI/certificate checks keep the original name), so
a DNS answer that changes between check and connect (rebinding) is not followed. Used for
documents and sitemaps (``rag.knowledge.fetch``) and the owners' webhooks (``rag.chat.notify``).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import socket
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import httpx

from core.errors import AppError

log = logging.getLogger(__name__)

MAX_URL_LENGTH = 2048
# A DNS name: labels of letters, digits, hyphens (not at either end) and underscores (some
# hosts have them), 63 characters each, 253 in all; an internationalised name is checked in
# its ASCII (punycode) form.
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?", re.IGNORECASE)
MAX_HOST_LENGTH = 253
# NAT64: the well-known prefix (RFC 6052) and the local-use one (RFC 8215), the IPv4 address in
# the last 32 bits as a /96 of either carries it. Both lie in ::/8, which Python already counts
# as reserved; unwrapped all the same, so the IPv4 target is judged whatever that says.
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))

# Blocks of IANA's special-purpose address registries (iana-ipv4-special-registry,
# iana-ipv6-special-registry) that are not globally reachable (or are anycast relays no fetch
# should reach) and that Python 3.11's ``ipaddress`` counts as global; refused whatever the
# running Python says (newer ones list some of them, not all):
_NOT_GLOBAL = tuple(
    ipaddress.ip_network(block)
    for block in (
        # 192.0.0.0/24, IETF Protocol Assignments (RFC 6890): Globally Reachable False, but for
        # the two entries in _GLOBAL_INSIDE; 192.0.0.8/32, the IPv4 dummy address (RFC 7600),
        # among them. Python 3.11 knows only 192.0.0.0/29 and 192.0.0.170/31 of it.
        "192.0.0.0/24",
        # 192.88.99.0/24, Deprecated (6to4 Relay Anycast, RFC 7526), and 192.88.99.2/32 in
        # it, the 6a44-relay anycast address (RFC 6751): relays, not destinations.
        "192.88.99.0/24",
        # 3fff::/20, Documentation (RFC 9637): Globally Reachable False.
        "3fff::/20",
        # 5f00::/16, Segment Routing (SRv6) SIDs (RFC 9602); 100:0:0:1::/64, Dummy IPv6
        # Prefix (RFC 9780); 100::/64, Discard-Only (RFC 6666); 2001:2::/48, Benchmarking
        # (RFC 5180): Globally Reachable False, refused today by Python as reserved or private.
        "5f00::/16",
        "100:0:0:1::/64",
        "100::/64",
        "2001:2::/48",
        # 64:ff9b:1::/48, IPv4-IPv6 Translation for local use (RFC 8215): unwrapped below too.
        "64:ff9b:1::/48",
    )
)
# The registry's globally reachable entries inside those blocks: 192.0.0.9/32, Port Control
# Protocol Anycast (RFC 7723), and 192.0.0.10/32, TURN Anycast (RFC 8155).
_GLOBAL_INSIDE = (ipaddress.ip_network("192.0.0.9/32"), ipaddress.ip_network("192.0.0.10/32"))


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


_ORIGIN = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://([^/?#@]*)(?=[/?]|$)")
_DEFAULT_PORTS = {"http": ":80", "https": ":443"}


def page_url(url: str) -> str:
    """The one spelling of a page's URL that keys its document (RFC 3986, 6.2.2 and 6.2.3):
    no fragment (``#...``, never sent to the site: ``/guide#pricing`` is ``/guide``), the
    scheme and host in lower case, no default port, ``/`` for an empty path. Each spelling
    was a document of its own (fetched, embedded and counted once per spelling). The path
    and query are kept as written: ``/a/`` and ``/a``, or ``?a=1&b=2`` and ``?b=2&a=1``, can
    be different pages on a site."""
    url = url.split("#", 1)[0]
    origin = _ORIGIN.match(url)
    if origin is None:  # (credentials, or not a URL: refused by the checks, left as is)
        return url
    scheme, host = origin.group(1).lower(), origin.group(2).lower()
    if scheme in _DEFAULT_PORTS:
        host = host.removesuffix(_DEFAULT_PORTS[scheme])
    rest = url[origin.end() :]
    if not rest.startswith("/"):
        rest = "/" + rest
    return f"{scheme}://{host}{rest}"


def _registry_not_global(ip: IPAddress) -> bool:
    """In a block of ``_NOT_GLOBAL`` and none of ``_GLOBAL_INSIDE`` (``in`` compares the bits
    alone, so the versions are compared first)."""
    if not any(ip.version == block.version and ip in block for block in _NOT_GLOBAL):
        return False
    return not any(ip.version == entry.version and ip in entry for entry in _GLOBAL_INSIDE)


class UrlNotAllowed(AppError):
    code = "url_not_allowed"
    status_code = 422
    message = "This URL is not allowed"


class FetchFailed(AppError):
    code = "fetch_failed"
    status_code = 422
    message = "The URL could not be fetched"


def is_public_address(ip: IPAddress) -> bool:
    """True when ``ip`` (after unwrapping IPv4-in-IPv6 forms) is a global unicast address."""
    candidates: list[IPAddress] = [ip]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            candidates = [ip.ipv4_mapped]
        if ip.sixtofour is not None:
            candidates.append(ip.sixtofour)
        if ip.teredo is not None:
            candidates.extend(ip.teredo)
        if any(ip in prefix for prefix in _NAT64):
            candidates.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return all(
        c.is_global
        and not (
            c.is_private
            or c.is_loopback
            or c.is_link_local
            or c.is_multicast
            or c.is_reserved
            or c.is_unspecified
            # Deprecated site-local (fec0::/10, RFC 3879): Python counts it as global, but a
            # network that still routes it routes it inside the site.
            or (isinstance(c, ipaddress.IPv6Address) and c.is_site_local)
            or _registry_not_global(c)
        )
        for c in candidates
    )


def _ip_literal(host: str) -> IPAddress | None:
    """``host`` as an IP address when it is one written out, else None (a name)."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


async def resolve(host: str, port: int) -> list[IPAddress]:
    """All addresses ``host`` resolves to (an IP literal resolves to itself)."""
    literal = _ip_literal(host)
    if literal is not None:
        return [literal]
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchFailed(f"Could not resolve host {host!r}", details={"host": host}) from exc
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        ip = _address(sockaddr)
        if ip not in addresses:
            addresses.append(ip)
    if not addresses:
        raise FetchFailed(f"Could not resolve host {host!r}", details={"host": host})
    return addresses


def _http_url(text: str, details: dict[str, str]) -> httpx.URL:
    """``text`` parsed, or ``UrlNotAllowed``: too long, not http(s), no host, credentials."""
    if len(text) > MAX_URL_LENGTH:
        raise UrlNotAllowed("URL is too long")
    try:
        parsed = httpx.URL(text)
        # A host that is not valid IDNA ("xn--", an A-label of an emoji) raises as it is
        # read: idna's error, no AppError, was a 500 (and failed a sitemap's every sync).
        # (one httpx reads as not ASCII, "[::1%25x]é", raised UnicodeEncodeError)
        host, raw_host = parsed.host, parsed.raw_host.decode("ascii")
    except (httpx.InvalidURL, ValueError, TypeError) as exc:  # (idna's: UnicodeErrors)
        raise UrlNotAllowed(f"Invalid URL: {exc}", details=details) from exc
    if parsed.scheme not in ("http", "https"):
        raise UrlNotAllowed("Only http and https URLs are allowed", details=details)
    if not host:
        raise UrlNotAllowed("URL has no host", details=details)
    if not _valid_host(raw_host):
        # "exa mple.com": parsed (percent-encoded) but no request could ever reach it.
        raise UrlNotAllowed("The URL's host is not a valid host name", details=details)
    if parsed.userinfo:
        raise UrlNotAllowed("URLs with credentials are not allowed", details=details)
    return parsed


def _valid_host(host: str) -> bool:
    """An IP address (IPv6 without its brackets) or a DNS name (a final dot allowed)."""
    if ":" in host:
        try:
            ipaddress.IPv6Address(host.split("%")[0])
        except ValueError:
            return False
        return True
    name = host.removesuffix(".")
    return len(name) <= MAX_HOST_LENGTH and all(_LABEL.fullmatch(x) for x in name.split("."))


def _address(sockaddr: tuple[Any, ...]) -> IPAddress:
    """The IP of a getaddrinfo result (an IPv6 scope id dropped)."""
    return ipaddress.ip_address(str(sockaddr[0]).split("%")[0])


async def check_url(
    url: str | httpx.URL,
    *,
    allow_private: bool,
    allow_networks: Sequence[IPNetwork] = (),
) -> tuple[httpx.URL, IPAddress]:
    """Validate ``url`` and return it with the address to connect to; raises ``UrlNotAllowed``.

    ``allow_networks`` lists non-public networks that are nevertheless allowed (an intranet).
    """
    parsed, addresses = await check_url_addresses(
        url, allow_private=allow_private, allow_networks=allow_networks
    )
    return parsed, addresses[0]


async def check_url_addresses(
    url: str | httpx.URL,
    *,
    allow_private: bool,
    allow_networks: Sequence[IPNetwork] = (),
) -> tuple[httpx.URL, list[IPAddress]]:
    """``check_url`` with every address the host resolves to, in the resolver's order, each
    one checked (any refused address refuses the URL): a caller may try the next when one is
    unreachable (a dual-stack host whose IPv6 address does not answer)."""
    text = str(url)
    parsed = _http_url(text, {"url": text})
    host = parsed.raw_host.decode("ascii").strip("[]")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    if allow_private:
        return parsed, await resolve(host, port)
    try:
        addresses = await resolve(host, port)
    except FetchFailed:
        # Said as a name resolving to a private address is (``_refused_name``): told apart,
        # the two let an owner probe which internal host names exist.
        log.info("refused %s: its host %r does not resolve", text, host)
        raise _refused_name(text) from None
    blocked = [
        str(ip)
        for ip in addresses
        if not is_public_address(ip) and not any(ip in net for net in allow_networks)
    ]
    if blocked:
        # The addresses stay in the server's log: the client learns nothing about our DNS.
        log.info("refused %s: it resolves to non-public %s", text, ", ".join(blocked))
        if _ip_literal(host) is not None:
            raise UrlNotAllowed(
                "URL points to a private or reserved network address", details={"url": text}
            )
        raise _refused_name(text)
    return parsed, addresses


def _refused_name(url: str) -> UrlNotAllowed:
    """422 ``url_not_allowed`` for a host name that does not resolve or resolves to a
    non-public address, one message for both (which it was goes to the server's log only)."""
    return UrlNotAllowed(
        "The URL's host name does not resolve to a public address", details={"url": url}
    )


def refuse_at_sight(url: str, *, allow_private: bool, field: str) -> None:
    """What ``check_url`` will refuse whatever DNS says, said when an owner saves the URL
    (``UrlNotAllowed`` naming ``field``): not http(s), credentials, and unless ``allow_private``
    a host that is a non-public address in any numeric form ("127.1", "2130706433", "[::1]")
    or a localhost name. Names are resolved when a request leaves (DNS may change)."""
    details = {"url": url, "field": field}
    parsed = _http_url(url, details)
    if allow_private:
        return
    host = parsed.raw_host.decode("ascii").strip("[]").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        raise UrlNotAllowed("URL points to this machine", details=details)
    # An IPv6 address with its zone ("%25eth0": "%" as a URL writes it) is read as written,
    # whatever interfaces this host has (numeric getaddrinfo refuses an unknown zone).
    literal = _ip_literal(host.replace("%25", "%"))
    if literal is not None:
        addresses = [literal]
    else:
        try:  # the other numeric forms only: no DNS lookup
            infos = socket.getaddrinfo(host, None, flags=socket.AI_NUMERICHOST)
        except (socket.gaierror, UnicodeError, ValueError):
            return
        addresses = [_address(sockaddr) for *_rest, sockaddr in infos]
    if not all(is_public_address(ip) for ip in addresses):
        raise UrlNotAllowed("URL points to a private or reserved network address", details=details)


def check_new_webhook_url(url: str | None, *, current: str | None, allow_private: bool) -> None:
    """A new webhook URL that could never be delivered to is refused when the owner saves it
    (422 ``url_not_allowed`` on ``webhook_url``), not at each delivery, where they never saw
    it (a red-team note); an unchanged one is left alone."""
    if url and url != current:
        refuse_at_sight(url, allow_private=allow_private, field="webhook_url")


def allowed_networks(values: Iterable[str | IPNetwork]) -> list[IPNetwork]:
    try:
        return [ipaddress.ip_network(v) if isinstance(v, str) else v for v in values]
    except ValueError as exc:
        raise UrlNotAllowed(f"Invalid network in allow list: {exc}") from exc


def pinned_request(
    client: httpx.AsyncClient,
    method: str,
    url: httpx.URL,
    ip: IPAddress,
    *,
    headers: Mapping[str, str] | None = None,
    content: bytes | None = None,
) -> httpx.Request:
    """A request to ``url`` that connects to ``ip`` (the checked address) while keeping the
    ``Host`` header and TLS SNI/certificate checks of the URL's name."""
    extensions = {"sni_hostname": url.raw_host.decode("ascii")} if url.scheme == "https" else {}
    return client.build_request(
        method,
        url.copy_with(host=str(ip)),
        headers={**(headers or {}), "Host": url.netloc.decode("ascii")},
        content=content,
        extensions=extensions,
    )

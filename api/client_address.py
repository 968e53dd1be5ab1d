"""Who is on the other end of a request: the TCP peer, or the client a trusted proxy names.

``TRUSTED_PROXIES`` alone decides which peers may speak for a client (X-Forwarded-For) or for
the scheme (X-Forwarded-Proto); uvicorn's own proxy handling is switched off (api/cli.py). One
answer serves rate limits, the login guard, the audit log and HSTS alike.
"""

from __future__ import annotations

import ipaddress
import re

from starlette.types import Scope

from core.proxies import Trusted, parse_trusted_proxies

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_PORT = re.compile(r":[0-9]{1,5}")


def _address(text: str) -> IPAddress | None:
    """The IP address a peer or an X-Forwarded-For hop names, else None. An IPv4-mapped IPv6
    address (how a socket bound to ``::`` sees an IPv4 peer) is its IPv4 address, an IPv6 one
    is without its zone (``%eth0``); a hop may carry a port, as some balancers write it
    (``203.0.113.9:51234``, ``[2001:db8::7]:443``)."""
    text = text.strip()
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not _is_port(rest)):
            return None
        text = host
    elif text.count(":") == 1:  # an IPv4 address with its port (IPv6 has two colons or more)
        text, _, port = text.partition(":")
        if not _is_port(":" + port):
            return None
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip.scope_id is not None:  # an interface of the host that wrote it; any length
            return ipaddress.IPv6Address(text.partition("%")[0])
    return ip


def _is_trusted(ip: IPAddress | None, trusted: Trusted) -> bool:
    """Whether ``ip`` is a trusted proxy (with ``*`` any peer is, even one that is no address:
    a Unix socket's). An IPv4 address (``_address`` made one of an IPv4-mapped address) matches
    ``TRUSTED_PROXIES``' IPv4 entries and its IPv4-mapped ones (``::ffff:10.0.0.0/104``, how
    operators listed an IPv4 balancer seen by a server on ``HOST=::``)."""
    trust_all, networks = trusted
    if trust_all:
        return True
    if ip is None:
        return False
    forms = [ip]
    if isinstance(ip, ipaddress.IPv4Address):
        forms.append(ipaddress.IPv6Address(_IPV4_MAPPED | int(ip)))
    return any(form in net for form in forms for net in networks)


_IPV4_MAPPED = 0xFFFF << 32
"""``::ffff:0:0``: an IPv4 address ``a`` is ``::ffff:a`` as an IPv6 address."""


def _is_port(text: str) -> bool:
    return _PORT.fullmatch(text) is not None and int(text[1:]) <= 65535


def _shown(peer: str | None) -> str:
    """The peer as the client's address: in the form a trusted hop is written (IPv4 for an
    IPv4-mapped address, IPv6 lower-case and zero-compressed), or as it is when it is no
    address (a Unix socket's)."""
    ip = _address(peer) if peer else None
    return str(ip) if ip is not None else peer or "unknown"


def _client_hop(forwarded_for: str | None, trusted: Trusted) -> tuple[IPAddress, int] | None:
    """The client's hop of a trusted peer's X-Forwarded-For, and how many hops stand right of
    it (the listed proxies skipped); None when there is none to believe (no hop, garbage)."""
    listed: Trusted = (False, trusted[1])
    hops = [_address(h) for h in (forwarded_for or "").split(",") if h.strip()]
    for behind, hop in enumerate(reversed(hops)):
        if hop is None:
            return None  # garbage in the chain: do not believe any of it
        if not _is_trusted(hop, listed):
            return hop, behind
    first = hops[0] if hops else None
    return (first, len(hops) - 1) if first is not None else None


def client_ip(peer: str | None, forwarded_for: str | None, trusted_proxies: str) -> str:
    """The client's address: the TCP peer, or, when the peer is a trusted proxy, the right-most
    X-Forwarded-For entry that is not itself a listed proxy.

    ``*`` makes every peer a proxy, not every hop: a hop is a proxy only by the listed networks,
    so with ``*`` alone the client is the hop the peer appended (the right-most). Hops left of
    it are whatever the client sent; taking the left-most let a client pick its own address."""
    trusted = parse_trusted_proxies(trusted_proxies)
    if not forwarded_for or not _is_trusted(_address(peer or ""), trusted):
        return _shown(peer)
    found = _client_hop(forwarded_for, trusted)
    return str(found[0]) if found else _shown(peer)


def client_scheme(
    scheme: str,
    peer: str | None,
    forwarded_for: str | None,
    forwarded_proto: str | None,
    trusted_proxies: str,
) -> str:
    """The scheme the client used (``http`` or ``https``): the request's own, or, when the peer
    is a trusted proxy, the X-Forwarded-Proto value at the client's hop (a request that came
    over TLS itself is https whatever a header says).

    A proxy that appends writes both headers a value each, so the value as far from the right
    as the client's address is in X-Forwarded-For is the one the first trusted proxy wrote for
    the client's connection; values left of it are the client's own. A proxy that overwrites
    (nginx's ``proxy_set_header X-Forwarded-Proto $scheme``) leaves fewer values: then the
    left-most, written by a trusted proxy too. Without a believable client hop (no
    X-Forwarded-For, garbage in it), the right-most: what the peer itself wrote."""
    trusted = parse_trusted_proxies(trusted_proxies)
    values = [v.strip().lower() for v in (forwarded_proto or "").split(",") if v.strip()]
    if scheme == "https" or not values or not _is_trusted(_address(peer or ""), trusted):
        return scheme
    found = _client_hop(forwarded_for, trusted)
    behind = found[1] if found else 0
    return "https" if values[max(len(values) - 1 - behind, 0)] == "https" else "http"


def _joined(scope: Scope, name: bytes) -> str | None:
    """Every ``name`` header of an ASGI request as one comma-separated list, in order."""
    joined = None
    for key, value in scope.get("headers", []):
        if key == name:
            decoded = value.decode("latin-1")
            joined = f"{joined}, {decoded}" if joined else decoded
    return joined


def _peer(scope: Scope) -> str | None:
    client = scope.get("client")
    return client[0] if client else None


def scope_client_ip(scope: Scope, trusted_proxies: str) -> str:
    """``client_ip`` of an ASGI request (every X-Forwarded-For header, in order)."""
    return client_ip(_peer(scope), _joined(scope, b"x-forwarded-for"), trusted_proxies)


def scope_client_scheme(scope: Scope, trusted_proxies: str) -> str:
    """``client_scheme`` of an ASGI request (every X-Forwarded-For and X-Forwarded-Proto
    header, in order)."""
    return client_scheme(
        str(scope.get("scheme", "http")),
        _peer(scope),
        _joined(scope, b"x-forwarded-for"),
        _joined(scope, b"x-forwarded-proto"),
        trusted_proxies,
    )


def rate_key_address(address: str) -> str:
    """Who a per-IP limit counts: an IPv4 address as it is, an IPv6 address by its /64 (one
    subscriber's network: a client rotating addresses inside it counted as new clients, 10
    lead forms each, and flooded the owner with mails). An IPv4-mapped address is its IPv4."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return address

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


def client_ip(peer: str | None, forwarded_for: str | None, trusted_proxies: str) -> str:
    """The client's address: the TCP peer, or, when the peer is a trusted proxy, the right-most
    X-Forwarded-For entry that is not itself a listed proxy.

    ``*`` makes every peer a proxy, not every hop: a hop is a proxy only by the listed networks,
    so with ``*`` alone the client is the hop the peer appended (the right-most). Hops left of
    it are whatever the client sent; taking the left-most let a client pick its own address."""
    peer = peer or "unknown"
    trusted = parse_trusted_proxies(trusted_proxies)
    if not forwarded_for or not _is_trusted(_address(peer), trusted):
        return peer
    listed: Trusted = (False, trusted[1])
    hops = [_address(h) for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        if hop is None:
            return peer  # garbage in the chain: do not believe any of it
        if not _is_trusted(hop, listed):
            return str(hop)
    return str(hops[0]) if hops and hops[0] is not None else peer


def peer_is_trusted(peer: str | None, trusted_proxies: str) -> bool:
    return bool(peer) and _is_trusted(_address(peer or ""), parse_trusted_proxies(trusted_proxies))


def scope_client_ip(scope: Scope, trusted_proxies: str) -> str:
    """``client_ip`` of an ASGI request (every X-Forwarded-For header, in order)."""
    client = scope.get("client")
    peer = client[0] if client else None
    forwarded = None
    for key, value in scope.get("headers", []):
        if key == b"x-forwarded-for":
            decoded = value.decode("latin-1")
            forwarded = f"{forwarded}, {decoded}" if forwarded else decoded
    return client_ip(peer, forwarded, trusted_proxies)


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

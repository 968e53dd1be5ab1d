"""``TRUSTED_PROXIES`` read once: the settings check it at start, the request path uses it."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Trusted = tuple[bool, tuple[Network, ...]]


@lru_cache(maxsize=32)
def parse_trusted_proxies(value: str) -> Trusted:
    """``"10.0.0.0/8, 127.0.0.1"`` -> (trust_all, networks). ``*`` trusts every peer. Anything
    else (a host name, ``10.0.0.0/33``) is a ``ValueError`` naming it."""
    trust_all = False
    networks: list[Network] = []
    for part in (p.strip() for p in value.split(",")):
        if not part:
            continue
        if part == "*":
            trust_all = True
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ValueError(
                f"{part!r} is not an IP address or network (CIDR); list the proxies' addresses,"
                " separated by commas, or *"
            ) from None
    return trust_all, tuple(networks)

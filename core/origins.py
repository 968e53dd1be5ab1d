"""A web origin's host as a browser puts it in the ``Origin`` header: lower case, IDN hosts in
punycode by UTS-46 non-transitional processing (the WHATWG URL standard's), IPv6 compressed
in brackets. Shared by the widget's allowed origins (``widget.policy``) and the dashboard's
``DASHBOARD_ORIGINS`` (``core.setting_checks``): both compare a browser's header with what an
owner or an operator typed."""

from __future__ import annotations

import ipaddress
import re

import idna

DEFAULT_PORTS: dict[str, int] = {"http": 80, "https": 443}

_LABEL_RE = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
_JOINERS = "\u200c\u200d"  # zero width non-joiner, zero width joiner


class OriginError(ValueError):
    """Why a string is not a valid origin; the message is shown to workspace owners."""


def _to_ascii_host(host: str) -> str:
    """The host as a browser puts it in ``Origin``: UTS-46 non-transitional processing, as the
    WHATWG URL standard does (ß, final sigma and the joiners are kept, not mapped away as
    IDNA 2003 did: ``faß.de`` is ``xn--fa-hia.de``, not ``fass.de``, another domain)."""
    if host.isascii():
        return host.lower()
    try:
        mapped = idna.uts46_remap(host, std3_rules=False, transitional=False)
        return ".".join(_label_to_ascii(label) for label in mapped.split("."))
    except UnicodeError as exc:  # idna.IDNAError is one
        raise OriginError(f"host {host!r} is not a valid internationalized domain name") from exc


def _label_to_ascii(label: str) -> str:
    if label.isascii():
        return label
    # Refused as browsers refuse them: a joiner out of its script's context, a right-to-left
    # label breaking the bidi rule (the URL would not parse, so no page has this origin).
    for pos, ch in enumerate(label):
        if ch in _JOINERS and not idna.valid_contextj(label, pos):
            raise OriginError(f"host label {label!r} has a joiner where it is not allowed")
    idna.check_bidi(label)
    return "xn--" + label.encode("punycode").decode("ascii")


def normalize_host(raw: str) -> str:
    """Lowercase, punycode, validate; strips a single trailing dot (``example.com.``); an IPv6
    address (``[0:0::1]``) compressed as a browser writes it (``[::1]``)."""
    if not raw:
        raise OriginError("the host is missing")
    if raw.startswith("["):
        if not raw.endswith("]"):
            raise OriginError(f"malformed IPv6 address {raw!r}")
        try:
            addr = ipaddress.IPv6Address(raw[1:-1])
        except ValueError as exc:
            raise OriginError(f"malformed IPv6 address {raw!r}") from exc
        if addr.scope_id:
            raise OriginError("IPv6 zone identifiers are not allowed in an origin")
        return f"[{addr.compressed}]"
    host = _to_ascii_host(raw)
    if host.endswith("."):
        host = host[:-1]
    if not host or len(host) > 253:
        raise OriginError(f"invalid host {raw!r}")
    labels = host.split(".")
    if not all(_LABEL_RE.match(label) for label in labels):
        raise OriginError(f"invalid host {raw!r}")
    if all(label.isdigit() for label in labels):
        # Looks numeric: must be a real dotted-quad IPv4 address.
        try:
            return str(ipaddress.IPv4Address(host))
        except ValueError as exc:
            raise OriginError(f"invalid IP address {raw!r}") from exc
    return host

"""A web origin as a browser puts it in the ``Origin`` header: ``scheme://host[:port]`` and
nothing else (``split_origin``), the host in lower case, IDN hosts in punycode by UTS-46
non-transitional processing (the WHATWG URL standard's), IPv6 compressed in brackets
(``normalize_host``), the scheme's default port left out (``format_origin``). Shared by the
widget's allowed origins (``widget.policy``) and the dashboard's ``DASHBOARD_ORIGINS``
(``core.setting_checks``): both compare a browser's header with what an owner or an operator
typed."""

from __future__ import annotations

import ipaddress
import re

import idna

DEFAULT_PORTS: dict[str, int] = {"http": 80, "https": 443}

_LABEL_RE = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
_PORT_RE = re.compile(r"^[0-9]{1,5}$")
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


def split_origin(value: str, *, trailing_slash: bool) -> tuple[str, str, int]:
    """``scheme://host[:port]`` split into its scheme (lower case), its host as typed (capitals,
    Unicode and a ``*.`` left to the caller and ``normalize_host``) and its port (the scheme's
    default when none is written). Refused (``OriginError``): anything but http and https,
    spaces or control characters, a path, query or fragment (a lone trailing ``/`` is dropped
    when ``trailing_slash``: what an operator or an owner may type, never a browser), a user
    name or password, no host, a port that is not 1 to 65535."""

    def refused(problem: str) -> OriginError:
        return OriginError(f"{value!r} is not an origin: {problem}")

    if value != value.strip() or any(ord(c) < 0x21 or c == "\x7f" for c in value):
        raise refused("it contains spaces or control characters")
    scheme, sep, rest = value.partition("://")
    scheme = scheme.lower()
    if not sep or not scheme:
        raise refused("it must start with http:// or https:// (missing a scheme)")
    if scheme not in DEFAULT_PORTS:
        raise refused(f"it must start with http:// or https:// ({scheme!r} is not supported)")
    if trailing_slash and rest.endswith("/"):
        rest = rest[:-1]  # what is left with another "/" is refused as a path just below
    if any(c in rest for c in "/?#\\"):
        raise refused("an origin has no path, query or fragment (https://app.example.com)")
    if "@" in rest:
        raise refused("it must not contain a user name or password")
    if rest.startswith("["):
        end = rest.find("]")
        host, after = (rest, "") if end == -1 else (rest[: end + 1], rest[end + 1 :])
        if end == -1 or (after and not after.startswith(":")):
            raise refused("malformed IPv6 address (https://[2001:db8::1]:8443)")
        port = after[1:] if after else None
    elif ":" in rest:
        host, _, port = rest.rpartition(":")
        if ":" in host:
            raise refused("it is malformed (scheme://host[:port])")
    else:
        host, port = rest, None
    if not host:
        raise refused("the host is missing")
    if port is None:
        return scheme, host, DEFAULT_PORTS[scheme]
    if not _PORT_RE.match(port) or not 0 < int(port) <= 65535:
        raise refused("the port must be a number from 1 to 65535")
    return scheme, host, int(port)


def format_origin(scheme: str, host: str, port: int) -> str:
    """The origin as a browser writes it: the scheme's default port left out."""
    return f"{scheme}://{host}" if port == DEFAULT_PORTS[scheme] else f"{scheme}://{host}:{port}"

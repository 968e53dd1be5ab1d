"""Origin policy for the embeddable widget: which web pages may talk to a workspace's bot.

Pure functions, no I/O. An allowed-origin entry is either an exact origin
(``https://shop.example.com``, ``http://localhost:3000``) or a wildcard over subdomains
(``https://*.example.com``: any depth of subdomain, never the bare domain). Scheme and port must
always match exactly; default ports (80 for http, 443 for https) are filled in before comparing.

Browsers send the ``Origin`` header in ASCII (IDN hosts as punycode); owners may type Unicode
host names, which are converted to punycode the way browsers convert them (UTS-46,
non-transitional, as the WHATWG URL standard says) so both sides compare equal.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from core.errors import ValidationFailed
from core.origins import OriginError as _OriginError
from core.origins import format_origin, split_origin
from core.origins import normalize_host as _normalize_host

__all__ = ["normalize_allowed_origin", "origin_allowed", "parse_origin"]

_WILDCARD_PREFIX = "*."

Origin = tuple[str, str, int]


def _parse_strict(value: str, *, allow_trailing_slash: bool = False) -> Origin:
    scheme, host, port = split_origin(value, trailing_slash=allow_trailing_slash)
    if "*" in host:
        raise _OriginError(f"{value!r} contains a wildcard")
    return scheme, _normalize_host(host), port


def parse_origin(origin: str) -> Origin | None:
    """Parse an ``Origin`` header value into ``(scheme, host, port)``.

    Host is lowercased (punycode for IDN, one trailing dot removed), the default port is filled in.
    Returns ``None`` for ``"null"`` (sandboxed iframes, file: pages), non-http(s) schemes and
    anything malformed (paths, queries, userinfo, bad ports, bad host names).
    """
    if not isinstance(origin, str) or not origin or origin.lower() == "null":
        return None
    try:
        return _parse_strict(origin)
    except _OriginError:
        return None


def _parse_entry(entry: str) -> tuple[str, str, int, bool]:
    """Parse an allowed-origin entry: ``(scheme, host_or_suffix, port, is_wildcard)``."""
    if entry.strip() == "*":
        raise _OriginError(
            "a bare '*' would allow every website: list exact origins or https://*.example.com"
        )
    scheme, host, port = split_origin(entry, trailing_slash=True)
    wildcard = False
    if "*" in host:
        if not host.startswith(_WILDCARD_PREFIX) or "*" in host[len(_WILDCARD_PREFIX) :]:
            raise _OriginError(
                f"bad wildcard in {entry!r}: only a leading '*.' is allowed, "
                "as in https://*.example.com"
            )
        host = host[len(_WILDCARD_PREFIX) :]
        if not host:
            raise _OriginError(f"bad wildcard in {entry!r}: a domain must follow '*.'")
        wildcard = True
    normalized = _normalize_host(host)
    if wildcard:
        if normalized.startswith("["):
            raise _OriginError(f"bad wildcard in {entry!r}: wildcards need a domain name")
        try:
            ipaddress.IPv4Address(normalized)
        except ValueError:
            pass
        else:
            raise _OriginError(f"bad wildcard in {entry!r}: wildcards need a domain name")
        if "." not in normalized and normalized != "localhost":
            raise _OriginError(
                f"bad wildcard in {entry!r}: '*.{normalized}' would match a whole top-level domain"
            )
    return scheme, normalized, port, wildcard


def normalize_allowed_origin(entry: str) -> str:
    """Validate an owner-supplied allowed origin and return its canonical form.

    ``"HTTPS://Shop.Example.com:443/"`` -> ``"https://shop.example.com"``;
    ``"https://*.Example.com"`` -> ``"https://*.example.com"``.
    Raises :class:`core.errors.ValidationFailed` with a readable message otherwise.
    """
    if not isinstance(entry, str) or not entry.strip():
        raise ValidationFailed("Allowed origin must be a non-empty string")
    try:
        scheme, host, port, wildcard = _parse_entry(entry.strip())
    except _OriginError as exc:
        raise ValidationFailed(
            f"Invalid allowed origin: {exc}", details={"origin": entry, "reason": str(exc)}
        ) from exc
    return format_origin(scheme, f"*.{host}" if wildcard else host, port)


def _matches(origin: Origin, entry: str) -> bool:
    try:
        scheme, host, port, wildcard = _parse_entry(entry.strip())
    except _OriginError:
        return False  # a malformed stored entry never grants access
    o_scheme, o_host, o_port = origin
    if o_scheme != scheme or o_port != port:
        return False
    if wildcard:
        return o_host.endswith("." + host) and len(o_host) > len(host) + 1
    return o_host == host


def origin_allowed(origin: str | None, allowed: Sequence[str], *, development: bool) -> bool:
    """Decide whether a browser page at ``origin`` may use the widget.

    ``None`` (no ``Origin`` header: a server or curl, not a browser page) passes this check; the
    caller decides what such a request may do (the widget API refuses it when origins are
    configured and gives it a lower conversation cap otherwise). With no allowed origins configured,
    every page is allowed in development (``null`` too: a file or a sandboxed frame) and nothing
    in production, and never an Origin that does not parse (``http://[``, another scheme).
    Otherwise the origin must parse and match an entry exactly (scheme, host, port) or fall
    under a ``*.`` wildcard entry.
    """
    if origin is None:
        return True
    parsed = parse_origin(origin)
    if not allowed:
        return development and (parsed is not None or origin.lower() == "null")
    if parsed is None:
        return False
    return any(_matches(parsed, entry) for entry in allowed)

"""A database URL as SQLAlchemy's asyncpg dialect takes it. Managed PostgreSQL providers hand out
libpq-style URLs (``?sslmode=require``, ``connect_timeout=5``); SQLAlchemy passes every query
parameter to ``asyncpg.connect`` as a keyword, which knows none of them (a TypeError traceback at
the first connection). ``connect_options`` takes them out of the URL and gives what they stand for
as connect arguments. What a URL may carry is checked with the settings
(``core.setting_checks.check_database_url``)."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

LIBPQ_PARAMETERS = ("sslmode", "sslrootcert", "sslcert", "sslkey", "connect_timeout")


def connect_options(url: str) -> tuple[str, dict[str, Any]]:
    """``url`` without its libpq parameters, and the connect arguments they stand for: ``ssl``
    (a mode asyncpg knows by the same name, or an ``ssl.SSLContext`` when a CA or a client
    certificate is named), ``timeout`` (``connect_timeout``) and ``server_settings``
    (``application_name``)."""
    parts = urlsplit(url)
    kept: list[tuple[str, str]] = []
    found: dict[str, str] = {}
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name in (*LIBPQ_PARAMETERS, "application_name"):
            found[name] = value
        else:
            kept.append((name, value))
    options: dict[str, Any] = {}
    if "connect_timeout" in found:
        options["timeout"] = float(found["connect_timeout"])
    if "application_name" in found:
        options["server_settings"] = {"application_name": found["application_name"]}
    mode = found.get("sslmode")
    if mode is not None or "sslrootcert" in found or "sslcert" in found:
        options["ssl"] = _ssl(mode or "prefer", found)
    query = urlencode(kept)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment)), options


def _ssl(mode: str, found: dict[str, str]) -> str | ssl.SSLContext:
    """What libpq's ``sslmode`` (with ``sslrootcert``, ``sslcert``/``sslkey``) means for asyncpg:
    the mode's name when no file is named (asyncpg reads it as libpq does), else a context
    that verifies as the mode says with that CA and presents that certificate."""
    rootcert, cert, key = found.get("sslrootcert"), found.get("sslcert"), found.get("sslkey")
    if mode in ("disable", "allow", "prefer") or not (rootcert or cert):
        return mode
    context = ssl.create_default_context(
        cafile=str(Path(rootcert).expanduser()) if rootcert else None
    )
    if mode == "require" and not rootcert:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # encrypted, the server's certificate not checked
    elif mode in ("require", "verify-ca"):
        context.check_hostname = False  # signed by the CA, whatever host name it carries
    if cert and key:
        context.load_cert_chain(str(Path(cert).expanduser()), str(Path(key).expanduser()))
    return context

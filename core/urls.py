"""Where this server is reached, for the links it hands out (mailed links, the embed snippet,
the start-up lines): ``PUBLIC_BASE_URL``, else ``HOST`` and ``PORT`` as a URL a browser opens."""

from __future__ import annotations

from core.config import Settings


def local_base_url(settings: Settings) -> str:
    """``http://HOST:PORT`` as a browser can open it: a bind-all address (``0.0.0.0``, ``::``)
    as localhost, an IPv6 address in brackets (``http://::1:8000`` is no URL)."""
    host = settings.host
    if host in ("", "0.0.0.0", "::"):  # noqa: S104 - a bind-all address, shown as localhost
        host = "localhost"
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}"


def base_url(settings: Settings) -> str:
    """Where links point: PUBLIC_BASE_URL (required in production) without its final slash,
    else ``local_base_url`` (development). Never a request's Host header: whoever sends it
    would choose where the links lead."""
    if settings.public_base_url:
        return settings.public_base_url.rstrip("/")
    return local_base_url(settings)

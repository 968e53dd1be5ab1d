"""Reaching the database, for operators: where a URL connects (``address_of``, never its
password), why a connection failed in a few words (``connect_problem``), the SQLSTATE behind an
error (``sqlstate``; ``QUERY_CANCELED``: a statement timeout), and one connection tried at a
command's start (``check_reachable``)."""

from __future__ import annotations

import socket

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from core.db import Pooler, async_url, create_engine
from core.errors import ConfigError

UNREADABLE_ADDRESS = "an address that cannot be read"

QUERY_CANCELED = "57014"
"""PostgreSQL's SQLSTATE of a statement cancelled (its statement timeout)."""


def address_of(url: str) -> str:
    """Where ``url`` connects, ``host:port`` (or the socket directory), never its password."""
    try:
        parsed = make_url(async_url(url))
    except ArgumentError:
        return UNREADABLE_ADDRESS
    host = parsed.host or str(parsed.query.get("host") or "the local socket")
    return f"{host}:{parsed.port or 5432}"


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and what it wraps (a DBAPI error's ``orig``, ``__cause__``), outermost first."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = getattr(current, "orig", None) or current.__cause__
    return seen


def sqlstate(exc: BaseException) -> str | None:
    """The PostgreSQL error code behind ``exc`` (``42501``: no privilege...), if any."""
    for error in _causes(exc):
        code = getattr(error, "sqlstate", None)
        if isinstance(code, str):
            return code
    return None


def connect_problem(exc: BaseException) -> str:
    """Why a connection could not be made, in a few words for an operator (never the URL)."""
    for error in _causes(exc):
        if isinstance(error, asyncpg.PostgresError):
            return str(error).splitlines()[0]  # the server's reason: no password in it
        if isinstance(error, socket.gaierror):
            return "host not found"
        if isinstance(error, ConnectionRefusedError):
            return "connection refused"
        if isinstance(error, TimeoutError):
            return "timed out"
        if isinstance(error, OSError):
            return error.strerror or type(error).__name__
        if isinstance(error, (TypeError, ValueError)):  # a parameter the driver refused
            return str(error).splitlines()[0] if str(error) else type(error).__name__
    return type(exc).__name__


async def check_reachable(setting: str, url: str, *, pooler: Pooler = "none") -> None:
    """Connect once to ``url`` (the value of ``setting``); a failure is a ``ConfigError`` that
    names the setting and the host and port, in one line: a command's first connection failed
    as a traceback of a hundred lines or more that named neither."""
    try:
        engine = create_engine(url, pool_size=1, max_overflow=0, pooler=pooler)
    except (ArgumentError, TypeError, ValueError, OSError) as exc:  # a URL the driver refused
        raise ConfigError(f"{setting}: {connect_problem(exc)}") from None
    try:
        async with engine.connect():
            pass
    except (OSError, asyncpg.PostgresError, DBAPIError, TypeError, ValueError) as exc:
        raise ConfigError(
            f"{setting}: cannot connect to {address_of(url)} ({connect_problem(exc)})"
        ) from None
    finally:
        await engine.dispose()

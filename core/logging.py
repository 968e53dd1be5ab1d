"""Structured logs with structlog: JSON lines (or readable console lines) carrying the request id
and the workspace id of whatever is being done.

``configure_logging(settings, context={...})`` routes both structlog loggers and the standard
``logging`` loggers (``logging.getLogger("trulybot...")``, uvicorn, sqlalchemy) through one
formatter, so every line has the same shape. Context comes from context variables: the workspace
id lives here (``bind_workspace``); the API passes its request-id variable in ``context`` (core
imports nothing above it).
"""

from __future__ import annotations

import json
import logging
import sys
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO, Any

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from core.config import Settings

workspace_id_var: ContextVar[str | None] = ContextVar("workspace_id", default=None)

_context_vars: dict[str, ContextVar[str | None]] = {"workspace_id": workspace_id_var}


def bind_workspace(workspace_id: uuid.UUID | str | None) -> None:
    """Tag the rest of this request's (or job's) log lines with ``workspace_id``."""
    workspace_id_var.set(str(workspace_id) if workspace_id else None)


@contextmanager
def workspace_context(workspace_id: uuid.UUID | str | None) -> Iterator[None]:
    """``with workspace_context(ws_id):`` for jobs: the id is unbound again afterwards."""
    token = workspace_id_var.set(str(workspace_id) if workspace_id else None)
    try:
        yield
    finally:
        workspace_id_var.reset(token)


def _add_context(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    for name, var in _context_vars.items():
        value = var.get()
        if value is not None:
            event_dict.setdefault(name, value)
    return event_dict


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        _add_context,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def configure_logging(
    settings: Settings,
    *,
    context: Mapping[str, ContextVar[str | None]] | None = None,
    stream: IO[str] | None = None,
) -> None:
    """Configure structlog and the root logger from LOG_JSON / LOG_LEVEL."""
    _context_vars.update(context or {})
    level = logging.getLevelName(settings.log_level.upper())
    if not isinstance(level, int):
        level = logging.INFO
    shared = _shared_processors()
    renderer: Processor = (
        structlog.processors.JSONRenderer()
        if settings.log_json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder(), _drop_color_message],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            _format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream) if stream is not None else _StdoutHandler()
    handler.setFormatter(formatter)
    handler.set_name("trulybot")
    root = logging.getLogger()
    for existing in list(root.handlers):
        # Ours from an earlier call, or basicConfig's; test-capture handlers stay.
        if existing.get_name() == "trulybot" or type(existing) is logging.StreamHandler:
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    # Python's warnings (a library's RuntimeWarning at start) as log lines of the same shape.
    logging.captureWarnings(True)
    # uvicorn's own access log duplicates ours (which has the route template and request id).
    logging.getLogger("uvicorn.access").disabled = True
    for noisy in QUIET_LOGGERS:
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


class _StdoutHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stdout`` is when a line is logged, as the standard library's
    last-resort handler does for stderr. A handler holding the ``sys.stdout`` of the moment it
    was made kept writing to a stream someone had since closed: under pytest, an app built in
    one test logged into that test's closed capture file from the next test's threads
    ("--- Logging error ---"), and the traceback printed for it raced the main thread's
    ``ast.parse`` (CPython 3.11: "AST constructor recursion depth mismatch", a failed CI run)."""

    def __init__(self) -> None:
        super().__init__(sys.stdout)

    @property
    def stream(self) -> IO[str]:
        return sys.stdout

    @stream.setter
    def stream(self, _value: IO[str]) -> None:
        pass


QUIET_LOGGERS = ("httpx", "httpcore", "asyncio", "pgserver", "alembic")
"""Loggers kept at WARNING (or LOG_LEVEL above it) in every process: a request line per model
call; initdb's and each migration's lines at a first start. Set here, not only in the
command's ``main``: `serve`'s worker processes (WORKERS over 1) configure their logging in the
app and printed about 60 lines of pgserver and alembic on a first start."""


def _drop_color_message(logger: WrappedLogger, name: str, event_dict: EventDict) -> EventDict:
    """uvicorn passes its line again with terminal colour codes as an extra: not for a log."""
    event_dict.pop("color_message", None)
    return event_dict


def _format_exc_info(logger: WrappedLogger, name: str, event_dict: EventDict) -> EventDict:
    if event_dict.get("exc_info"):
        return structlog.processors.format_exc_info(logger, name, event_dict)
    return event_dict


def get_logger(name: str = "trulybot", **initial: Any) -> Any:
    """A structlog logger: ``log.info("event_name", key=value)``."""
    return structlog.stdlib.get_logger(name).bind(**initial)


def announce(settings: Settings, line: str, *, level: str = "info") -> None:
    """A start-up line for the operator (where the server listens, the defaults in use, the
    demo's login), shown whatever LOG_LEVEL says. With LOG_JSON it is a JSON line like every
    other one, so a log collector reading stdout gets no plain text in between; without, a
    console line with the timestamp and level every other line has. ``level="warning"`` for
    a start that runs short of what was configured (an alert on warnings sees it)."""
    stamp = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    record = {"event": line, "level": level, "logger": "trulybot.start", "timestamp": stamp}
    if settings.log_json:
        print(json.dumps(record), flush=True)
    else:
        print(_CONSOLE(None, level, record), flush=True)


_CONSOLE = structlog.dev.ConsoleRenderer(colors=False)
"""``configure_logging``'s renderer without LOG_JSON, for ``announce``."""

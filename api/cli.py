"""The `trulybot` command: serve, migrate and the operator tools."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import importlib
import logging
import os
import pkgutil
import shutil
import signal
import socket
import sys
import tempfile
import threading
from collections.abc import Iterator
from typing import Any

from pydantic import ValidationError

from api import commands
from api.stop_signal import StoppedBySignal
from core.config import Settings, get_settings
from core.errors import ConfigError
from core.jwt_secret import check_kept_secret
from core.logging import QUIET_LOGGERS, announce, configure_logging
from core.setting_names import misspelt_settings, warn_misspelt_settings

METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
"""Where the server's worker processes keep their metrics (``core.metrics.MULTIPROCESS_ENV``)."""


def settings_problems(exc: ValidationError) -> str:
    """The settings' validation errors, one line each by setting name, for an operator: without
    the values (pydantic's own text quotes the input, secrets included)."""
    lines = []
    for err in exc.errors(include_url=False, include_input=False, include_context=False):
        name = "_".join(str(part) for part in err["loc"]).upper()
        message = str(err["msg"]).removeprefix("Value error, ")
        lines.append(f"  {name}: {message}" if name else f"  {message}")
    return "the settings are not valid (see .env.example):\n" + "\n".join(lines)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from api.http_protocol import BoundedHttpToolsProtocol
    from api.start_checks import preflight
    from rag.knowledge.rerankers import reranker_choice

    settings = get_settings()
    if problem := settings.mail_problem():
        raise SystemExit(f"trulybot serve: {problem}")
    # Said before anything starts (in a worker, a traceback): a RERANKER directory that is not
    # there, a kept JWT secret that others can read.
    reranker_choice(settings)
    check_kept_secret(settings.data_dir, configured=settings.jwt_secret is not None)
    host = args.host if args.host is not None else settings.host
    port = args.port if args.port is not None else settings.port
    workers = args.workers if args.workers is not None else settings.workers
    # The app reads its settings again in each worker (api.app:create_app): the flags go there
    # as the settings they stand for, or the embed snippet, the mailed links and the start-up
    # lines would name HOST and PORT's address instead of the one served.
    os.environ.update(HOST=host, PORT=str(port), WORKERS=str(workers))
    get_settings.cache_clear()
    get_settings()  # the flags checked as the settings are, before any worker starts
    if workers > 1 and not settings.redis_url:
        check_shared_state(settings, workers)
    # The address first, before the database or the demo (a port in use was said after the
    # whole start-up, "listening on" and the demo's password included, for an address that
    # served something else). Bound here and handed to uvicorn: nothing can take it between.
    sock = bind_address(host, port)
    # A configured database that cannot be reached, or that the app role cannot work on, is
    # said in one line before any worker starts (in a worker it is a long traceback); the
    # workers check again. "listening on" is said by the app once its start-up succeeded.
    try:
        asyncio.run(preflight(get_settings()))
    except BaseException:
        sock.close()
        raise
    config = uvicorn.Config(
        "api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=settings.log_level.lower(),
        # None: uvicorn keeps its hands off logging, so its lines ("Uvicorn running on",
        # "Shutting down") go through ours (configure_logging, in main) as every other line
        # does: JSON with LOG_JSON, not uvicorn's own "INFO:     ..." text between them.
        log_config=None,
        # Off: uvicorn would believe X-Forwarded-For/-Proto from 127.0.0.1 (its default
        # FORWARDED_ALLOW_IPS) and rewrite the client address before our code sees it. Only
        # TRUSTED_PROXIES decides, in one place (api.client_address),
        # for limits, lockouts, the audit log and HSTS alike.
        proxy_headers=False,
        forwarded_allow_ips="",
        # Chat turns waiting on the model, uploads, downloads: 10 s fixed cut them off on
        # every rolling deploy (the request timeout is 60 s, the model's budget 20 s).
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,
        http=BoundedHttpToolsProtocol,  # a request head of at most 64 KiB (api.http_protocol)
    )
    with shared_metrics(workers):
        return run_server(config, sock)


def check_shared_state(settings: Settings, workers: int) -> None:
    """Several worker processes without REDIS_URL: each keeps its own rate limits, login
    guard, response cache and job queue (docs/deploy.md, "In-process fallbacks": "any
    deployment with more than one process must set REDIS_URL"). Refused in production, where
    it multiplied every limit and a password guesser's tries by WORKERS behind a note at info
    level; a warning elsewhere (a developer's own machine)."""
    said = (
        f"WORKERS={workers} without REDIS_URL: each process keeps its own rate limits, login"
        f" lockouts, response cache and job queue (a client gets {workers} times each limit)"
    )
    if settings.environment == "production":
        raise SystemExit(f"trulybot serve: {said}; set REDIS_URL, or WORKERS=1")
    announce(settings, f"warning: {said}; set REDIS_URL beyond your own machine", level="warning")


@contextlib.contextmanager
def shared_metrics(workers: int) -> Iterator[None]:
    """With several worker processes, a fresh directory for their metrics (prometheus-client's
    multiprocess mode, ``core.metrics``), so that /metrics answers for all of them whichever
    takes the scrape; removed when the server stops. Set before the workers start: each reads
    it as it imports the metrics. One process keeps its metrics in memory."""
    if workers <= 1:
        yield
        return
    directory = tempfile.mkdtemp(prefix="trulybot-metrics-")
    previous = os.environ.get(METRICS_DIR_ENV)
    os.environ[METRICS_DIR_ENV] = directory
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(METRICS_DIR_ENV, None)
        else:
            os.environ[METRICS_DIR_ENV] = previous
        shutil.rmtree(directory, ignore_errors=True)


def bind_address(host: str, port: int) -> socket.socket:
    """The listening address, bound (as uvicorn binds it), or one line saying why not."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family=family, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        if exc.errno == errno.EADDRINUSE:
            raise SystemExit(
                f"trulybot serve: {shown} is in use (address already in use): stop what"
                " listens there, or set PORT (or --port)"
            ) from None
        raise SystemExit(
            f"trulybot serve: cannot listen on {shown} ({exc.strerror or exc}): check HOST"
            " (or --host) and PORT (or --port)"
        ) from None
    sock.set_inheritable(True)  # the worker processes serve it too
    return sock


class _Stopped(BaseException):
    """SIGTERM reached ``run_server`` itself: a stop asked for, not a failure."""


def _stopped(signum: int, frame: object) -> None:
    raise _Stopped


def run_server(config: Any, sock: socket.socket) -> int:
    """uvicorn on ``sock``: one process, or WORKERS processes sharing it (what ``uvicorn.run``
    does, with the socket bound before the start-up instead of after it). Stopped by SIGTERM
    or SIGINT, 0. One process's ``Server`` shuts down gracefully on SIGTERM, puts the handler
    it found back and raises the signal again for it: that was the default one, and the
    server, stopped as asked, was killed by the signal (status 143), where several processes
    and ``trulybot worker`` exit 0; the handler it finds now ends it with 0. A start-up that
    failed is 3 (uvicorn's STARTUP_FAILURE), with one process or several."""
    from uvicorn.config import STARTUP_FAILURE
    from uvicorn.server import Server
    from uvicorn.supervisors import Multiprocess

    server = Server(config=config)
    main = threading.current_thread() is threading.main_thread()  # (signals go to it alone)
    previous = signal.signal(signal.SIGTERM, _stopped) if main else None
    supervisor: Multiprocess | None = None
    try:
        if config.workers > 1:
            supervisor = Multiprocess(config, sockets=[sock])
            supervisor.run()
        else:
            server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    except _Stopped:
        return 0
    finally:
        if main:
            signal.signal(signal.SIGTERM, previous)
        sock.close()
    if supervisor is not None:
        # A process whose start-up failed stops them all (uvicorn's supervisor); the command
        # exited 0 then, and a service manager restarting on failure took it for a clean stop.
        failed = any(p.exitcode == STARTUP_FAILURE for p in supervisor.processes)
        return STARTUP_FAILURE if failed else 0
    if not server.started:
        return STARTUP_FAILURE  # the app's start-up failed (its lines said why)
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from api.runtime import resolve_database
    from api.stop_signal import run_stoppable
    from core.migrate import newer_schema_line

    settings = get_settings()
    if settings.migration_database_url and not settings.database_url:
        # Without DATABASE_URL the embedded cluster would be migrated and this would say so
        # with exit 0, while the database MIGRATION_DATABASE_URL names kept its old schema.
        raise SystemExit(
            "trulybot migrate: MIGRATION_DATABASE_URL is set but DATABASE_URL is not; set both"
            " (the app's connection and the owner's), or neither for the embedded database"
        )
    if settings.database_url:
        user = database_user(settings.database_url)
        if user is not None and user != settings.app_db_role:
            # The grants go to APP_DB_ROLE: the app would connect as a role granted nothing,
            # and every request would fail while this said "migrations applied".
            raise SystemExit(
                f"trulybot migrate: DATABASE_URL connects as {user!r} but APP_DB_ROLE is"
                f" {settings.app_db_role!r}; the grants go to APP_DB_ROLE: set"
                f" APP_DB_ROLE={user}"
            )
    try:
        target = run_stoppable(resolve_database(settings, apply_migrations=True))
    except StoppedBySignal as exc:
        raise SystemExit(stopped_line(exc)) from None
    where = "embedded database" if target.embedded else "configured database"
    if target.newer_schema:  # an older image's migrate (a rollback): nothing to apply
        print(f"trulybot migrate: {newer_schema_line(target.newer_schema)}")
        return 0
    print(f"migrations applied to the {where}")
    return 0


def stopped_line(exc: StoppedBySignal) -> str:
    """What `trulybot migrate` says when a signal stopped it: where the schema was left."""
    from core.migrate import MigrationStopped

    said = f"trulybot migrate: stopped by {exc.signal_name}"
    if not isinstance(exc.__cause__, MigrationStopped):  # no revision under way
        return f"{said}: run `trulybot migrate` again"
    heads = ", ".join(exc.__cause__.heads) or "no revision"
    return (
        f"{said}: the revision under way was rolled back and the migration lock released;"
        f" the database is at {heads}: run `trulybot migrate` again"
    )


def database_user(url: str) -> str | None:
    """The user name in a database URL (None when it names none)."""
    from sqlalchemy import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).username
    except ArgumentError:
        return None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trulybot", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the API server")
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)
    serve.add_argument("--workers", type=int, default=None, help="worker processes (WORKERS)")
    serve.set_defaults(func=_serve)
    mig = sub.add_parser("migrate", help="apply migrations (as MIGRATION_DATABASE_URL's role)")
    mig.set_defaults(func=_migrate)
    for info in pkgutil.iter_modules(commands.__path__):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for noisy in QUIET_LOGGERS:  # before the settings are read (configure_logging again)
        logging.getLogger(noisy).setLevel(logging.WARNING)
    args = build_parser().parse_args(argv)
    try:
        # Every command logs as LOG_JSON / LOG_LEVEL say (the server's workers again, in theirs).
        configure_logging(get_settings())
        warn_misspelt_settings(os.environ)  # a name pydantic-settings ignores, said once
        result: int = args.func(args)
    except ValidationError as exc:
        if exc.title != Settings.__name__:
            raise
        # The settings were never read whole, so nothing was logged: a misspelt name (a
        # DATABASE_URI for production's DATABASE_URL) is said with the refusal.
        ignored = "".join(f"\n  {line}" for line in misspelt_settings(os.environ))
        raise SystemExit(f"trulybot {args.command}: {settings_problems(exc)}{ignored}") from None
    except ConfigError as exc:
        raise SystemExit(_named(args.command, str(exc))) from None
    except SystemExit as exc:
        # A refusal names its command, as the others do: from several processes' logs a bare
        # "REDIS_URL is not set" or "no workspace with slug 'x'" said nothing of which one.
        if isinstance(exc.code, str):
            raise SystemExit(_named(args.command, exc.code)) from None
        raise
    return result


def _named(command: str, refusal: str) -> str:
    """``refusal`` beginning with its command once (a message may name it already: "trulybot
    worker: cannot listen on ..." was said "trulybot worker: trulybot worker: ...")."""
    return refusal if refusal.startswith("trulybot ") else f"trulybot {command}: {refusal}"


if __name__ == "__main__":
    sys.exit(main())

"""``trulybot ARGS...`` as an operator runs it (the operator tests): in its own process, or,
for a command whose test is not about the process (its signals, its exit after a crash, a port
it listens on), in this one with the same environment, output and exit code; a `worker` left
running in a process of its own (``spawn_worker``, ``start_worker``); a refusal of ``cli.main``
(``refusal``)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest
import structlog

from tests import forked_cli
from tests.conftest import ROOT

SETTING_PREFIXES = ("DATABASE_", "MIGRATION_", "REDIS_", "APP_DB_", "OPENAI_", "EMBEDDING_")
"""Settings of the test process's own environment left out of the command's."""


@dataclass
class Run:
    code: int
    out: str


def command_env(env: dict[str, str]) -> dict[str, str]:
    """The test process's environment, less its database, Redis and model settings, plus
    ``env``."""
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith(SETTING_PREFIXES)
    }
    environment |= {"ENVIRONMENT": "test", "EMBEDDING_PROVIDER": "hash", "HF_HUB_OFFLINE": "1"}
    return environment | env


async def run_python(*args: str, env: dict[str, str]) -> Run:
    """``python ARGS...`` from the repository with exactly ``env``; stdout and stderr together."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        async with asyncio.timeout(300):  # a guard against hanging, not a timing assertion
            out, _ = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return Run(process.returncode, out.decode(errors="replace"))


async def run_trulybot(*args: str, env: dict[str, str]) -> Run:
    """The command with the test process's environment, less its database, Redis and model
    settings, plus ``env``; stdout and stderr together. In a process of its own, forked from
    one that imported the command's code once (``tests/forked_cli.py``): a new interpreter
    spent about 3 s of CPU importing it, most of such a test's time."""
    with tempfile.TemporaryDirectory(prefix="trulybot-cli-") as scratch:
        out = Path(scratch) / "out"
        code, said = await asyncio.to_thread(forked_cli.run, list(args), command_env(env), out)
    return Run(code, said)


WORKER_GUARD = 300
"""Seconds a worker may take to say it is ready (a guard against hanging, not a timing
assertion)."""


Process = subprocess.Popen[bytes] | forked_cli.Forked
"""A command a test started: a process of its own (``spawn_worker``: forked, no new
interpreter's imports)."""


def spawn_worker(*args: str, env: dict[str, str], log: Path) -> forked_cli.Forked:
    """``trulybot worker ARGS...`` in a process group of its own, with ``command_env(env)``, its
    output into ``log``; the test stops it (``kill_group``, or a SIGTERM to see its shutdown).
    Forked from the session's starter (``tests/forked_cli.py``)."""
    return forked_cli.spawn(["worker", *args], command_env(env), log, session=True)


def start_worker(*args: str, env: dict[str, str], log: Path) -> forked_cli.Forked:
    """``spawn_worker``, once the worker said "worker ready"; one that exits or stays silent
    fails the test, killed."""
    process = spawn_worker(*args, env=env, log=log)
    deadline = time.monotonic() + WORKER_GUARD
    while "worker ready" not in log.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            kill_group(process)
            pytest.fail(log.read_text(errors="replace")[-4000:])
        time.sleep(0.2)
    return process


def kill_group(process: Process) -> None:
    """SIGKILL to a process started in a group of its own (its children too), unless it ended."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def refusal(argv: list[str]) -> str:
    """What ``trulybot ARGV...`` says when it refuses to start, run in this process (the
    message of its ``SystemExit``)."""
    from api import cli

    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert isinstance(exc.value.code, str), exc.value.code
    return exc.value.code


_HERE = threading.Lock()
"""One command in this process at a time: it has the process's environment to itself."""


def _exit_code(exc: SystemExit) -> int:
    """What the interpreter does with a ``SystemExit`` that ends it: None is 0, a number is
    the status, anything else is printed to stderr with status 1."""
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=sys.stderr)
    return 1


def _main_here(argv: list[str], env: dict[str, str]) -> Run:
    """``sys.exit(api.cli.main(argv))`` with exactly ``env`` as the environment, stdout and
    stderr together; this process's environment, settings and logging are restored after."""
    from api import cli
    from core.config import get_settings
    from core.logging import QUIET_LOGGERS

    out = io.StringIO()
    loggers = [logging.getLogger(), *(logging.getLogger(name) for name in QUIET_LOGGERS)]
    access = logging.getLogger("uvicorn.access")
    with _HERE:
        saved_env = dict(os.environ)
        saved_handlers = list(loggers[0].handlers)
        saved_levels = [logger.level for logger in loggers]
        saved_access = access.disabled
        saved_structlog = structlog.get_config()
        # configure_logging captures warnings: as logging keeps that (its showwarning, and the
        # one it replaced)
        saved_warnings = (warnings.showwarning, getattr(logging, "_warnings_showwarning", None))
        os.environ.clear()
        os.environ.update(env)
        get_settings.cache_clear()
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
                try:
                    code = _exit_code(SystemExit(cli.main(argv)))
                except SystemExit as exc:
                    code = _exit_code(exc)
                except Exception:  # what the interpreter prints for an uncaught exception
                    traceback.print_exc()
                    code = 1
        finally:
            os.environ.clear()
            os.environ.update(saved_env)
            get_settings.cache_clear()
            root = loggers[0]
            for handler in list(root.handlers):
                if handler not in saved_handlers:
                    root.removeHandler(handler)
            for handler in saved_handlers:
                if handler not in root.handlers:
                    root.addHandler(handler)
            for logger, level in zip(loggers, saved_levels, strict=True):
                logger.setLevel(level)
            access.disabled = saved_access
            warnings.showwarning = saved_warnings[0]
            setattr(logging, "_warnings_showwarning", saved_warnings[1])  # noqa: B010
            structlog.configure(**saved_structlog)
    return Run(code, out.getvalue())


async def run_trulybot_here(*args: str, env: dict[str, str]) -> Run:
    """``run_trulybot`` in this process: ``api.cli.main`` on a thread of its own (the commands
    run their own event loop), with the environment ``run_trulybot`` gives the process. No
    process start (about 5 s of imports each): for commands whose test is about what they
    print, return and leave in the database, not about the process."""
    return await asyncio.to_thread(_main_here, list(args), command_env(env))

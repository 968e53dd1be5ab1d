"""Embedded PostgreSQL clusters the tests start in their own data directories (a `trulybot serve`
on an empty DATA_DIR starts one): found by their data directory, stopped when the test that
started them ends, and once more when the session ends (``pytest_sessionfinish``), also after a
failure or a server that died without cleaning up."""

from __future__ import annotations

import signal
from pathlib import Path

import psutil

STARTED: set[Path] = set()
"""Every data directory a test let a cluster start in (the session-end safety net stops them)."""


def postgres_processes(pgdata: Path) -> list[psutil.Process]:
    """The postmaster(s) serving ``pgdata`` (their children go with them)."""
    wanted = str(pgdata.resolve())
    found = []
    for process in psutil.process_iter(attrs=["name", "cmdline"]):
        cmdline = process.info.get("cmdline") or []
        if process.info.get("name") == "postgres" and wanted in cmdline:
            found.append(process)
    return [p for p in found if _alive(p)]


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def stop_clusters(pgdata: Path) -> None:
    """Stop what serves ``pgdata``: a fast shutdown (what ``pg_ctl stop -m fast`` sends), then
    a kill for a postmaster that does not go."""
    for process in postgres_processes(pgdata):
        try:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=30)
        except psutil.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        except psutil.NoSuchProcess:
            pass


def stop_all_started() -> None:
    for pgdata in sorted(STARTED):
        stop_clusters(pgdata)

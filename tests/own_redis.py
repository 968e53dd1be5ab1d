"""A redis-server of a test's own on 127.0.0.1, nothing saved to disk: for the tests whose Redis
goes away (stopped, killed, restarted on the same port) under the app or a worker. The test
stops what it started."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time

import pytest

GUARD = 20
"""Seconds a redis-server may take to listen (a guard against hanging, not a timing assertion)."""


def start_redis(port: int, *options: str) -> subprocess.Popen[bytes]:
    """``redis-server`` on ``port`` (with ``options``: ``"--requirepass", "..."``), once it
    accepts connections; the test is skipped where redis-server is not installed, and fails
    (the server killed) where it does not start."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            *options,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + GUARD
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return process
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                exited = process.poll() is not None
                process.kill()
                process.wait(timeout=10)
                pytest.fail("redis-server exited" if exited else "redis-server did not start")
            time.sleep(0.05)

"""A piece of work that must finish in linear time, run in a Python process of its own: a
super-linear regular expression cannot be interrupted, so in the test process a regression
would hold the suite instead of failing its test. The bound is generous on purpose (the
linear code needs seconds at most, the old one minutes or hours): only a super-linear pass
misses it, never a slow machine."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_bounded(
    script: str, *args: str, seconds: float, too_slow: str, env: dict[str, str] | None = None
) -> str:
    """What ``script`` printed, run as ``python -c script args`` from the repository's root
    (``env``: the environment, this process's by default, with the root on ``PYTHONPATH``);
    the test fails with ``too_slow`` when it takes more than ``seconds`` (the child is killed)
    and with the child's error when it fails."""
    try:
        done = subprocess.run(
            [sys.executable, "-c", script, *args],
            cwd=ROOT,
            env={**(os.environ if env is None else env), "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            timeout=seconds,
            check=True,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(too_slow)
    return done.stdout

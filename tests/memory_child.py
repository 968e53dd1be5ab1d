"""Peak memory of one piece of work, measured in a Python process of its own (in the test process
other tests' heaps and threads would blur it). A child's code starts with ``MEASURE``: ``status``
reads /proc/self/status, ``reset_peak`` starts the peak (VmHWM) again from the resident size and
returns that size, so ``status("VmHWM") - reset_peak()`` taken around the work is its rise.
``run_child`` runs the code and returns the JSON its last line printed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

MEASURE = """
def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(field)

def reset_peak():
    before = status("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM to the current resident size
    return before
"""


def run_child(code: str, *args: str, timeout: float = 300) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", MEASURE + code, *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=timeout,  # subprocess.run kills the child when it expires
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result

"""The trulybot_razorpay_* counters are on /metrics at 0 from a process's start.

A labelled counter's series appeared only at its first count, at 1: Prometheus has no earlier
sample of it, so ``increase()``/``rate()`` saw no change and an alert on, say, any
``reason="keys_refused"`` increase (docs/deploy.md, "Observability") missed the first stop
(and a restarted process's next one). Now each known label value is there, at 0, as soon as
the process has imported ``core.metrics``: one process, and several behind one address
(prometheus-client's multiprocess mode).

A fresh process each time: in this one, other tests may have counted already.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.metrics import MULTIPROCESS_ENV

ROOT = Path(__file__).resolve().parents[2]
STOPS = "trulybot_razorpay_cancel_sweeps_stopped_total"
REASONS = ("keys_refused", "rate_limited", "unreachable")


@pytest.mark.parametrize("processes", ["one", "several"])
def test_every_stop_reason_is_on_metrics_at_zero_from_the_start(
    processes: str, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if k != MULTIPROCESS_ENV}
    if processes == "several":
        env[MULTIPROCESS_ENV] = str(tmp_path)
    rendered = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from core import metrics; sys.stdout.write(metrics.render().decode())",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    for reason in REASONS:
        assert f'{STOPS}{{reason="{reason}"}} 0.0' in rendered.splitlines(), rendered

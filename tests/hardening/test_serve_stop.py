"""`trulybot serve` stopped with SIGTERM (docker stop, a Kubernetes rollout, systemd) exits 0
once its graceful shutdown is done, with one process as with several, as `trulybot worker`
does. With one, it was killed by the signal after the shutdown (status 143 to a shell or a
container runtime): uvicorn's ``Server`` raises a signal it handled again, once it has put
the previous handler back, for its caller to see, and that was the default one."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from core.embedded import EmbeddedPostgres
from tests.hardening.conftest import serve_ready, start_serve
from tests.ports import free_port


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_stopped_with_sigterm_exits_0_after_shutting_down(
    pg: EmbeddedPostgres, tmp_path: Path, workers: str
) -> None:
    port = free_port()
    process, log = start_serve(
        tmp_path, pg, "--port", str(port), "--workers", workers, LOG_JSON="false"
    )
    try:
        serve_ready(process, log, port)
        process.send_signal(signal.SIGTERM)  # to the server's own process, as a runtime does
        code = process.wait(timeout=60)
        said = log.read_text(errors="replace")
        assert code == 0, said[-4000:]
        assert "Shutting down" in said, said[-4000:]
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

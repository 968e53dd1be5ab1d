"""With LOG_JSON a real `trulybot serve` writes JSON lines only: uvicorn's own lines ("Uvicorn
running on", "Shutting down") came out as its "INFO:     ..." text between ours, which a log
collector reading stdout cannot parse."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

from core.embedded import EmbeddedPostgres
from tests.hardening.conftest import serve_ready, start_serve
from tests.ports import free_port


def test_every_line_of_a_served_and_stopped_server_is_json(
    pg: EmbeddedPostgres, tmp_path: Path
) -> None:
    port = free_port()
    process, log = start_serve(
        tmp_path, pg, "--port", str(port), "--workers", "1", LOG_JSON="true", LOG_LEVEL="INFO"
    )
    try:
        serve_ready(process, log, port)
        os.killpg(process.pid, signal.SIGTERM)
        stopped = process.wait(timeout=60)
        assert stopped == 0, log.read_text()[-4000:]  # (test_serve_stop.py)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    records = []
    for line in lines:
        assert line.startswith("{"), f"not a JSON line: {line!r}"
        records.append(json.loads(line))
    events = [str(r["event"]) for r in records]
    said = "\n".join(events)
    # uvicorn's lines among them, through our formatter, without its colour-coded copy.
    assert any(e.startswith("Started server process") for e in events), said
    assert "Shutting down" in events, said
    assert all("color_message" not in r for r in records)
    assert any("TrulyBot listening on" in e for e in events), said

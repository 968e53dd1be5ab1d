"""``python -m api.cli ARGS...`` without the imports of a new interpreter each time: one
process of this session imports the command's code once (``STARTER``), then forks a child per
command, which takes the command's environment, working directory and argv and runs
``api.cli.main`` as ``python -m api.cli`` does, to its exit (an uncaught exception printed,
the exit hooks run). The child is a process of its own: its exit code, its signals and what
it leaves running are the command's. Before each fork the starter checks that it runs no
thread."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
from pathlib import Path

from tests.conftest import ROOT

STARTER = textwrap.dedent(
    """
    import json, os, sys, threading

    from api.cli import build_parser, main

    # What `serve` and `worker` import as they start.
    import api.app, api.http_protocol, api.start_checks  # noqa
    import api.job_registry, api.runtime, api.worker_metrics, core.worker_presence  # noqa
    import lifecycle.jobs, rag.chat.notify, rag.knowledge.rerank  # noqa
    import workspaces.notification_delivery  # noqa

    build_parser()
    for line in sys.stdin:
        request = json.loads(line)
        assert threading.active_count() == 1, threading.enumerate()  # safe to fork
        pid = os.fork()
        if pid == 0:
            os.chdir(request["cwd"])
            os.environ.clear()
            os.environ.update(request["env"])
            sys.argv = [request["argv0"], *request["args"]]
            out = os.open(request["out"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.dup2(out, 1)
            os.dup2(out, 2)
            os.close(out)
            nothing = os.open(os.devnull, os.O_RDONLY)
            os.dup2(nothing, 0)
            os.close(nothing)
            sys.exit(main(request["args"]))
        print(pid, flush=True)
        _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status), flush=True)
    """
)

_LOCK = threading.Lock()
_starter: subprocess.Popen[str] | None = None


def _started() -> subprocess.Popen[str]:
    """The session's starter (a new one if it ended); it ends when this process does (its
    input closes)."""
    global _starter
    if _starter is None or _starter.poll() is not None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PROMETHEUS_")}
        env["HF_HUB_OFFLINE"] = "1"
        _starter = subprocess.Popen(
            [sys.executable, "-c", STARTER],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
    return _starter


def run(args: list[str], env: dict[str, str], guard: float = 300) -> tuple[int, str]:
    """(exit code, stdout and stderr together) of ``python -m api.cli ARGS`` run from the
    repository with exactly ``env``; one command at a time. After ``guard`` seconds (a guard
    against hanging, not a timing assertion) the command is killed."""
    with _LOCK, tempfile.TemporaryDirectory(prefix="trulybot-cli-") as scratch:
        out = Path(scratch) / "out"
        starter = _started()
        assert starter.stdin is not None
        assert starter.stdout is not None
        request = {
            "args": args,
            "env": env,
            "cwd": str(ROOT),
            "argv0": str(ROOT / "api" / "cli.py"),
            "out": str(out),
        }
        starter.stdin.write(json.dumps(request) + "\n")
        starter.stdin.flush()
        child = int(starter.stdout.readline())
        timer = threading.Timer(guard, os.kill, (child, signal.SIGKILL))
        timer.start()
        try:
            said = starter.stdout.readline()
        finally:
            timer.cancel()
        assert said, "the process starting the commands ended"
        return int(said), out.read_text(errors="replace") if out.exists() else ""

"""``python -m api.cli ARGS...`` without the imports of a new interpreter each time: one
process of this session imports the command's code once (``STARTER``), then forks a child per
command, which takes the command's environment, working directory and argv (and, asked, a
session of its own) and runs ``api.cli.main`` as ``python -m api.cli`` does, to its exit (an
uncaught exception printed, the exit hooks run). The child is a process of its own: its exit
code, its signals and what it leaves running are the command's. The starter reaps it and
writes its exit status to a file (``Forked``, the test's handle). Before each fork the starter
checks that it runs no thread."""

from __future__ import annotations

import atexit
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

from tests.conftest import ROOT

STARTER = textwrap.dedent(
    """
    import json, os, select, signal, sys, threading

    from api.cli import build_parser, main

    # What `serve` and `worker` import as they start.
    import api.app, api.http_protocol, api.start_checks  # noqa
    import api.job_registry, api.runtime, api.worker_metrics, core.worker_presence  # noqa
    import lifecycle.jobs, rag.chat.notify, rag.knowledge.rerank  # noqa
    import workspaces.notification_delivery  # noqa

    build_parser()
    children = {}  # pid: where its exit status goes
    while True:
        ready, _, _ = select.select([sys.stdin], [], [], 0.05 if children else None)
        while children:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            path = children.pop(pid)
            with open(path + ".part", "w") as done:
                done.write(str(os.waitstatus_to_exitcode(status)))
            os.rename(path + ".part", path)
        if not ready:
            continue
        line = sys.stdin.readline()
        if not line:
            break
        request = json.loads(line)
        assert threading.active_count() == 1, threading.enumerate()  # safe to fork
        pid = os.fork()
        if pid == 0:
            if request["session"]:
                os.setsid()
            # Ctrl-C as a command started at a terminal has it (Python's handler), also when
            # this session runs in a script's background, which starts with SIGINT ignored.
            signal.signal(signal.SIGINT, signal.default_int_handler)
            os.chdir(request["cwd"])
            os.environ.clear()
            os.environ.update(request["env"])
            sys.argv = [request["argv0"], *request["args"]]
            out = os.open(request["out"], os.O_WRONLY | os.O_APPEND)
            os.dup2(out, 1)
            os.dup2(out, 2)
            os.close(out)
            nothing = os.open(os.devnull, os.O_RDONLY)
            os.dup2(nothing, 0)
            os.close(nothing)
            sys.exit(main(request["args"]))
        children[pid] = request["status"]
        print(pid, flush=True)
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
        atexit.register(_end, _starter)
    return _starter


def _end(starter: subprocess.Popen[str]) -> None:
    """At this process's exit: the starter's input closed and its end waited for (else Python
    warned "subprocess ... is still running" and of its unclosed pipes)."""
    for pipe in (starter.stdin, starter.stdout):
        if pipe is not None:
            pipe.close()
    try:
        starter.wait(timeout=10)
    except subprocess.TimeoutExpired:
        starter.kill()
        starter.wait()


class Forked:
    """A command the starter forked: the parts of ``subprocess.Popen`` the tests use."""

    def __init__(self, pid: int, status: Path) -> None:
        self.pid = pid
        self.status = status
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None and self.status.exists():
            self.returncode = int(self.status.read_text())
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(["trulybot"], timeout or 0)
            time.sleep(0.02)
        return code

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def spawn(args: list[str], env: dict[str, str], out: Path, *, session: bool = False) -> Forked:
    """``python -m api.cli ARGS`` from the repository with exactly ``env``, stdout and stderr
    into ``out``; ``session``: in a session (and process group) of its own."""
    status = out.with_name(f"{out.name}.{time.monotonic_ns()}.exit")
    out.write_bytes(b"")  # there, empty, when this returns (as a Popen's output file)
    with _LOCK:
        starter = _started()
        assert starter.stdin is not None
        assert starter.stdout is not None
        request = {
            "args": args,
            "env": env,
            "cwd": str(ROOT),
            "argv0": str(ROOT / "api" / "cli.py"),
            "out": str(out),
            "status": str(status),
            "session": session,
        }
        starter.stdin.write(json.dumps(request) + "\n")
        starter.stdin.flush()
        said = starter.stdout.readline()
    assert said, "the process starting the commands ended"
    return Forked(int(said), status)


def run(args: list[str], env: dict[str, str], out: Path, guard: float = 300) -> tuple[int, str]:
    """(exit code, stdout and stderr together) of ``spawn``'s command, once it ended. After
    ``guard`` seconds (a guard against hanging, not a timing assertion) it is killed."""
    command = spawn(args, env, out)
    try:
        code = command.wait(guard)
    except subprocess.TimeoutExpired:
        command.kill()
        code = command.wait(30)
    return code, out.read_text(errors="replace") if out.exists() else ""

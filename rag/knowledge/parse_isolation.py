"""Parsing in a child process: ``parse_isolated`` runs ``rag.knowledge.parsing.parse`` in a
process forked from a small server that has the parsers imported, killed when it runs out of
time (422 ``parse_timeout``) or memory (413 ``document_too_large``), so a hostile file can
neither hang a worker nor grow the worker's memory. Call it through ``asyncio.to_thread``, or
from a coroutine as ``parse_in_child``, which kills the child as soon as it is cancelled (a
worker stopping exits at once, not when the parse ends or times out)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import sys
import threading
import types
from typing import Any

from core.errors import AppError
from rag.knowledge.parsed import MIB, DocumentTooLarge, ParsedDocument, ParseLimits, ParseTimeout
from rag.knowledge.parsing import parse

log = logging.getLogger(__name__)

# Parser children fork from a small server process that has the parsers imported (started once,
# on first use; it exits with this process), so a child costs milliseconds, not an import.
_PRELOAD = ["rag.knowledge.parse_isolation", "bs4", "docx", "pypdf", "lxml.etree"]
_context_lock = threading.Lock()
_context: Any = None


def _forkserver() -> Any:
    global _context
    with _context_lock:
        if _context is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(_PRELOAD)
            _context = context
        return _context


_BARE_MAIN = types.ModuleType("__main__")
_start_lock = threading.Lock()


def _start(child: Any) -> None:
    """Start ``child`` without re-running this program's main script in it.

    CPython's fork server does not import the parent's ``__main__`` once, so every child would
    execute the script again (for ``trulybot``: importing the whole CLI, a quarter of a second
    per document). The target lives in this module, so the child needs nothing from
    ``__main__``: while the child is started, multiprocessing sees a bare one.
    """
    with _start_lock:
        main = sys.modules["__main__"]
        sys.modules["__main__"] = _BARE_MAIN
        try:
            try:
                child.start()
            except ChildProcessError:
                _forget_fork_server()
                child.start()
        finally:
            sys.modules["__main__"] = main


def _forget_fork_server() -> None:
    """Let the next start launch a new fork server.

    multiprocessing checks that its fork server is alive with ``waitpid(pid, WNOHANG)``; when the
    server has exited and something else in this process already reaped it (a ``waitpid(-1)`` or
    an ignored SIGCHLD in a library: seen in the test suite after the browser tests), that check
    raises ECHILD on every later start instead of launching a new server, and no document could
    be parsed again. Forget the dead server's pid, socket and pipe; multiprocessing starts anew.
    """
    from multiprocessing import forkserver, util

    server: Any = forkserver._forkserver
    with contextlib.suppress(OSError, TypeError):
        os.close(server._forkserver_alive_fd)
    address = server._forkserver_address
    server._forkserver_alive_fd = None
    server._forkserver_pid = None
    server._forkserver_address = None
    if address and not util.is_abstract_socket_namespace(address):
        with contextlib.suppress(OSError):
            os.unlink(address)


def _near_memory_limit(limit: int | None) -> bool:
    """Whether this process's address space peaked at half its limit or more."""
    if limit is None:
        return False
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmPeak:"):
                    return int(line.split()[1]) * 1024 >= limit // 2
    except OSError:
        return False
    return False


def _parse_child(
    conn: Any, data: bytes, filename: str | None, content_type: str | None, limits: ParseLimits
) -> None:
    """In the child: parse within an address-space limit and send back the outcome."""
    import resource

    if limits.max_memory_bytes is not None:
        resource.setrlimit(resource.RLIMIT_AS, (limits.max_memory_bytes, limits.max_memory_bytes))
    outcome: tuple[Any, ...]
    try:
        outcome = ("ok", parse(data, filename=filename, content_type=content_type, limits=limits))
    except MemoryError:
        outcome = ("memory",)
    except AppError as exc:
        outcome = ("error", exc.code, exc.message, exc.status_code, exc.details)
        if exc.code == "parse_failed" and _near_memory_limit(limits.max_memory_bytes):
            outcome = ("memory",)  # C parsers report a failed allocation as a parse error
    try:
        conn.send(outcome)
    except MemoryError:
        conn.send(("memory",))
    conn.close()


class ParseStop:
    """Stops one ``parse_isolated`` from another thread: its child is killed (now, or as soon
    as it is started), so the parsing thread returns at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._child: Any = None
        self.stopped = False

    def stop(self) -> None:
        with self._lock:
            self.stopped = True
            if self._child is not None and self._child.is_alive():
                self._child.kill()

    def _attach(self, child: Any) -> None:
        with self._lock:
            self._child = child
            if self.stopped:
                child.kill()

    def _detach(self) -> None:
        with self._lock:  # before the child is reaped and closed by its thread
            self._child = None


async def parse_in_child(
    data: bytes, *, filename: str | None, content_type: str | None, limits: ParseLimits
) -> ParsedDocument:
    """``parse_isolated`` in a thread, for a coroutine. Cancelled (a worker stopping, a job
    timeout), it kills the child and waits for the thread to reap it before it gives way: the
    thread used to wait on the child until the parse ended or ``limits.timeout_seconds``
    passed, and a stopping worker's event loop waits for its threads."""
    stop = ParseStop()
    work = asyncio.ensure_future(
        asyncio.to_thread(
            parse_isolated,
            data,
            filename=filename,
            content_type=content_type,
            limits=limits,
            stop=stop,
        )
    )
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        stop.stop()
        await asyncio.wait({work})  # moments: the child is killed
        if not work.cancelled():
            work.exception()  # the killed parse's outcome: nobody waits for it
        raise


def parse_isolated(
    data: bytes,
    *,
    filename: str | None,
    content_type: str | None,
    limits: ParseLimits,
    stop: ParseStop | None = None,
) -> ParsedDocument:
    """:func:`parse` in a child process, killed after ``limits.timeout_seconds`` (422
    ``parse_timeout``) and held to ``limits.max_memory_bytes`` (413 ``document_too_large``),
    or when ``stop`` is stopped (``parse_failed``).

    Blocks the calling thread until the child answers or is killed: call it through
    ``asyncio.to_thread`` (or ``parse_in_child``).
    """
    context = _forkserver()
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(
        target=_parse_child,
        args=(sender, data, filename, content_type, limits),
        name="trulybot-parse",
        daemon=True,
    )
    outcome: tuple[Any, ...] | None = None
    try:
        try:
            _start(child)
        finally:
            sender.close()  # the child has its own copy; ours would hide the child's exit
        if stop is not None:
            stop._attach(child)
        if not receiver.poll(limits.timeout_seconds):
            raise ParseTimeout(
                f"Parsing took longer than {limits.timeout_seconds:g} s and was stopped",
                details={"limit_seconds": limits.timeout_seconds},
            )
        try:
            outcome = receiver.recv()
        except EOFError:  # the child died without an answer
            outcome = None
    finally:
        if stop is not None:
            stop._detach()
        receiver.close()
        exitcode = None
        if child.pid is not None:  # started
            if child.is_alive():
                child.kill()
            child.join()
            exitcode = child.exitcode
            child.close()
    if stop is not None and stop.stopped:
        raise AppError(
            "Parsing was stopped (the worker is stopping)", code="parse_failed", status_code=422
        )
    if outcome is not None and outcome[0] == "ok":
        parsed: ParsedDocument = outcome[1]
        return parsed
    if outcome is not None and outcome[0] == "error":
        _, code, message, status_code, details = outcome
        if code == DocumentTooLarge.code:
            raise DocumentTooLarge(message, details=details)
        raise AppError(message, code=code, status_code=status_code, details=details)
    if outcome is not None or exitcode == -9:  # out of memory (ours, or the kernel's killer)
        limit = limits.max_memory_bytes
        raise DocumentTooLarge(
            "Parsing the document needs more memory than allowed"
            + (f" ({limit // MIB} MiB)" if limit else ""),
            details={"limit_bytes": limit},
        )
    log.warning("document parser exited with %s without an answer", exitcode)
    raise AppError(
        "The document could not be read (the parser stopped)",
        code="parse_failed",
        status_code=422,
        details={"exitcode": exitcode},
    )

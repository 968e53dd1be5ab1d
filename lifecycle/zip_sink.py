"""A zip written by a thread of its own, fed from the event loop (a workspace export's zip).

Deflating is CPU work in zlib: done in the event loop, an export (in-process jobs, the embedded
setup) stalled every request of the process while each original document and each batch of
rows was compressed. Here the loop only hands over bytes: ``ZipSink`` queues them (a bounded
queue: a slow disk holds the reads back, memory stays a few chunks) and its thread writes and
deflates them. ``TextEntry`` is a text file in the zip that a ``csv.writer`` or a JSON writer
writes to; its ``drain`` hands what it holds to the thread once there is enough of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path
from types import TracebackType
from typing import IO, Any

CHUNK = 256 * 1024  # text a ``TextEntry`` holds before it hands it over
DEPTH = 8  # chunks waiting for the thread at most

_END = ("end",)


class ZipSink:
    """``async with ZipSink(path) as sink``: entries opened, written and closed in turn; the
    zip is complete once the block has ended without an error (the thread's own error, a full
    disk, is raised in the loop at the next hand-over or at the end)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._queue: queue.Queue[tuple[Any, ...]] = queue.Queue(maxsize=DEPTH)
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="export-zip", daemon=True)

    async def __aenter__(self) -> ZipSink:
        self._thread.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self._stop.set()  # what waits is dropped, not written
        # Waits for room and for the thread in a worker thread: never in the loop.
        await asyncio.shield(asyncio.to_thread(self._finish))
        if exc_type is None and self._error is not None:
            raise self._error

    def _finish(self) -> None:
        self._queue.put(_END)
        self._thread.join()

    async def _put(self, item: tuple[Any, ...]) -> None:
        if self._error is not None:
            raise self._error
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            await asyncio.to_thread(self._queue.put, item)

    async def writestr(self, name: str, data: bytes | str) -> None:
        """A whole entry (an original document): handed over, then waited for, so memory
        holds one of them at a time."""
        done = asyncio.get_running_loop().create_future()
        await self._put(("str", name, data, done))
        await done
        if self._error is not None:
            raise self._error

    @contextlib.asynccontextmanager
    async def text_entry(self, name: str) -> AsyncIterator[TextEntry]:
        await self._put(("open", name))
        entry = TextEntry(self)
        yield entry
        await entry.flush()
        await self._put(("close",))

    def _run(self) -> None:
        """The thread: every item in turn until the end; after an error (or a stop) the rest
        is read and dropped, so the loop never waits on a full queue, or on an entry, for good."""
        archive: zipfile.ZipFile | None = None
        handle: IO[bytes] | None = None
        try:
            archive = zipfile.ZipFile(self.path, "w", zipfile.ZIP_DEFLATED, allowZip64=True)
        except BaseException as exc:  # handed to the loop
            self._error = exc
        while (item := self._queue.get()) is not _END:
            if archive is not None and self._error is None and not self._stop.is_set():
                try:
                    handle = self._apply(archive, handle, item)
                except BaseException as exc:
                    self._error = exc
            if item[0] == "str":
                _resolve(item[3])
        if archive is not None:
            try:
                if handle is not None:
                    handle.close()
                archive.close()
            except BaseException as exc:
                self._error = self._error or exc

    @staticmethod
    def _apply(zf: zipfile.ZipFile, handle: IO[bytes] | None, item: tuple[Any, ...]) -> Any:
        kind = item[0]
        if kind == "open":
            return zf.open(item[1], "w", force_zip64=True)
        if kind == "data":
            assert handle is not None
            handle.write(item[1])
        elif kind == "close":
            assert handle is not None
            handle.close()
            return None
        elif kind == "str":
            zf.writestr(item[1], item[2])
        return handle


def _resolve(done: asyncio.Future[None]) -> None:
    def settle() -> None:
        if not done.done():
            done.set_result(None)

    with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
        done.get_loop().call_soon_threadsafe(settle)


class TextEntry:
    """A text file in the zip (UTF-8): ``write`` keeps the text, ``drain`` (after each row)
    hands it to the thread once ``CHUNK`` of it is held, ``flush`` hands over the rest."""

    def __init__(self, sink: ZipSink) -> None:
        self._sink = sink
        self._parts: list[str] = []
        self._held = 0

    def write(self, text: str) -> int:
        self._parts.append(text)
        self._held += len(text)
        return len(text)

    async def drain(self) -> None:
        if self._held >= CHUNK:
            await self.flush()

    async def flush(self) -> None:
        if self._parts:
            data = "".join(self._parts).encode("utf-8")
            self._parts.clear()
            self._held = 0
            await self._sink._put(("data", data))

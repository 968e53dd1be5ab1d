"""The content codings the fetcher decodes (gzip, deflate), inflated in bounded pieces.

``Inflater`` yields at most ``PIECE`` bytes at a time, so its caller (``rag.knowledge.fetch``,
a sitemap's ``.gz`` in ``rag.knowledge.sitemaps``) counts what it got and stops at its cap before
the output grows past it: the caps count the whole body, every member of it.

- gzip: a body may be several members one after the other (RFC 1952 2.2; servers and CDNs that
  compress a page piece by piece send them): every member is read. Bytes after a member that do
  not start another (padding, junk) end the body, and ``eof`` tells the caller to stop reading.
- deflate: one zlib stream (RFC 9110 8.4.1.2), tried zlib-wrapped first and then raw, as servers
  send both; bytes after its end are ignored.

A corrupt stream raises ``FetchFailed``; so does a body that ends inside its stream (``finish``):
a page cut short by a connection closed early was taken for the whole page.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

from rag.knowledge.addresses import FetchFailed

CODINGS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
PIECE = 64 * 1024
"""The most one inflate step may produce."""
_GZIP_MAGIC = b"\x1f\x8b"


class Inflater:
    """Decodes one content coding (one of ``CODINGS``; None passes bytes through)."""

    def __init__(self, coding: str | None) -> None:
        self._wbits = CODINGS[coding] if coding is not None else None
        self._members = self._wbits == CODINGS["gzip"]
        self._inflater = zlib.decompressobj(self._wbits) if self._wbits is not None else None
        self._started = False
        self._done = False
        self._between = b""
        """Bytes after a gzip member, too few yet to tell whether another member starts."""

    @property
    def eof(self) -> bool:
        """The body has ended: nothing more it is sent can add to it."""
        return self._done

    def finish(self, url: str | None = None) -> None:
        """The body's bytes are all fed: raises ``FetchFailed`` when they ended inside a
        compressed stream (an empty body is an empty page)."""
        inflater = self._inflater
        if inflater is None or self._done or not self._started or inflater.eof:
            return
        raise FetchFailed(
            "The response body ended before its compressed stream did (cut short)",
            details={"url": url} if url else None,
        )

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self._inflater is None:
            if data:
                yield data
            return
        if self._done or not data:
            return
        first, self._started = not self._started, True
        try:
            yield from self._inflate(data)
        except zlib.error as exc:
            if first and self._wbits == zlib.MAX_WBITS:  # raw deflate without the zlib header
                self._wbits = -zlib.MAX_WBITS
                self._inflater = zlib.decompressobj(self._wbits)
                self._started = False
                yield from self.feed(data)
                return
            raise FetchFailed(f"The response body could not be decoded: {exc}") from exc

    def _inflate(self, data: bytes) -> Iterator[bytes]:
        while not self._done:
            inflater = self._inflater
            assert inflater is not None
            if inflater.eof:  # between two gzip members (or after the one deflate stream)
                data = self._between + data
                if not self._members or (data and not _GZIP_MAGIC.startswith(data[:2])):
                    self._done = True  # padding or junk, not another member: the body ended
                    return
                if len(data) < len(_GZIP_MAGIC):
                    self._between = data  # the next read tells
                    return
                self._between = b""
                inflater = self._inflater = zlib.decompressobj(CODINGS["gzip"])
            out = inflater.decompress(data, PIECE)
            data = inflater.unconsumed_tail
            if out:
                yield out
            if inflater.eof:
                if not self._members:
                    self._done = True  # the one deflate stream ended: bytes after it are not read
                    return
                # All that followed the member's end (``unconsumed_tail`` may repeat it).
                data = inflater.unused_data
                if not data:
                    return  # the next read starts another member, or there is none
            elif not data and len(out) < PIECE:  # input used up and no output pending
                return

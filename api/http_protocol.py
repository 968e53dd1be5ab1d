"""The HTTP/1.1 protocol `trulybot serve` runs: uvicorn's httptools protocol with a bound on the
request head.

uvicorn's httptools protocol keeps every header a client sends until the head ends, with no
limit (its h11 protocol has one, ``h11_max_incomplete_event_size``, at a throughput cost): a
few connections that send megabytes of headers and never finish them held hundreds of MiB of
the server's memory, without any account (a red-team finding). Here the request line and the
headers together may take ``MAX_HEAD_BYTES``; a longer head is answered 431 and the connection
closed, before the application sees anything. Request bodies are bounded by MAX_BODY_BYTES in
the application (``api.limits``).
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEAD_BYTES = 64 * 1024
"""The request line and headers of one request, as sent (names, values and their separators):
four times nginx's default header buffers (4 x 8 KiB), far above what a browser sends."""

_REPLY = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: application/json\r\n"
    b"connection: close\r\n"
    b"content-length: %d\r\n\r\n%s"
)
_BODY = (
    b'{"error":{"code":"request_head_too_large","message":"The request line and headers '
    b'are longer than %d bytes","details":null}}' % MAX_HEAD_BYTES
)


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a request head of at most ``MAX_HEAD_BYTES``.

    httptools gathers a header's name and value itself before any callback sees them, so the
    bytes are counted as they arrive: every byte received while a request's head is not
    complete counts (a read that also holds the start of a body counts whole, and is forgiven
    when the head ends in it). A head still incomplete past the limit is refused at once."""

    _head_bytes = 0
    _in_body = False

    def data_received(self, data: bytes) -> None:
        if not self._in_body:
            self._head_bytes += len(data)
        super().data_received(data)
        if not self._in_body and self._head_bytes > MAX_HEAD_BYTES and self._open():
            self.logger.warning("Request head longer than %d bytes refused.", MAX_HEAD_BYTES)
            self.transport.write(_REPLY % (len(_BODY), _BODY))
            self.transport.close()

    def on_headers_complete(self) -> None:
        self._in_body = True
        self._head_bytes = 0
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_body = False  # a pipelined request's head may follow
        super().on_message_complete()

    def _open(self) -> bool:
        return not self.transport.is_closing()

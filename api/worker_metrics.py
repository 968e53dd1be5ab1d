"""``GET /metrics`` of a `trulybot worker` (``--metrics-port``): the jobs' own metrics.

With REDIS_URL the jobs run in the workers, which serve no HTTP, so what they count
(``trulybot_ingestion_jobs_total``, ``trulybot_ingestion_job_seconds``, the document embedding
batches, their event-loop lag and database pool) reached no scrape: the API replicas' /metrics
showed those series at zero however much was ingested. A worker started with
``--metrics-port`` answers ``GET /metrics`` there, with the same bearer token as the API's
(METRICS_TOKEN, required), and nothing else.

A plain asyncio server (one request per connection, the head read up to 16 KiB within 10 s):
uvicorn's server would take the process's signals from arq's worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Final

from api.deps import bearer_token
from core.metrics import CONTENT_TYPE, render
from workspaces.security import same_secret

log = logging.getLogger("trulybot.worker")

MAX_HEAD: Final = 16 * 1024
HEAD_SECONDS: Final = 10.0


def _response(status: str, body: bytes, content_type: str, *extra: str) -> bytes:
    head = [
        f"HTTP/1.1 {status}",
        f"Content-Type: {content_type}",
        f"Content-Length: {len(body)}",
        "Cache-Control: no-store",
        "Connection: close",
        *extra,
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def answer(head: bytes, token: str) -> bytes:
    """The response to one request ``head`` (request line and headers)."""
    lines = head.decode("latin-1").split("\r\n")
    method, _, rest = lines[0].partition(" ")
    target = rest.partition(" ")[0].partition("?")[0]
    if target != "/metrics":
        return _response("404 Not Found", b"not found\n", "text/plain")
    if method not in ("GET", "HEAD"):
        return _response("405 Method Not Allowed", b"", "text/plain", "Allow: GET, HEAD")
    authorization = None
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "authorization":
            authorization = value.strip()
    if not same_secret(bearer_token(authorization) or "", token):
        return _response(
            "401 Unauthorized",
            b"Send `Authorization: Bearer <METRICS_TOKEN>`\n",
            "text/plain",
            "WWW-Authenticate: Bearer",
        )
    body = render()
    response = _response("200 OK", body, CONTENT_TYPE)
    return response[: len(response) - len(body)] if method == "HEAD" else response


class WorkerMetricsServer:
    def __init__(self, host: str, port: int, token: str) -> None:
        self.host, self.port, self.token = host, port, token
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port, limit=MAX_HEAD)
        log.info("worker metrics: GET /metrics on %s:%s", self.host, self.port)

    async def close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            await server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(HEAD_SECONDS):
                head = await reader.readuntil(b"\r\n\r\n")
            if len(head) > MAX_HEAD:
                raise ValueError("head too large")
            writer.write(answer(head[:-4], self.token))
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, TimeoutError):
            pass  # not a request this answers: the connection is closed
        except ConnectionError:
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

"""Server-sent events over a StreamingResponse."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi.responses import StreamingResponse

from api.errors import DATABASE_MESSAGES, database_error_code
from core.errors import AppError

log = logging.getLogger(__name__)


def format_event(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, default=str, separators=(',', ':'))}\n\n"


async def sse_response(events: AsyncIterator[tuple[str, dict[str, Any]]]) -> StreamingResponse:
    """Pulls the first event before answering, so errors before any output (validation,
    quota) are ordinary HTTP errors; later failures become an ``error`` event, with the code
    the HTTP error would have (an ``AppError``'s, ``database_unavailable``, ``database_busy``)
    or ``internal_error``."""
    first = await anext(events)

    async def body() -> AsyncIterator[str]:
        yield format_event(*first)
        try:
            async for event, data in events:
                yield format_event(event, data)
        except AppError as exc:
            yield format_event("error", {"code": exc.code, "message": exc.message})
        except Exception as exc:
            code = database_error_code(exc)
            if code is not None:  # as the HTTP handlers answer it: no bug, a 503's code
                log.warning("chat stream failed: %s: %s: %s", code, type(exc).__name__, exc)
                yield format_event("error", {"code": code, "message": DATABASE_MESSAGES[code]})
                return
            log.exception("chat stream failed")
            yield format_event(
                "error", {"code": "internal_error", "message": "The answer was interrupted"}
            )
        finally:
            # The client left (or the stream ended): the events' producer hears it now, not
            # when the garbage collector finds it.
            aclose = getattr(events, "aclose", None)
            if aclose is not None:
                await aclose()

    return StreamingResponse(
        body(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def wants_stream(accept: str | None) -> bool:
    """Whether ``Accept`` prefers the event stream to JSON (RFC 9110 quality values): named
    with a weight above 0, and not below ``application/json``'s when that is named too.
    ``text/event-stream;q=0, application/json`` (a client refusing the stream) was streamed
    to: the type's name anywhere in the header was enough."""
    weights: dict[str, float] = {}
    for part in str(accept or "").lower().split(","):
        kind, *parameters = (piece.strip() for piece in part.split(";"))
        weight = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip() == "q":
                try:
                    weight = min(max(float(value), 0.0), 1.0)
                except ValueError:
                    weight = 0.0
        weights[kind] = max(weights.get(kind, 0.0), weight)
    stream = weights.get("text/event-stream", 0.0)
    return stream > 0 and stream >= weights.get("application/json", 0.0)

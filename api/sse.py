"""Server-sent events over a StreamingResponse."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi.responses import StreamingResponse

from core.errors import AppError

log = logging.getLogger(__name__)


def format_event(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, default=str, separators=(',', ':'))}\n\n"


async def sse_response(events: AsyncIterator[tuple[str, dict[str, Any]]]) -> StreamingResponse:
    """Pulls the first event before answering, so errors before any output (validation,
    quota) are ordinary HTTP errors; later failures become an ``error`` event."""
    first = await anext(events)

    async def body() -> AsyncIterator[str]:
        yield format_event(*first)
        try:
            async for event, data in events:
                yield format_event(event, data)
        except AppError as exc:
            yield format_event("error", {"code": exc.code, "message": exc.message})
        except Exception:
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
    return bool(accept) and "text/event-stream" in str(accept).lower()

"""widget.js as served: the files of ``static/widget/`` joined, in the order of ``PARTS``.

The embed stays one ``<script src=".../widget.js">``: one request, no build step, no npm. The
source is kept in parts by concern so no file grows past the house's 500 lines. The parts are
fragments of one script, not modules: ``setup.js`` opens the strict arrow-function scope that
``boot.js`` closes, and each part's top-level statements may use what an earlier part defined,
so the order below is the order of the script.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

PARTS_DIR = Path(__file__).resolve().parent / "static" / "widget"

PARTS = (
    "setup.js",  # the IIFE opens; the script tag, the API address, storage, DOM helpers
    "markdown.js",  # the safe markdown renderer (textContent / createElement only)
    "http.js",  # server-sent events parser, requests and their error texts, the widget's state
    "styles.js",  # the shadow root's style sheet, colour checks
    "panel.js",  # mounting the launcher and panel, focus and keys, open / close
    "messages.js",  # the log: messages, citations, feedback, history across tabs, errors
    "chat.js",  # sending a message, streaming the answer
    "leads.js",  # the lead form
    "boot.js",  # loading the configuration, window.TrulyBot, start; the IIFE closes
)


@lru_cache(maxsize=1)
def source() -> bytes:
    """The parts joined (read once per process; a missing part raises FileNotFoundError)."""
    return b"".join((PARTS_DIR / name).read_bytes() for name in PARTS)

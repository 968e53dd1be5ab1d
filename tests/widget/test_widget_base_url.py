"""Where widget.js sends its requests: where it was loaded from, PUBLIC_BASE_URL's path included."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from core.config import Settings
from widget import script
from widget.config import embed_base_url, snippet

NODE = shutil.which("node")

PAGE = "https://shop.example.com/products/kayak.html"


def _api_bases(sources: list[str]) -> list[str]:
    """``apiBase`` of widget.js, run by node for each script address on a page at PAGE."""
    assert NODE is not None
    source = script.source().decode("utf-8")
    start = source.index("const apiBase = ")
    end = source.index("const BASE = ", start)
    program = (
        f"const location = new URL({json.dumps(PAGE)});\n"
        + source[start:end]
        + f"\nconsole.log(JSON.stringify({json.dumps(sources)}.map(apiBase)));"
    )
    result = subprocess.run(
        [NODE, "-e", program], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stderr
    return list(json.loads(result.stdout))


@pytest.mark.skipif(NODE is None, reason="node is not installed")
@pytest.mark.parametrize(
    "public_base_url",
    [
        "https://bot.example.com",
        "https://bot.example.com/",
        "https://bot.example.com/trulybot",
        "https://bot.example.com/trulybot/",
        "https://bot.example.com:8443/tools/chat",
    ],
)
def test_the_snippets_widget_asks_the_api_at_public_base_url(public_base_url: str) -> None:
    """With a path in PUBLIC_BASE_URL the snippet loads .../trulybot/widget.js, and the widget
    asked https://bot.example.com/api/v1/... (the origin alone): "not available", or another
    app's 404, on every site until the owner added data-api by hand."""
    settings = Settings(_env_file=None, public_base_url=public_base_url)  # type: ignore[call-arg]
    base = embed_base_url(settings)
    found = re.search(r'src="([^"]+)"', snippet(base, "pk_test"))
    assert found
    assert _api_bases([found.group(1)]) == [public_base_url.rstrip("/")]


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_a_script_loaded_from_the_pages_own_server_asks_that_server() -> None:
    assert _api_bases(
        [
            "/widget.js",  # the demo page, the dashboard's preview
            "https://bot.example.com/widget.js?v=3",
            "https://bot.example.com/trulybot/widget.js#x",
            "",  # an inline script: the page's origin, as before
        ]
    ) == [
        "https://shop.example.com",
        "https://bot.example.com",
        "https://bot.example.com/trulybot",
        "https://shop.example.com",
    ]

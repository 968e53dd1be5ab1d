"""The README's curl examples, run as a reader runs them: every ``sh`` block after the quick
start, in order, in one bash with real curl, against `trulybot serve` on the embedded defaults
(as `make run` starts it). Each curl must succeed (no HTTP error), so an example naming a route,
a method, a field or a header the API does not take fails here."""

from __future__ import annotations

import functools
import os
import re
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from fpdf import FPDF

from tests.e2e.conftest import ROOT, running_server

README = ROOT / "README.md"
HOST = "http://127.0.0.1:8000"
"""Where the README says `make run` serves."""
SITE = "https://example.com"
"""The README's stand-in for the owner's site (its sitemap): a local site in the test, which
has no network."""

PRELUDE = r"""
set -euo pipefail
# Each curl the README runs, failing on an HTTP error with the answer's body shown.
curl() { command curl --fail-with-body --show-error --max-time 120 "$@"; }
"""
WAIT_FOR_MAIL = r"""
for _ in $(seq 600); do ls .trulybot/outbox/*.eml >/dev/null 2>&1 && break; sleep 0.2; done
"""
"""A reader reads the next line before running it; the mail is written in the background."""
WIDGET_KEY = r"""
PK=$(curl -s $B/workspaces/$WS/widget -H "Authorization: Bearer $TOKEN" \
  | python3 -c 'import sys, json; print(json.load(sys.stdin)["public_key"])')
"""
"""The README says to take the key from ``embed_snippet``; the test reads it the same way."""


def readme_shell_blocks() -> list[str]:
    """The README's ``sh`` blocks, in order, less the quick start (`make run`, `make test`)."""
    blocks = re.findall(r"^```sh\n(.*?)^```", README.read_text(), flags=re.MULTILINE | re.DOTALL)
    assert blocks[0].split("\n")[0].startswith("make run"), blocks[0]
    return blocks[1:]


def readme_script(base_url: str, site_url: str = SITE) -> str:
    """The blocks as one script: the README's host replaced by the server's and its site by
    ``site_url``, a pause for the verification mail before its token is read, and ``pk_...``
    (the README's stand-in for the widget key) replaced by the key."""
    script = PRELUDE
    for block in readme_shell_blocks():
        block = block.replace(HOST, base_url).replace(SITE + "/", site_url + "/")
        block = block.replace("\nVT=$(", WAIT_FOR_MAIL + "VT=$(")
        if "pk_..." in block:
            block = WIDGET_KEY + block.replace("pk_...", "$PK")
        script += block
    return script


def test_the_readme_has_the_examples_this_test_runs() -> None:
    script = readme_script("http://server")
    for command in (
        "$B/auth/signup",
        "$B/auth/verify-email",
        "$B/auth/login",
        "X-Widget-Key: $PK",
        "-F file=@handbook.pdf",
    ):
        assert command in script, command
    assert script.count("curl -s") >= 15


@contextmanager
def owners_site(root: Path) -> Iterator[str]:
    """The owner's site the README's sitemap names: a sitemap of one page, served on
    127.0.0.1 until the block ends; yields its base URL."""
    root.mkdir()
    (root / "returns.html").write_text(
        "<html><head><title>Returns</title></head><body><h1>Returns</h1>"
        "<p>Unworn shoes may be returned within 30 days of delivery.</p></body></html>"
    )
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    (root / "sitemap.xml").write_text(
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"<url><loc>{base}/returns.html</loc></url></urlset>"
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield base
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.mark.slow
def test_every_curl_example_in_the_readme_works(tmp_path: Path) -> None:
    data_dir = tmp_path / ".trulybot"  # the README reads the outbox at .trulybot/outbox
    data_dir.mkdir()
    pdf = FPDF()
    pdf.set_title("Handbook")
    pdf.set_font("Helvetica", size=12)
    pdf.add_page()
    pdf.multi_cell(0, 8, "We ship to Nepal and to every country in South Asia within ten days.")
    (tmp_path / "handbook.pdf").write_bytes(bytes(pdf.output()))
    with (
        owners_site(tmp_path / "site") as site,
        running_server(
            # The owner's site is on this machine's loopback: allowed here as in development.
            data_dir,
            DEFAULT_PLAN="unlimited",
            EMBEDDING_PROVIDER="hash",
            ALLOW_PRIVATE_URLS="true",
        ) as base,
    ):
        run = subprocess.run(
            ["bash", "-c", readme_script(base, site)],
            cwd=tmp_path,
            env={"PATH": os.environ["PATH"], "HOME": str(tmp_path), "LC_ALL": "C.UTF-8"},
            capture_output=True,
            text=True,
            timeout=600,  # a guard against hanging, not a timing assertion
        )
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-4000:]
    assert '"status":"check_your_email"' in out.replace(" ", ""), out[-4000:]
    assert '"status":"reading"' in out.replace(" ", ""), out[-4000:]  # the sitemap, 202
    assert "jane@example.com" in (tmp_path / "leads.csv").read_text()
    assert (tmp_path / "conversations.jsonl").exists()
    assert '"dont_know":"Das weiß ich leider nicht."' in out, out[-4000:]
    assert '"answer":' in out, out[-4000:]

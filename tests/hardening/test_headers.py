"""Security headers as a browser receives them."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import httpx

from api.middleware import html_csp, html_security_headers
from tests.hardening.conftest import ClientFactory, fresh_ip

DEMO = Path(__file__).resolve().parents[2] / "widget" / "static" / "demo.html"


async def test_api_answers_carry_the_security_headers(client: httpx.AsyncClient) -> None:
    for response in (await client.get("/healthz"), await client.get("/api/v1/me")):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin"
        assert response.headers["x-frame-options"] == "DENY"
        assert "default-src 'none'" in response.headers["content-security-policy"]
        assert "strict-transport-security" not in response.headers  # plain http


async def test_the_widget_script_may_be_embedded(client: httpx.AsyncClient) -> None:
    script = await client.get("/widget.js")
    assert script.status_code == 200
    assert "x-frame-options" not in script.headers
    assert script.headers["x-content-type-options"] == "nosniff"


async def test_hsts_only_over_https(app_client: ClientFactory) -> None:
    async with app_client(base_url="https://testserver") as secure:
        hsts = (await secure.get("/healthz")).headers["strict-transport-security"]
        assert hsts.startswith("max-age=31536000")
    spoofer = fresh_ip()
    async with app_client(ip=spoofer) as untrusted:
        response = await untrusted.get("/healthz", headers={"X-Forwarded-Proto": "https"})
        assert "strict-transport-security" not in response.headers
    proxy = fresh_ip()
    async with app_client(ip=proxy, trusted_proxies=proxy) as behind_proxy:
        response = await behind_proxy.get("/healthz", headers={"X-Forwarded-Proto": "https"})
        assert "strict-transport-security" in response.headers


def _hash(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


def test_demo_page_csp_allows_same_origin_widget_and_its_own_inline_handler() -> None:
    html = DEMO.read_text().replace("{{PUBLIC_KEY}}", "pk_demo")
    csp = html_csp(html)
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    script_src = directives["script-src"].split()
    assert "'self'" in script_src
    assert "'unsafe-inline'" not in script_src
    handler = re.search(r'onclick="([^"]*)"', html)
    assert handler is not None
    assert _hash(handler.group(1)) in script_src
    assert "'unsafe-inline'" in directives["style-src"]
    assert directives["connect-src"] == "'self'"
    assert directives["object-src"] == "'none'"
    assert html_security_headers(html) == {"Content-Security-Policy": csp}


def test_demo_page_csp_hashes_inline_scripts() -> None:
    html = "<html><script>console.log('hi')</script><script src='/widget.js'></script></html>"
    csp = html_csp(html, connect_src=["https://api.example.com"])
    assert _hash("console.log('hi')") in csp
    assert "'unsafe-hashes'" not in csp
    assert "connect-src 'self' https://api.example.com" in csp

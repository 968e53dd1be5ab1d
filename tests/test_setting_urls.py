"""URL, origin and file settings an operator writes: a malformed one stops every command at
start with one line naming the setting (never a traceback, never a password), where before it
was taken and failed later: at every request it governs, at every connection, or never
visibly (a server "degraded" for as long as it ran). Values that work are still taken, in the
form their users compare them in."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import certifi
import httpx
import pytest
from pydantic import ValidationError
from starlette.types import Receive, Scope, Send

from api.cli import settings_problems
from api.widget_cors import DashboardCorsMiddleware
from core.config import Settings, get_settings
from core.setting_checks import split_csv
from tests.cli_process import refusal
from tests.test_mail_tls import _with_cryptography
from widget.policy import normalize_allowed_origin

PASSWORD = "pwQ7zK2m9xLt"
"""A password written into the URLs below: never in a refusal. Fixed, not drawn per run: it is
in the parametrized cases' ids, which every pytest-xdist worker must collect alike (a drawn one
made `make test` stop at collection)."""


@pytest.fixture(autouse=True)
def _fresh_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.chdir(tmp_path)  # no .env of the checkout
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    for name in ("REDIS_URL", "DATABASE_URL", "OPENAI_BASE_URL", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("EMBEDDING_PROVIDER", "hash")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _refused(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> str:
    """The settings' refusal as the commands print it (``settings_problems``)."""
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as exc:
        Settings()
    return settings_problems(exc.value)


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        # Taken as they were: Starlette's CORS compares the Origin header with each entry as a
        # string, so none of these ever matched a browser's request.
        ("DASHBOARD_ORIGINS", "abc", "'abc' is not an origin: it must start with http"),
        ("DASHBOARD_ORIGINS", "app.example.com", "is not an origin: it must start with http"),
        ("DASHBOARD_ORIGINS", "https://app.example.com/dashboard", "an origin has no path"),
        ("DASHBOARD_ORIGINS", "https://app.example.com/?x=1", "an origin has no path"),
        ("DASHBOARD_ORIGINS", "https://owner@app.example.com", "must not contain a user name"),
        ("DASHBOARD_ORIGINS", "https://*.example.com", "wildcards are not taken"),
        ("DASHBOARD_ORIGINS", "https://app.example.com:99999", "the port must be a number"),
        # Taken as https://app.example.com:0 (no browser sends it) and as https://[::1]: the
        # widget's allowed origins refused both (core.origins.split_origin, now shared).
        ("DASHBOARD_ORIGINS", "https://app.example.com:0", "the port must be a number"),
        ("DASHBOARD_ORIGINS", "https://[::1]x", "malformed IPv6 address"),
        ("DASHBOARD_ORIGINS", "https://", "the host is missing"),
        ("DASHBOARD_ORIGINS", "https://app example.com", "it contains spaces"),
        ("DASHBOARD_ORIGINS", "http://[fe80::1%25eth0]:8080", "zone identifiers are not allowed"),
        ("DASHBOARD_ORIGINS", "https://owner:pw@app.example.com", "must not contain a user name"),
        ("DASHBOARD_ORIGINS", "https://app.example.com, ftp://files", "'ftp://files' is not an"),
        # With credentials: every website could call the API as a signed-in owner.
        ("DASHBOARD_ORIGINS", "*", "'*' would let every website call the API"),
        # No host: every model call (or order) failed, after "generation: OpenAI" at start.
        ("OPENAI_BASE_URL", "http://", "the host is missing"),
        ("OPENAI_BASE_URL", "https:// llm.internal/v1", "the host contains a space"),
        ("RAZORPAY_BASE_URL", "https://", "the host is missing"),
        # redis-py read these as localhost, or as a host no resolver knows: serve started
        # "degraded" for as long as it ran.
        ("REDIS_URL", "redis://", "the host is missing"),
        ("REDIS_URL", f"redis://:{PASSWORD}@:6379/0", "the host is missing"),
        ("REDIS_URL", "redis:// cache.internal:6379/0", "the host contains a space"),
        # Every connection failed (TypeError), and serve said Redis "does not answer".
        ("REDIS_URL", f"redis://:{PASSWORD}@127.0.0.1:6379/0?foo=1", "unknown parameter 'foo'"),
        ("REDIS_URL", "redis://127.0.0.1:6379/0?timeout=3", "unknown parameter 'timeout'"),
        # A traceback of serve's start-up.
        ("REDIS_URL", "redis://127.0.0.1:6379/0?socket_timeout=abc", "'socket_timeout'"),
        ("REDIS_URL", "rediss://127.0.0.1:6379/0?ssl_cert_reqs=maybe", "Certificate Require"),
        # Taken by redis-py, and no command worked: each timed out at once ("degraded" for as
        # long as serve ran), or answered str where the clients read bytes.
        ("REDIS_URL", "redis://127.0.0.1:6379/0?socket_timeout=0", "socket_timeout must be"),
        ("REDIS_URL", "redis://127.0.0.1:6379/0?socket_timeout=nan", "socket_timeout must be"),
        ("REDIS_URL", "redis://127.0.0.1:6379/0?socket_connect_timeout=-1", "connect_timeout must"),
        ("REDIS_URL", "redis://127.0.0.1:6379/0?decode_responses=true", "read as bytes"),
        ("REDIS_URL", "redis://127.0.0.1:6379/0?encoding=latin-1", "read as bytes"),
        # Taken at start, and every connection to Redis failed on it later.
        ("REDIS_URL", "rediss://127.0.0.1:6379/0?ssl_ca_certs=/missing/file", "is no file"),
        ("REDIS_URL", "rediss://127.0.0.1:6379/0?ssl_ca_certs=/etc", "is no file"),
        ("REDIS_URL", "rediss://127.0.0.1:6379/0?ssl_ca_certs=~/ca.pem", "full path"),
        # Every mail failed at its send and was retried until given up.
        ("SMTP_CA_FILE", "/nonexistent/ca.pem", "is no file"),
        ("SMTP_CA_FILE", "/etc", "is no file"),
    ],
)
def test_a_malformed_value_is_refused_naming_its_setting(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, says: str
) -> None:
    said = _refused(monkeypatch, name, value)
    assert f"  {name}: " in said, said
    assert says in said, said
    assert PASSWORD not in said
    assert "Traceback" not in said


def test_a_file_that_holds_no_certificate_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("not a certificate\n")
    said = _refused(monkeypatch, "SMTP_CA_FILE", str(not_pem))
    assert "SMTP_CA_FILE: " in said, said
    assert "holds no PEM certificate" in said, said


def test_a_redis_ca_file_that_holds_no_certificate_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """REDIS_URL's ``?ssl_ca_certs=`` checked as SMTP_CA_FILE is: a file that was not there,
    or no PEM, was taken at start and every connection to Redis failed on it later."""
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("not a certificate\n")
    url = f"rediss://:{PASSWORD}@127.0.0.1:6379/0?ssl_ca_certs={not_pem}"
    said = _refused(monkeypatch, "REDIS_URL", url)
    assert "REDIS_URL: ?ssl_ca_certs=" in said, said
    assert "holds no PEM certificate" in said, said
    assert PASSWORD not in said
    # A file of CA certificates is taken, as written.
    certificates = certifi.where()
    monkeypatch.setenv("REDIS_URL", f"rediss://127.0.0.1:6379/0?ssl_ca_certs={certificates}")
    assert Settings().redis_url == f"rediss://127.0.0.1:6379/0?ssl_ca_certs={certificates}"


def _client_certificate(
    folder: Path, name: str, *, passphrase: bytes | None = None
) -> tuple[str, str]:
    """A self-signed certificate and its key in ``folder`` (the key under ``passphrase`` when
    given), as paths."""
    from cryptography.hazmat.primitives import serialization

    cert, key = folder / f"{name}-cert.pem", folder / f"{name}-key.pem"
    _with_cryptography(cert, key)
    if passphrase is not None:
        private = serialization.load_pem_private_key(key.read_bytes(), password=None)
        key.write_bytes(
            private.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.BestAvailableEncryption(passphrase),
            )
        )
    return str(cert), str(key)


def test_a_redis_client_certificate_is_checked_before_start(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``?ssl_certfile=`` and ``?ssl_keyfile=`` (a Redis that asks for a client certificate):
    redis-py sends the pair only with both and loads it at the first connection, so one alone
    was left out silently and a missing file, a key of another certificate or a key under a
    passphrase were taken at start; every connection then failed (or, for the passphrase,
    OpenSSL asked for it on the terminal). Each is refused naming the setting; a pair that
    loads is taken as written."""
    cert, key = _client_certificate(tmp_path, "client")
    _, other_key = _client_certificate(tmp_path, "other")
    _, locked_key = _client_certificate(tmp_path, "locked", passphrase=b"s3cret-phrase")
    base = f"rediss://:{PASSWORD}@127.0.0.1:6380/0?"
    refused = [
        (f"ssl_certfile={cert}", "?ssl_certfile= without ?ssl_keyfile="),
        (f"ssl_keyfile={key}", "?ssl_keyfile= without ?ssl_certfile="),
        (f"ssl_certfile={tmp_path}/missing.pem&ssl_keyfile={key}", "missing.pem' is no file"),
        (f"ssl_certfile={cert}&ssl_keyfile={tmp_path}", "is no file"),
        (f"ssl_certfile=~/cert.pem&ssl_keyfile={key}", "full path"),
        (f"ssl_certfile={cert}&ssl_keyfile={other_key}", "not a PEM certificate and its"),
        (f"ssl_certfile={cert}&ssl_keyfile={locked_key}", "unencrypted key"),
        (f"ssl_certfile={key}&ssl_keyfile={key}", "not a PEM certificate and its"),
    ]
    for query, says in refused:
        said = _refused(monkeypatch, "REDIS_URL", base + query)
        assert "  REDIS_URL: ?ssl_" in said, (query, said)
        assert says in said, (query, said)
        assert PASSWORD not in said
        assert "Traceback" not in said
    taken = f"{base}ssl_certfile={cert}&ssl_keyfile={key}"
    monkeypatch.setenv("REDIS_URL", taken)
    assert Settings().redis_url == taken


def test_the_command_says_it_in_one_line_per_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """As a command prints it: named, before anything starts (the worker, which without
    REDIS_URL would stop at once saying so)."""
    monkeypatch.setenv("DASHBOARD_ORIGINS", "https://app.example.com/app")
    said = refusal(["worker"])
    assert said.startswith("trulybot worker: the settings are not valid"), said
    assert "\n  DASHBOARD_ORIGINS: 'https://app.example.com/app' is not an origin" in said


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        ("", []),
        ("https://app.example.com", ["https://app.example.com"]),
        # As a browser sends it: lower case, no default port, no slash.
        ("HTTPS://App.Example.COM:443/", ["https://app.example.com"]),
        (
            "http://localhost:3000, http://127.0.0.1:80",
            ["http://localhost:3000", "http://127.0.0.1"],
        ),
        ("http://[::1]:8080", ["http://[::1]:8080"]),
        ("https://bücher.example", ["https://xn--bcher-kva.example"]),
        # A browser's forms, which Starlette's CORS compares as strings: IPv6 compressed, and
        # IDNA by UTS-46 non-transitional (IDNA 2003 made ß "ss": another domain), from the
        # host as typed (Python's lower() makes a last capital sigma final, UTS-46 does not).
        ("http://[0:0:0:0:0:0:0:1]:8080", ["http://[::1]:8080"]),
        ("https://[2001:DB8:0:0:1::1]", ["https://[2001:db8::1:0:0:1]"]),
        ("https://straße.example", ["https://xn--strae-oqa.example"]),
        ("https://app.ΣΟΦΟΣ", ["https://app.xn--0xaakcn"]),
    ],
)
def test_origins_are_kept_as_browsers_send_them(
    monkeypatch: pytest.MonkeyPatch, value: str, kept: list[str]
) -> None:
    monkeypatch.setenv("DASHBOARD_ORIGINS", value)
    assert Settings().dashboard_origins == kept
    # The form a workspace's allowed origins take, which the widget compares with the header.
    assert kept == [normalize_allowed_origin(origin) for origin in split_csv(value)]


async def test_an_origin_written_with_a_slash_and_capitals_gets_the_dashboards_cors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``HTTPS://App.Example.com/`` was taken as written and the browser's
    ``Origin: https://app.example.com`` got no CORS headers: the dashboard failed to load."""
    site = f"app-{uuid.uuid4().hex[:8]}.example.com"
    monkeypatch.setenv("DASHBOARD_ORIGINS", f"HTTPS://{site.upper()}/")

    async def ok(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    app = DashboardCorsMiddleware(ok, origins=Settings().dashboard_origins)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        answer = await client.get("/api/v1/me", headers={"Origin": f"https://{site}"})
        other = await client.get("/api/v1/me", headers={"Origin": "https://elsewhere.example"})
    assert answer.headers.get("access-control-allow-origin") == f"https://{site}"
    assert answer.headers.get("access-control-allow-credentials") == "true"
    assert "access-control-allow-origin" not in other.headers


@pytest.mark.parametrize(
    "url",
    [
        "redis://127.0.0.1:6379/0",
        f"redis://user:{PASSWORD}%40x@cache.internal:6379/2",
        "redis://cache.internal:6379/0?socket_timeout=2&health_check_interval=10",
        "rediss://cache.internal:6380/0?ssl_cert_reqs=none",
        "redis://cache.internal:6379?db=3&max_connections=50",
        "unix:///run/redis/redis.sock?db=2&password=x",
    ],
)
def test_redis_urls_that_work_are_taken(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("REDIS_URL", url)
    assert Settings().redis_url == url


@pytest.mark.parametrize(
    "url", ["https://api.openai.com/v1", "http://127.0.0.1:11434/v1", "http://[::1]:8000/v1"]
)
def test_model_base_urls_that_work_are_taken(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", url)
    assert Settings().openai_base_url == url


@pytest.mark.parametrize("value", ["", "   "])
def test_a_blank_data_dir_is_the_default_not_the_working_directory(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    """``DATA_DIR=`` (cleared, as the blank settings of .env.example are) was the working
    directory: the embedded cluster's ``pgdata``, the JWT secret and the outbox went wherever
    the command was started, and the next start elsewhere found none of them. A blank value
    is unset, as every other blank setting is."""
    monkeypatch.setenv("DATA_DIR", value)
    assert Settings().data_dir == Path(".trulybot")

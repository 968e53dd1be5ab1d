"""What an operator sees when a setting is wrong: one line per setting by its name, before
anything starts, and never the values (pydantic's own text quoted the input, secrets included).
In-process: every case is refused before a server, a database or a worker would start."""

from __future__ import annotations

import io
import json
import logging
import re
import secrets
import socket
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from api import cli
from core.config import RATE_LIMIT_SETTINGS, Settings, get_settings
from core.logging import announce, configure_logging
from tests.cli_process import refusal
from tests.conftest import PRODUCTION_SERVICES
from tests.ports import free_port as _free_port


@pytest.fixture(autouse=True)
def _fresh_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.chdir(tmp_path)  # no .env of the checkout
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    for name, value in (("HOST", "127.0.0.1"), ("PORT", "8000"), ("WORKERS", "1")):
        monkeypatch.setenv(name, value)  # serve writes its flags here: restored after each test
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_production_without_its_settings_names_them_and_prints_no_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = secrets.token_urlsafe(32)
    token = "metrics-" + secrets.token_hex(12)
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("JWT_SECRET", secret)
    monkeypatch.setenv("METRICS_TOKEN", token)
    said = refusal(["serve", "--port", "8191"])
    assert said.startswith("trulybot serve: the settings are not valid")
    assert "PUBLIC_BASE_URL" in said
    assert secret[-12:] not in said
    assert token[-12:] not in said
    assert "Traceback" not in said


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("RATE_LIMIT_AUTH", "10/min", "RATE_LIMIT_AUTH: '10/min' is not a rate"),
        ("RATE_LIMIT_IP", "lots", "RATE_LIMIT_IP: 'lots' is not a rate"),
        ("DEFAULT_PLAN", "gold", "DEFAULT_PLAN: Input should be 'free'"),
        ("LOG_LEVEL", "verbose", "LOG_LEVEL: Input should be 'DEBUG'"),
        ("PORT", "abc", "PORT: Input should be a valid integer"),
        ("EMBEDDING_DIMENSIONS", "512", "EMBEDDING_DIMENSIONS must be 384"),
        ("EMBEDDING_PROVIDER", "openai", "EMBEDDING_PROVIDER=openai needs OPENAI_API_KEY"),
        # Before, these started and then failed every request (500s behind green health
        # checks), every chat turn (504s) or every login, or the start-up with a traceback.
        ("TRUSTED_PROXIES", "10.0.0.1, lb.internal", "'lb.internal' is not an IP address"),
        ("TRUSTED_PROXIES", "10.0.0.0/33", "'10.0.0.0/33' is not an IP address or network"),
        ("DB_POOL_SIZE", "0", "DB_POOL_SIZE: Input should be greater than or equal to 1"),
        ("DB_MAX_OVERFLOW", "-1", "DB_MAX_OVERFLOW: Input should be greater than or equal to 0"),
        # A negative history made every continued conversation a 500 (LIMIT -1).
        ("HISTORY_TURNS", "-1", "HISTORY_TURNS: Input should be greater than or equal to 0"),
        ("JWT_ALGORITHM", "none", "JWT_ALGORITHM: Input should be 'HS256', 'HS384' or 'HS512'"),
        ("REDIS_URL", "localhost:6379", "REDIS_URL: must start with redis://"),
        ("DATABASE_URL", "mysql://db/x", "DATABASE_URL: must start with postgresql"),
        # sentry_sdk.init raised BadDsn in the app's start-up: a traceback from every worker.
        ("SENTRY_DSN", "abc", "SENTRY_DSN: must be a Sentry DSN"),
        ("SENTRY_DSN", "https://sentry.example.com/1", "SENTRY_DSN: must be a Sentry DSN"),
        # Every order and verification call failed, after "payments: Razorpay" at start.
        ("RAZORPAY_BASE_URL", "api.razorpay.com", "RAZORPAY_BASE_URL: must start with http"),
    ],
)
def test_a_wrong_setting_is_named_at_start(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, says: str
) -> None:
    """Each of these started before and then answered 500 (a rate, a plan), let every request
    through (RATE_LIMIT_IP) or failed inside the server with a traceback."""
    monkeypatch.setenv(name, value)
    assert says in refusal(["serve"])
    assert says in refusal(["worker"])  # every command reads the settings the same way


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("http://mail", "SMTP_URL: must start with smtp:// or smtps://"),
        ("smtp://:abc", "SMTP_URL: the port must be a number from 1 to 65535"),
        ("smtp://mail.example.com:0", "SMTP_URL: the port must be a number"),
        ("smtps://mail.example.com:99999", "SMTP_URL: the port must be a number"),
        ("smtp://:587", "SMTP_URL: the host is missing"),
        ("smtp://relay:hunter2pw@", "SMTP_URL: the host is missing"),
        ("smtp://mail example.com", "SMTP_URL: it contains a space outside the user name"),
        ("smtp://relay:hunter2pw@mail .example.com:587", "SMTP_URL: it contains a space"),
    ],
)
def test_a_malformed_smtp_url_is_refused_at_start_without_its_password(
    monkeypatch: pytest.MonkeyPatch, value: str, says: str
) -> None:
    """These started (only the scheme was checked), and the first mail, a sign-up's
    verification, failed on the port or went to localhost. The worker is asked (it stops at
    once without REDIS_URL when the settings pass); serve reads the settings the same way."""
    monkeypatch.setenv("SMTP_URL", value)
    said = refusal(["worker"])
    assert said.startswith("trulybot worker: the settings are not valid"), said
    assert says in said
    assert "hunter2pw" not in said
    assert "Traceback" not in said


@pytest.mark.parametrize(
    ("argv", "env", "says"),
    [
        (["worker"], {}, "REDIS_URL is not set"),
        (
            ["migrate"],
            {"DATABASE_URL": "postgresql://trulybot_app:hunter2pw@127.0.0.1:1/trulybot"},
            "MIGRATION_DATABASE_URL (the owner role) is needed to apply migrations",
        ),
        (["eval", "--workspace", "docs"], {}, "--workspace and --questions go together"),
        (["eval", "--set", "docs=no-such.jsonl"], {}, "no such question file: no-such.jsonl"),
    ],
)
def test_every_refusal_names_its_command(
    monkeypatch: pytest.MonkeyPatch, argv: list[str], env: dict[str, str], says: str
) -> None:
    """These said their reason alone ("REDIS_URL is not set: ..."), where every other refusal
    begins "trulybot worker: ": in a deployment's logs, several processes' lines side by side,
    the line did not say which command stopped. Each is refused before anything starts."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    said = refusal(argv)
    assert said.startswith(f"trulybot {argv[0]}: {says}"), said
    assert "hunter2pw" not in said


@pytest.mark.parametrize(
    ("name", "url"),
    [
        ("DATABASE_URL", "postgresql://trulybot_app:hunter2pw@db.internal:{port}/trulybot"),
        ("DATABASE_REPLICA_URL", "postgresql://trulybot_app:hunter2pw@replica:{port}/trulybot"),
        ("MIGRATION_DATABASE_URL", "postgresql://owner:hunter2pw@db.internal:{port}/trulybot"),
        ("REDIS_URL", "redis://:hunter2pw@redis.internal:{port}/0"),
    ],
)
@pytest.mark.parametrize("port", ["abc", "99999", "0"])
def test_a_service_url_with_a_bad_port_is_refused_at_start_without_its_password(
    monkeypatch: pytest.MonkeyPatch, name: str, url: str, port: str
) -> None:
    """A port that is no number was a ValueError traceback out of `trulybot migrate` (its user
    check parses the URL) and "DATABASE_URL: invalid literal for int() with base 10: 'abc'"
    from serve's first connection; one out of range passed the settings and failed later. A
    REDIS_URL's was a traceback of serve's start-up ("Port out of range 0-65535")."""
    monkeypatch.setenv(name, url.format(port=port))
    said = refusal(["worker"])
    assert said.startswith("trulybot worker: the settings are not valid"), said
    assert f"{name}: the port must be a number from 1 to 65535" in said, said
    assert "hunter2pw" not in said


def test_migrate_with_a_port_that_is_no_number_says_so_in_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://trulybot_app:hunter2pw@db.internal:abc/tb")
    said = refusal(["migrate"])
    assert said.startswith("trulybot migrate: the settings are not valid"), said
    assert "DATABASE_URL: the port must be a number from 1 to 65535" in said, said
    assert "hunter2pw" not in said


@pytest.mark.parametrize(
    ("name", "value", "shown"),
    [
        (
            "PUBLIC_BASE_URL",
            "https://admin:hunter2pw@bot.example.com",
            "PUBLIC_BASE_URL 'https://***@bot.example.com' is not valid",
        ),
        (
            "RAZORPAY_CHECKOUT_SCRIPT_URL",
            "https://cdn:hunter2pw@checkout.example.com/v1/checkout.js",
            "RAZORPAY_CHECKOUT_SCRIPT_URL 'https://***@checkout.example.com/v1/checkout.js'",
        ),
        ("PUBLIC_BASE_URL", "admin:hunter2pw@bot.example.com", "PUBLIC_BASE_URL (not shown)"),
    ],
)
def test_a_url_refused_for_its_password_does_not_print_it(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, shown: str
) -> None:
    """The check that refuses a user and password in these URLs quoted them back, to the
    terminal and the deploy logs."""
    monkeypatch.setenv(name, value)
    said = refusal(["worker"])
    assert shown in said, said
    assert "hunter2pw" not in said


@pytest.mark.parametrize(
    "url",
    [
        "smtp://mail.example.com",
        "smtp://relay:p%40ss@mail.example.com:587",
        "smtps://mail.example.com:465",
        "smtp://[::1]:2525",
        "SMTPS://Mail.Example.com:465/",
    ],
)
def test_a_valid_smtp_url_is_accepted_as_the_mailer_reads_it(url: str) -> None:
    from core.mail import MailConfig, SmtpTransport

    settings = Settings(smtp_url=url)
    transport = SmtpTransport(MailConfig.from_settings(settings))
    assert transport.hostname in ("mail.example.com", "::1")
    assert transport.port in (587, 465, 2525)


def test_a_password_with_spaces_starts_and_is_sent_as_written(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Gmail shows an app password as four groups with spaces. The previous release took
    such an SMTP_URL and logged in with it; the start check refused it (a space anywhere) and
    stopped every command (upgrade review F4)."""
    from core.mail import MailConfig, SmtpTransport

    url = "smtp://me%40gmail.com:abcd efgh ijkl mnop@smtp.gmail.com:587"
    monkeypatch.setenv("SMTP_URL", url)
    monkeypatch.delenv("REDIS_URL", raising=False)
    said = refusal(["worker"])  # the settings pass: it stops only for the missing REDIS_URL
    assert "SMTP_URL" not in said, said
    assert "REDIS_URL" in said, said
    transport = SmtpTransport(MailConfig.from_settings(Settings(smtp_url=url)))
    assert (transport.hostname, transport.port) == ("smtp.gmail.com", 587)
    assert (transport.username, transport.password) == ("me@gmail.com", "abcd efgh ijkl mnop")


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (["--port", "99999"], "PORT: Input should be less than or equal to 65535"),
        # 0 is a value, not "unset": refused, not replaced by PORT / WORKERS.
        (["--port", "0"], "PORT: Input should be greater than or equal to 1"),
        (["--workers", "0"], "WORKERS: Input should be greater than or equal to 1"),
    ],
)
def test_serve_flags_are_checked_as_the_settings_are(flags: list[str], says: str) -> None:
    assert says in refusal(["serve", *flags])


def test_a_kept_jwt_secret_others_can_read_stops_serve_with_the_fix(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    kept = data / "jwt-secret"
    kept.write_text(secrets.token_urlsafe(32) + "\n")
    kept.chmod(0o644)
    said = refusal(["serve", "--port", "8191"])
    assert said == f"trulybot serve: {kept} is readable by other users; run: chmod 600 {kept}"


def test_every_command_logs_as_log_json_says(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`trulybot worker` and the other commands logged plain text whatever LOG_JSON said; the
    server's start-up lines were plain text among the JSON ones."""
    monkeypatch.setenv("LOG_JSON", "true")
    monkeypatch.delenv("REDIS_URL", raising=False)
    with pytest.raises(SystemExit):  # the worker needs Redis: refused after logging is set up
        cli.main(["worker"])
    logging.getLogger("rag.knowledge.jobs").warning("document %s ready", "d-1")
    announce(get_settings(), "TrulyBot listening on http://127.0.0.1:8000")
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is JSON
    assert {"event": "document d-1 ready", "logger": "rag.knowledge.jobs"}.items() <= records[
        -2
    ].items()
    assert records[-1]["event"] == "TrulyBot listening on http://127.0.0.1:8000"
    monkeypatch.setenv("LOG_JSON", "false")
    get_settings.cache_clear()
    announce(get_settings(), "TrulyBot listening on http://127.0.0.1:8000")
    # A console line like every other one: its timestamp and level first (it had neither).
    said = capsys.readouterr().out
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z \[info\s*\] TrulyBot listening on"
        r" http://127\.0\.0\.1:8000\s+\[trulybot\.start\]\n",
        said,
    ), said


def test_a_python_warning_is_a_log_line_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """A library's warning at start (platformdirs' RuntimeDirWarning in `make run`) came out as
    two lines of plain text among the JSON ones."""
    monkeypatch.setenv("LOG_JSON", "true")
    get_settings.cache_clear()
    stream = io.StringIO()
    # pytest puts its own warning recorder back after each test: start from it, as a process
    # starts from Python's own.
    logging.captureWarnings(False)
    with warnings.catch_warnings():
        configure_logging(get_settings(), stream=stream)
        warnings.simplefilter("always")
        warnings.warn("no runtime directory, using /tmp", RuntimeWarning, stacklevel=1)
    logging.captureWarnings(False)
    [record] = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    assert record["logger"] == "py.warnings"
    assert record["level"] == "warning"
    assert "no runtime directory, using /tmp" in record["event"]


def test_every_rate_setting_is_checked() -> None:
    """RATE_LIMIT_SETTINGS (checked at start, raised by the benchmarks) names every rate."""
    rates = {
        name
        for name, field in Settings.model_fields.items()
        if name.startswith("rate_limit_") and field.annotation is str
    }
    assert set(RATE_LIMIT_SETTINGS) == rates


@pytest.mark.parametrize(
    ("missing", "says"),
    [
        ("DATABASE_URL", "DATABASE_URL must be set in production"),
        ("SMTP_URL", "SMTP_URL must be set in production"),
    ],
)
def test_production_needs_its_database_and_its_mail_server(
    monkeypatch: pytest.MonkeyPatch, missing: str, says: str
) -> None:
    """Without DATABASE_URL each production replica started a PostgreSQL of its own inside its
    container; without SMTP_URL no owner could confirm an address or reset a password."""
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("JWT_SECRET", secrets.token_urlsafe(32))
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://bot.example.com")
    for name, value in PRODUCTION_SERVICES.items():
        if name.upper() != missing:
            monkeypatch.setenv(name.upper(), value)
    monkeypatch.delenv(missing, raising=False)
    assert says in refusal(["serve"])
    assert says in refusal(["worker"])


def test_migrate_with_only_the_owners_url_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: the embedded cluster was migrated, with exit 0, and the real database kept its
    old schema."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("MIGRATION_DATABASE_URL", "postgresql://owner@db.invalid/trulybot")
    said = refusal(["migrate"])
    assert "MIGRATION_DATABASE_URL is set but DATABASE_URL is not" in said
    assert not (Path("data") / "pgdata").exists()


def test_serve_gives_requests_the_configured_grace_at_shutdown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SIGTERM lets requests under way finish for SHUTDOWN_GRACE_SECONDS (a fixed 10 s cut
    chat turns waiting on the model and downloads on every rolling deploy)."""
    seen: dict[str, object] = {}

    def run_server(config: Any, sock: socket.socket) -> int:
        seen.update(grace=config.timeout_graceful_shutdown, address=sock.getsockname())
        sock.close()
        return 0

    monkeypatch.setattr(cli, "run_server", run_server)
    monkeypatch.setenv("SHUTDOWN_GRACE_SECONDS", "45")
    port = _free_port()
    assert cli.main(["serve", "--port", str(port)]) == 0
    assert seen == {"grace": 45, "address": ("127.0.0.1", port)}
    monkeypatch.setenv("SHUTDOWN_GRACE_SECONDS", "-1")
    get_settings.cache_clear()
    said = refusal(["serve"])
    assert "SHUTDOWN_GRACE_SECONDS: Input should be greater than or equal to 0" in said


def test_production_refuses_several_workers_without_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/deploy.md: "any deployment with more than one process must set REDIS_URL". In
    production it started behind a note at info level, each process with its own limits and
    login lockouts: a client got WORKERS times each limit, a password guesser WORKERS times
    the tries. Refused before the address is bound or the database reached."""
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("JWT_SECRET", secrets.token_urlsafe(32))
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://bot.example.com")
    for name, value in PRODUCTION_SERVICES.items():
        monkeypatch.setenv(name.upper(), value)
    monkeypatch.delenv("REDIS_URL", raising=False)
    port = _free_port()
    said = refusal(["serve", "--workers", "3", "--port", str(port)])
    assert said.startswith("trulybot serve: WORKERS=3 without REDIS_URL"), said
    assert "3 times each limit" in said
    assert said.endswith("set REDIS_URL, or WORKERS=1"), said
    with socket.create_server(("127.0.0.1", port)):
        pass  # not left bound


def test_several_workers_without_redis_elsewhere_is_a_warning(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """On a developer's own machine it still starts, said as a warning (it was a note at info
    level): stopped here at the next step, an address already in use."""
    monkeypatch.setenv("LOG_JSON", "true")
    monkeypatch.delenv("REDIS_URL", raising=False)
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        said = refusal(["serve", "--workers", "2", "--port", str(port)])
    assert "is in use" in said, said
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "{" in line]
    warned = [r for r in records if "WORKERS=2 without REDIS_URL" in r["event"]]
    assert [r["level"] for r in warned] == ["warning"], records

"""Settings an operator writes in the first hour: numbers with no bounds were accepted at start,
then every upload failed or a command printed a traceback; a libpq-style DATABASE_URL
(``?sslmode=require``, what managed PostgreSQL providers hand out) was a TypeError traceback;
production took a plaintext PUBLIC_BASE_URL. Each is now one line at start, by its name."""

from __future__ import annotations

import argparse
import io
import logging
import ssl
import sys
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import pytest
from pydantic import ValidationError
from sqlalchemy import make_url

from api.commands.eval import _sets
from core.config import get_settings
from core.db_url import connect_options
from core.logging import QUIET_LOGGERS, configure_logging
from core.urls import base_url, local_base_url
from tests.cli_process import refusal
from tests.conftest import make_settings


@pytest.fixture(autouse=True)
def _fresh_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.chdir(tmp_path)  # no .env of the checkout
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ENVIRONMENT", "test")
    monkeypatch.setenv("EMBEDDING_PROVIDER", "hash")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_production_refuses_a_plaintext_public_base_url() -> None:
    production = {
        "environment": "production",
        "jwt_secret": "Q" + uuid4().hex + uuid4().hex,
        "database_url": "postgresql://app:pw@db.internal/trulybot",
    }
    with pytest.raises(ValidationError, match="PUBLIC_BASE_URL must be an https:// URL"):
        make_settings(**production, public_base_url="http://bot.example.com")
    assert make_settings(**production, public_base_url="https://bot.example.com")
    # Development keeps http (a local run has no certificate).
    assert make_settings(public_base_url="http://localhost:8000")


@pytest.mark.parametrize(
    ("settings", "says"),
    [
        # Every upload ended failed: chunking refused an overlap as long as the chunk.
        (
            {"CHUNK_TOKENS": "100", "CHUNK_OVERLAP_TOKENS": "100"},
            "CHUNK_OVERLAP_TOKENS (100) must be smaller than CHUNK_TOKENS (100)",
        ),
        # A 44-line traceback from every command that builds the runtime.
        ({"EMBEDDING_BATCH_SIZE": "0"}, "EMBEDDING_BATCH_SIZE: Input should be greater than"),
        # Redis refused `SET ... ex=0`, which the cache took for Redis being down.
        ({"CACHE_TTL_SECONDS": "0"}, "CACHE_TTL_SECONDS: Input should be greater than"),
        ({"MAX_PAGE_SIZE": "0"}, "MAX_PAGE_SIZE: Input should be greater than"),
        ({"RETRIEVAL_K": "0"}, "RETRIEVAL_K: Input should be greater than"),
        ({"MAX_UPLOAD_BYTES": "-1"}, "MAX_UPLOAD_BYTES: Input should be greater than"),
        ({"LLM_MAX_TOKENS": "0"}, "LLM_MAX_TOKENS: Input should be greater than"),
        ({"FETCH_MAX_REDIRECTS": "-1"}, "FETCH_MAX_REDIRECTS: Input should be greater than"),
        ({"LOGIN_IP_MAX_FAILURES": "-1"}, "LOGIN_IP_MAX_FAILURES: Input should be greater"),
        # A cosine above 1: no FAQ variant or cached question would ever match, silently.
        ({"FAQ_SIMILARITY_THRESHOLD": "5"}, "FAQ_SIMILARITY_THRESHOLD: Input should be less"),
        ({"SEMANTIC_CACHE_SIMILARITY": "1.5"}, "SEMANTIC_CACHE_SIMILARITY: Input should be less"),
        ({"MAIL_MAX_ATTEMPTS": "100000"}, "MAIL_MAX_ATTEMPTS: Input should be less"),
        # PostgreSQL takes at most 2147483647 ms: every connection (or the migration's
        # SET lock_timeout) was refused, after "listening on".
        ({"DB_STATEMENT_TIMEOUT_MS": "2147483648"}, "DB_STATEMENT_TIMEOUT_MS: Input should be"),
        ({"MIGRATION_LOCK_TIMEOUT_MS": "99999999999"}, "MIGRATION_LOCK_TIMEOUT_MS: Input should"),
        # Sent to the model as is: NaN is not JSON, and OpenAI refuses outside 0 to 2 (every
        # chat turn ended in the extractive fallback).
        ({"LLM_TEMPERATURE": "nan"}, "LLM_TEMPERATURE: Input should be"),
        ({"LLM_TEMPERATURE": "-1"}, "LLM_TEMPERATURE: Input should be greater"),
        ({"LLM_TEMPERATURE": "5"}, "LLM_TEMPERATURE: Input should be less"),
        # inf or 1e20 s: socket.settimeout and timedelta raise OverflowError at first use.
        ({"SMTP_TIMEOUT_SECONDS": "inf"}, "SMTP_TIMEOUT_SECONDS: Input should be"),
        ({"FETCH_TIMEOUT_SECONDS": "1e20"}, "FETCH_TIMEOUT_SECONDS: Input should be less"),
        ({"PARSE_TIMEOUT_SECONDS": "inf"}, "PARSE_TIMEOUT_SECONDS: Input should be"),
        ({"LLM_TIMEOUT_SECONDS": "inf"}, "LLM_TIMEOUT_SECONDS: Input should be"),
        ({"MAIL_RETRY_SECONDS": "inf"}, "MAIL_RETRY_SECONDS: Input should be"),
        ({"LOGIN_LOCKOUT_SECONDS": "99999999999999999999"}, "LOGIN_LOCKOUT_SECONDS: Input"),
        ({"LOGIN_SLOWDOWN_MAX_SECONDS": "99999999999999"}, "LOGIN_SLOWDOWN_MAX_SECONDS: Input"),
    ],
)
def test_a_number_out_of_bounds_is_one_line_by_its_name(
    monkeypatch: pytest.MonkeyPatch, settings: dict[str, str], says: str
) -> None:
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    said = refusal(["reindex", "--workspace", "nope"])
    assert said.startswith("trulybot reindex: the settings are not valid"), said
    assert says in said
    assert "Traceback" not in said


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("postgresql://app:pw@db/x?sslmode=sometimes", "sslmode='sometimes' is not one of"),
        ("postgresql://app:pw@db/x?ssl_mode=require", "unknown parameter 'ssl_mode' (accepted:"),
        ("postgresql://app:pw@db/x?connect_timeout=soon", "connect_timeout must be a number"),
        ("postgresql://app:pw@db/x?sslmode=verify-ca&sslrootcert=/no/ca.pem", "no such file"),
    ],
)
def test_a_database_url_parameter_the_driver_cannot_use_is_refused_at_start(
    monkeypatch: pytest.MonkeyPatch, url: str, says: str
) -> None:
    monkeypatch.setenv("DATABASE_URL", url)
    said = refusal(["migrate"])
    assert "DATABASE_URL: " in said, said
    assert says in said, said
    assert "pw@" not in said


def test_a_password_holding_a_question_mark_is_never_quoted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An unencoded "?" in the password starts the URL's query there: the refusal named the
    rest of the password and the host as an unknown parameter ('ss3cret@db/x')."""
    for password in ("pa?ss3cret", "pa?ss3cret=1", "pa?sslmode=require&ss3cret"):
        monkeypatch.setenv("DATABASE_URL", f"postgresql://app:{password}@db/x")
        said = refusal(["migrate"])
        assert "DATABASE_URL: " in said, said
        assert "ss3cret" not in said, said
        assert "percent-encoded (%3F)" in said, said


@pytest.mark.parametrize(
    ("url", "port"),
    [
        ("postgresql://app:pw@[::1]:5433/x", 5433),
        ("postgresql://app:pw@db/x", None),
        ("postgresql://app@/x?host=/run/postgresql", None),
        ("postgresql://app:p%3A%40w@db:5433/x", 5433),
        ("postgresql://app:p:w@db:5433/x", 5433),
        # Unencoded in the password (openssl rand -base64 writes "/"): SQLAlchemy's parser,
        # which the engine connects with, takes the password whole; urlsplit ends the host at
        # the "/" or "#" and reads "pa" as its port.
        ("postgresql://app:pa/ss@db:5433/x", 5433),
        ("postgresql://app:pa#ss@db:5433/x", 5433),
        ("postgresql://app:pw@/x?host=db1:5432&host=db2:5433", None),
    ],
)
def test_a_database_url_the_driver_reads_is_accepted(url: str, port: int | None) -> None:
    """The port check of each database URL reads the port where the engine does: a password
    with an unencoded "/" connected before the check and was refused by it ("the port must be
    a number from 1 to 65535")."""
    assert make_settings(database_url=url).database_url == url
    assert make_url(url).port == port  # what the engine connects to


def test_several_hosts_before_the_path_are_refused_with_the_form_that_works(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """libpq's list of hosts (host1:5432,host2:5433) is read by no parser the engine uses (a
    ValueError at its creation); the refusal said "the port must be a number from 1 to 65535",
    where the hosts go in the query, which the engine reads."""
    monkeypatch.setenv("DATABASE_URL", "postgresql://app:pw@db1:5432,db2:5433/x")
    said = refusal(["migrate"])
    assert "DATABASE_URL: several hosts go in the query" in said, said
    assert "?host=db1:5432&host=db2:5433" in said, said
    assert "pw@" not in said


def test_libpq_parameters_become_the_drivers_connect_arguments() -> None:
    url, options = connect_options(
        "postgresql://app:pw@db:5432/x?sslmode=require&connect_timeout=5"
    )
    assert (url, options) == ("postgresql://app:pw@db:5432/x", {"ssl": "require", "timeout": 5.0})
    url, options = connect_options("postgresql://app@/x?host=/run/pg&application_name=tb")
    assert url == "postgresql://app@/x?host=%2Frun%2Fpg"
    assert options == {"server_settings": {"application_name": "tb"}}
    # A CA of its own: a context that checks the server's certificate against it.
    context_url = f"postgresql://app@db/x?sslmode=verify-full&sslrootcert={_system_ca()}"
    _, options = connect_options(context_url)
    context = options["ssl"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname


def _system_ca() -> str:
    paths = ssl.get_default_verify_paths()
    for candidate in (paths.cafile, paths.openssl_cafile, "/etc/ssl/certs/ca-certificates.crt"):
        if candidate and Path(candidate).is_file():
            return candidate
    pytest.skip("no CA bundle on this machine")


def test_links_name_an_address_a_browser_can_open() -> None:
    assert base_url(make_settings(host="::1", port=8000)) == "http://[::1]:8000"
    assert base_url(make_settings(host="0.0.0.0", port=8000)) == "http://localhost:8000"
    assert local_base_url(make_settings(host="127.0.0.1", port=81)) == "http://127.0.0.1:81"
    public = make_settings(public_base_url="https://bot.example.com/", host="::1")
    assert base_url(public) == "https://bot.example.com"


def test_every_process_keeps_initdb_and_the_migrations_quiet() -> None:
    """`serve` with WORKERS over 1 configures logging in each worker process, which never ran
    the command's ``main``: pgserver's and alembic's lines (about 60 at a first start) came out
    at INFO there."""
    for name in ("pgserver", "alembic"):
        logging.getLogger(name).setLevel(logging.NOTSET)  # a fresh process's
    configure_logging(make_settings(log_level="INFO"))
    assert {"pgserver", "alembic"} <= set(QUIET_LOGGERS)
    for name in ("pgserver", "alembic"):
        assert logging.getLogger(name).getEffectiveLevel() == logging.WARNING


def test_log_lines_go_to_the_current_stdout_not_a_closed_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The handler kept the ``sys.stdout`` it was made with. Under pytest that was one test's
    capture file: closed when the test ended, then written to by the next test's threads, whose
    "--- Logging error ---" traceback raced an ``ast.parse`` in the main thread and failed CI."""
    first = io.StringIO()
    monkeypatch.setattr(sys, "stdout", first)
    configure_logging(make_settings(log_level="INFO"))
    first.close()
    second, errors = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stdout", second)
    monkeypatch.setattr(sys, "stderr", errors)
    line = f"after-close-{uuid4().hex}"
    logging.getLogger("trulybot.test").warning(line)
    assert line in second.getvalue()
    assert "Logging error" not in errors.getvalue()


def test_eval_on_an_empty_question_file_is_refused(tmp_path: Path) -> None:
    """It printed a table of zeros and exited 0: read as a broken index."""
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(SystemExit, match="no questions"):
        _sets(argparse.Namespace(set=None, workspace="acme", questions=str(empty), mode="all"))

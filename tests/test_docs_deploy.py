"""docs/deploy.md as an operator reads it, against the code and the settings' defaults.

The connection budget was stated three ways, none of them right: `replicas x (DB_POOL_SIZE +
DB_MAX_OVERFLOW + 1)` plus one connection per worker, `replicas x (DB_POOL_SIZE +
DB_MAX_OVERFLOW) + workers x 5`, and PgBouncer's `replicas x (DB_POOL_SIZE + DB_MAX_OVERFLOW) +
workers`. A worker opens a pool as large as an API process does, `/readyz`'s probe has a pool of
two, and a replica runs `WORKERS` processes. It is now one formula in one section; these tests
hold its per-process figures to the engines the code builds (no connection is made)."""

from __future__ import annotations

import re
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text

from api.cli import build_parser
from api.middleware import _SAFE_REQUEST_ID
from api.routers import health
from api.runtime import app_database
from core.config import Settings
from core.db import Database
from tests.conftest import ROOT, make_settings

DEPLOY = (ROOT / "docs" / "deploy.md").read_text()
URL = "postgresql://trulybot_app:secret@127.0.0.1:1/trulybot"


def budget_section() -> str:
    start = DEPLOY.index("### The connection budget\n")
    return DEPLOY[start : DEPLOY.index("\n### ", start + 1)]


def connections(engine: object) -> int:
    pool = engine.pool  # type: ignore[attr-defined]
    return int(pool.size() + pool._max_overflow)


def default(name: str) -> int:
    value = Settings.model_fields[name].default
    assert isinstance(value, int)
    return value


@pytest.mark.asyncio
async def test_an_api_process_opens_what_the_budget_says() -> None:
    settings = make_settings(
        db_pool_size=default("db_pool_size"), db_max_overflow=default("db_max_overflow")
    )
    db = app_database(URL, settings, None)
    assert db.probe_engine is not None
    probe = db.probe_engine()
    try:
        opened = connections(db.engine) + connections(probe)
    finally:
        await probe.dispose()
        await db.dispose()
    row = re.search(
        r"^\| API process \| `DB_POOL_SIZE \+ DB_MAX_OVERFLOW \+ (\d+)`.*\| (\d+) \|$",
        budget_section(),
        re.M,
    )
    assert row, "the budget's table has a row for an API process"
    extra, total = int(row.group(1)), int(row.group(2))
    assert connections(db.engine) + extra == opened
    assert total == opened


@pytest.mark.asyncio
async def test_a_worker_opens_what_the_budget_says() -> None:
    """A worker builds the same pool (api.runtime.app_database) and, with
    MIGRATION_DATABASE_URL, one owner connection per index build, at most one per job slot."""
    concurrency = build_parser().parse_args(["worker"]).concurrency
    pool = default("db_pool_size") + default("db_max_overflow")
    row = re.search(
        r"^\| worker \| `DB_POOL_SIZE \+ DB_MAX_OVERFLOW \+ C`.*default (\d+);.*\| (\d+) \|$",
        budget_section(),
        re.M,
    )
    assert row, "the budget's table has a row for a worker"
    assert int(row.group(1)) == concurrency
    assert int(row.group(2)) == pool + concurrency


def test_the_budget_is_stated_once() -> None:
    """Every other place names the section instead of a formula of its own."""
    section = budget_section()
    outside = DEPLOY.replace(section, "")
    assert "DB_POOL_SIZE + DB_MAX_OVERFLOW" not in outside
    assert section.count("max_connections - superuser_reserved_connections") == 1
    formula = re.search(r"^ +>= (.+)$", section, re.M)
    assert formula, "the formula is a line of its own"
    assert formula.group(1) == (
        "R x WORKERS x (DB_POOL_SIZE + DB_MAX_OVERFLOW + 2)"
        " + W x (DB_POOL_SIZE + DB_MAX_OVERFLOW + C) + 10"
    )


def test_the_worked_example_adds_up() -> None:
    """2 replicas of one process and 1 worker, the defaults, against max_connections 100."""
    pool = default("db_pool_size") + default("db_max_overflow")
    concurrency = build_parser().parse_args(["worker"]).concurrency
    api, worker = pool + 2, pool + concurrency
    small, large = 2 * api + worker + 10, 4 * api + 2 * worker + 10
    assert f"2 x {api} + {worker} + 10 = {small}" in budget_section()
    assert f"2 workers ({large})" in budget_section()
    assert small <= 100 - 3 < large


HAPROXY_CFG = ROOT / "deploy" / "haproxy.cfg"


def haproxy_lines() -> list[str]:
    return [line.strip() for line in HAPROXY_CFG.read_text().splitlines()]


def seconds(directive: str) -> float:
    (value,) = [line.split()[-1] for line in haproxy_lines() if line.startswith(directive + " ")]
    assert value.endswith("s"), f"{directive} in seconds"
    return float(value[:-1])


def test_the_haproxy_config_is_valid(tmp_path: Path) -> None:
    """HAProxy reads the shipped file as it is, but for the certificate's path (one process:
    `haproxy -c` reads the config and the certificate and exits)."""
    pytest.importorskip("cryptography")
    from tests.test_mail_tls import _with_cryptography

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    _with_cryptography(cert, key)
    bundle = tmp_path / "trulybot.pem"
    bundle.write_bytes(cert.read_bytes() + key.read_bytes())
    config = HAPROXY_CFG.read_text()
    assert config.count("crt /etc/haproxy/certs/trulybot.pem ") == 1
    checked = tmp_path / "haproxy.cfg"
    checked.write_text(config.replace("/etc/haproxy/certs/trulybot.pem", str(bundle)))
    haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"  # `make system-deps`
    run = subprocess.run(
        [haproxy, "-c", "-f", str(checked)], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_the_haproxy_config_fits_the_app() -> None:
    """Its timeouts outlast a request (a streamed answer is not cut), its readiness check has
    the time /readyz may take, and the request id it sets is one the app keeps."""
    request = Settings.model_fields["request_timeout_seconds"].default
    assert seconds("timeout server") > request
    assert seconds("timeout client") > request
    assert seconds("timeout check") > 1
    lines = haproxy_lines()
    assert "http-check send meth GET uri /readyz ver HTTP/1.1 hdr Host bot.example.com" in lines
    assert "/readyz" in {route.path for route in health.router.routes}  # type: ignore[attr-defined]
    assert "unique-id-format %[uuid()]" in lines
    assert _SAFE_REQUEST_ID.fullmatch(str(uuid.uuid4()))
    assert "http-request deny deny_status 404 if { path /metrics }" in lines
    assert not [line for line in lines if line.startswith(("compression", "option http-buffer"))]
    assert "(../deploy/haproxy.cfg)" in DEPLOY


OWNER_WORDS = re.compile(r"\bas\s+the\s+(database\s+)?owner\b", re.I)
SQL_START = re.compile(r"^\s*(SELECT|UPDATE|DELETE|INSERT|WITH)\b", re.I)
READS = re.compile(r"\b(?:FROM|JOIN)\s+([a-z_][a-z0-9_]*)", re.I)
WRITES = re.compile(r"\b(?:UPDATE|DELETE\s+FROM|INSERT\s+INTO)\s+([a-z_][a-z0-9_]*)", re.I)


def owner_sql(text: str) -> list[tuple[str, str]]:
    """(snippet, what precedes it) for the SQL a doc says to run as the owner: fenced `sql`
    blocks with "as the owner" in a comment or the line before, and inline code starting with a
    statement in a sentence saying so."""
    found = []
    for match in re.finditer(r"```sql\n(.*?)```", text, re.S):
        before = text[max(0, match.start() - 300) : match.start()].split("\n\n")[-1]
        if OWNER_WORDS.search(match.group(1)) or OWNER_WORDS.search(before):
            found.append((match.group(1), before))
    for paragraph in re.split(r"\n\s*\n", re.sub(r"```.*?```", "", text, flags=re.S)):
        if OWNER_WORDS.search(paragraph):
            for code in re.findall(r"`([^`]+)`", paragraph):
                if SQL_START.match(code):
                    found.append((code, paragraph))
    return found


@pytest.mark.asyncio
async def test_sql_the_docs_run_as_the_owner_can_see_its_rows(owner_db: Database) -> None:
    """The owner role is bound by every forced row-level security policy: a SELECT of a tenant
    table as the owner answers no row at all, with no error (docs/billing.md told operators to
    look for `charged_after_cancel` charges that way). SQL said to run as the owner names only
    tables the owner may read (a policy of its own: `workspaces`' `owner_reads`) or lifts FORCE
    for its transaction first, as the audit log's purge does. Its policy on `workspaces` is for
    reading: billing.md's `UPDATE workspaces SET fallback_plan = ...` "by hand" changed no row.
    """
    async with owner_db.transaction() as session:
        forced = set(
            (
                await session.execute(
                    text(
                        "SELECT relname FROM pg_class WHERE relforcerowsecurity"
                        " AND relnamespace = 'public'::regnamespace"
                    )
                )
            ).scalars()
        )
        policies = (
            await session.execute(
                text(
                    "SELECT c.relname, p.polcmd FROM pg_policy p JOIN pg_class c"
                    " ON c.oid = p.polrelid WHERE NOT 0 = ANY (p.polroles)"
                )
            )
        ).all()
    # The owner's own policies (`owner_reads` on workspaces: SELECT only).
    owner_reads = {table for table, command in policies if command in ("r", "*")}
    owner_writes = {table for table, command in policies if command == "*"}
    assert {"billing_events", "subscriptions", "audit_log"} <= forced
    wrong = []
    for path in [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]:
        for sql, _ in owner_sql(path.read_text()):
            writes = set(WRITES.findall(sql))
            reads = set(READS.findall(sql)) - writes
            closed = (writes & (forced - owner_writes)) | (reads & (forced - owner_reads))
            for table in closed:
                if f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY" not in sql:
                    wrong.append(f"{path.name}: {table} in {sql[:80]!r}")
    assert not wrong, wrong

"""docs/deploy.md as an operator reads it, against the code and the settings' defaults.

The connection budget was stated three ways, none of them right: `replicas x (DB_POOL_SIZE +
DB_MAX_OVERFLOW + 1)` plus one connection per worker, `replicas x (DB_POOL_SIZE +
DB_MAX_OVERFLOW) + workers x 5`, and PgBouncer's `replicas x (DB_POOL_SIZE + DB_MAX_OVERFLOW) +
workers`. A worker opens a pool as large as an API process does, `/readyz`'s probe has a pool of
two, and a replica runs `WORKERS` processes. It is now one formula in one section; these tests
hold its per-process figures to the engines the code builds (no connection is made)."""

from __future__ import annotations

import re

import pytest

from api.cli import build_parser
from api.runtime import app_database
from core.config import Settings
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

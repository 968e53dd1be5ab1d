"""0042 on a large ``leads`` table: the check is validated and the unique index built while
writes go on (outside the revision's transaction: ``VALIDATE`` takes SHARE UPDATE EXCLUSIVE, the
index is built ``CONCURRENTLY``). A reviewer's finding: all of it ran in one transaction, so
the ACCESS EXCLUSIVE lock ``ADD CONSTRAINT`` takes was held through the validating scan and the
index build (which itself takes SHARE): every read and write of ``leads`` (each lead a chat or
a form makes, the dashboard's list) waited for two passes over the table, whatever the
revision's ``NOT VALID`` promised. Read from the SQL the revision runs (alembic's ``--sql``)."""

from __future__ import annotations

import io
import re

import pytest
from alembic import command

from core.migrate import alembic_config


def _sql(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DATABASE_URL", "postgresql://trulybot@localhost/trulybot")
    config = alembic_config()
    config.output_buffer = io.StringIO()
    command.upgrade(config, "0041:0042", sql=True)
    return config.output_buffer.getvalue()


def _in_transactions(sql: str) -> list[str]:
    """The statements run inside a transaction (between a BEGIN and its COMMIT)."""
    inside, found = False, []
    for statement in (s.strip() for s in sql.split(";")):
        body = "\n".join(
            line for line in statement.splitlines() if not line.startswith("--")
        ).strip()
        if body == "BEGIN":
            inside = True
        elif body == "COMMIT":
            inside = False
        elif inside and body:
            found.append(body)
    return found


def test_the_check_is_validated_and_the_index_built_outside_a_transaction(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sql = _sql(monkeypatch)
    assert re.search(r"CREATE UNIQUE INDEX CONCURRENTLY\s+uq_leads_workspace_phone", sql), sql
    held = [
        statement
        for statement in _in_transactions(sql)
        if "VALIDATE CONSTRAINT" in statement or "CREATE UNIQUE INDEX" in statement
    ]
    assert held == [], sql

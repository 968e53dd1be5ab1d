"""docs/scaling.md stays true: what blocks sharding by ``workspace_id`` (Citus) is read from the
catalog of the migrated database and must equal the list in the doc's marked sections.

A table with a ``workspace_id`` column would be distributed by it; every other table would be a
reference table (copied to every node). Citus refuses, for a distributed table, a primary key or
unique constraint/index that does not contain the distribution column, and a foreign key to another
distributed table unless it joins on the distribution column; it refuses a foreign key from a
reference table to a distributed one.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import Database
from tests.conftest import ROOT

DOC = ROOT / "docs" / "scaling.md"
DISTRIBUTION_COLUMN = "workspace_id"
LOCAL_TABLES = {"alembic_version"}  # the migration bookkeeping stays on the coordinator

TABLES_SQL = """
SELECT c.relname,
       EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid
               AND a.attname = :col AND NOT a.attisdropped) AS distributed
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
ORDER BY c.relname
"""

# Primary keys, unique constraints, and unique indexes that back no constraint; the key columns
# by name (an expression column has attnum 0 and so no name: it never is the distribution column).
UNIQUE_SQL = """
SELECT t.relname, i.relname AS name,
       coalesce(k.contype::text, 'i') AS kind,
       array(SELECT coalesce(a.attname, 'expr') FROM unnest(x.indkey) WITH ORDINALITY u(num, pos)
             LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = u.num
             ORDER BY u.pos) AS columns
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_class t ON t.oid = x.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
LEFT JOIN pg_constraint k ON k.conindid = x.indexrelid AND k.contype IN ('p', 'u', 'x')
WHERE n.nspname = 'public' AND x.indisunique
"""

FOREIGN_KEYS_SQL = """
SELECT t.relname, k.conname, r.relname AS referenced,
       array(SELECT a.attname FROM unnest(k.conkey) WITH ORDINALITY u(num, pos)
             JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.num
             ORDER BY u.pos) AS columns,
       array(SELECT a.attname FROM unnest(k.confkey) WITH ORDINALITY u(num, pos)
             JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.num
             ORDER BY u.pos) AS referenced_columns
FROM pg_constraint k
JOIN pg_class t ON t.oid = k.conrelid
JOIN pg_class r ON r.oid = k.confrelid
WHERE k.contype = 'f' AND k.connamespace = 'public'::regnamespace
"""

UNIQUE = "unique without workspace_id"
FOREIGN = "foreign key without workspace_id"
FROM_REFERENCE = "foreign key from a reference table"


@dataclass(frozen=True, order=True)
class Blocker:
    kind: str
    table: str
    constraint: str
    columns: str


async def _catalog(owner_db: Database) -> tuple[set[str], set[str], list[Blocker]]:
    async with owner_db.transaction() as session:
        return await _catalog_in(session)


async def _catalog_in(session: AsyncSession) -> tuple[set[str], set[str], list[Blocker]]:
    tables = (await session.execute(text(TABLES_SQL), {"col": DISTRIBUTION_COLUMN})).all()
    uniques = (await session.execute(text(UNIQUE_SQL))).all()
    foreign_keys = (await session.execute(text(FOREIGN_KEYS_SQL))).all()
    distributed = {name for name, dist in tables if dist}
    reference = {name for name, dist in tables if not dist} - LOCAL_TABLES
    blockers = [
        Blocker(UNIQUE, table, name, ", ".join(columns))
        for table, name, _kind, columns in uniques
        if table in distributed and DISTRIBUTION_COLUMN not in columns
    ]
    for table, name, referenced, columns, referenced_columns in foreign_keys:
        shown = f"{', '.join(columns)} -> {referenced}({', '.join(referenced_columns)})"
        if table in reference and referenced in distributed:
            blockers.append(Blocker(FROM_REFERENCE, table, name, shown))
        elif table in distributed and referenced in distributed:
            # Co-located only when the distribution columns are joined to each other.
            pairs = set(zip(columns, referenced_columns, strict=True))
            if (DISTRIBUTION_COLUMN, DISTRIBUTION_COLUMN) not in pairs:
                blockers.append(Blocker(FOREIGN, table, name, shown))
    return distributed, reference, sorted(blockers)


def _section(name: str) -> str:
    found = re.search(
        rf"<!-- {name}:start -->\n(.*?)<!-- {name}:end -->", DOC.read_text(), re.DOTALL
    )
    assert found, f"docs/scaling.md has no <!-- {name}:start/end --> section"
    return found.group(1)


def _doc_tables(kind: str) -> set[str]:
    """The ``- distributed: a, b`` / ``- reference: c, d`` lines of the tables section."""
    for line in _section("citus-tables").splitlines():
        if line.startswith(f"- {kind}:"):
            return {name.strip(" `.") for name in line.split(":", 1)[1].split(",")}
    raise AssertionError(f"docs/scaling.md lists no {kind} tables")


def _doc_blockers() -> list[Blocker]:
    rows = []
    for line in _section("citus-blockers").splitlines():
        cells = [cell.strip().strip("`") for cell in line.strip().strip("|").split("|")]
        if len(cells) != 4 or cells[0] in ("kind", "") or set(cells[0]) <= {"-"}:
            continue
        rows.append(Blocker(*cells))
    return sorted(rows)


def blockers_markdown(blockers: list[Blocker]) -> str:
    """The doc's table, as the test expects it (printed by the failure message to copy)."""
    lines = ["| kind | table | constraint | columns |", "|---|---|---|---|"]
    lines += [f"| {b.kind} | `{b.table}` | `{b.constraint}` | `{b.columns}` |" for b in blockers]
    return "\n".join(lines)


async def test_the_doc_names_every_table_as_distributed_or_reference(
    owner_db: Database,
) -> None:
    distributed, reference, _ = await _catalog(owner_db)
    assert len(distributed) >= 20
    assert "chunks" in distributed
    assert {"workspaces", "users"} <= reference
    assert _doc_tables("distributed") == distributed
    assert _doc_tables("reference") == reference


async def test_the_doc_lists_exactly_the_blockers_the_catalog_shows(owner_db: Database) -> None:
    _, _, blockers = await _catalog(owner_db)
    # The checks find what they look for: today's schema has each kind but the last.
    assert Blocker(UNIQUE, "chunks", "chunks_pkey", "id") in blockers
    assert any(b.kind == FOREIGN and b.constraint == "chunks_document_id_fkey" for b in blockers)
    documented = _doc_blockers()
    assert documented == blockers, "update docs/scaling.md:\n" + blockers_markdown(blockers)


async def test_a_foreign_key_from_a_reference_table_is_found(owner_db: Database) -> None:
    """The third check on a schema that has one: a reference table pointing into a tenant table."""
    probe_table = f"citus_probe_{uuid.uuid4().hex[:12]}"
    async with owner_db.transaction() as session:  # created, read and dropped in one transaction
        await session.execute(
            text(
                f"CREATE TABLE {probe_table} (id int PRIMARY KEY,"
                " workspace_ref uuid REFERENCES workspaces(id),"
                " chunk_id uuid REFERENCES chunks(id))"
            )
        )
        _, reference, blockers = await _catalog_in(session)
        await session.execute(text(f"DROP TABLE {probe_table}"))
    assert probe_table in reference
    probe = [b for b in blockers if b.table == probe_table]
    assert [(b.kind, b.columns) for b in probe] == [(FROM_REFERENCE, "chunk_id -> chunks(id)")]

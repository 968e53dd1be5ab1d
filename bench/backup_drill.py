"""Backup and restore drill: ``pg_dump`` of a primary while owners and visitors use it, restored
into a fresh cluster that ``trulybot serve`` then serves, with RLS intact and the same row counts.

    python -m bench.backup_drill --seconds 20 [--write]

The primary is an embedded cluster (pgserver) of its own under ``--data-dir``, loaded through a
``trulybot serve`` (bench.topology_load: sign-ups, uploads, widget chat). While the load runs the
drill opens a repeatable-read transaction, exports its snapshot, counts every table's rows in it
and runs ``pg_dump --snapshot`` on that snapshot as the backup role (BYPASSRLS, SELECT only,
as docs/deploy.md sets it up): the dump and the counts are the same instant,
whose time is the recovery point. The dump is restored (``pg_restore``) into a new cluster (a new
data directory), ``trulybot serve`` starts on it, and the drill checks: the app role neither
superuser nor BYPASSRLS, the same policies and forced RLS on every tenant table, a cross-tenant
read (one tenant's context, another's rows) returning 0 rows while its own returns them, an
owner signing in and listing only their documents over HTTP, and each table's row count equal to
the snapshot's. pgserver's own binaries (next to its ``postgres``) do the dump and the restore.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench.chat_servers import APP_ROLE, fake_reply, server_env, start_servers, stop_servers
from bench.common import ROOT, Table, add_write_options, write_section, writes_docs
from bench.topology_checks import plain
from bench.topology_load import PASSWORD, Tenant, drive, new_tenant

DATABASE = "trulybot"
BACKUP_ROLE = "trulybot_backup"
"""The role the dump runs as, set up as docs/deploy.md ("Backups and restores") says: BYPASSRLS,
SELECT only. The owner cannot dump: forced row-level security binds it."""
BACKUP_ROLE_CREATE = (
    "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'trulybot_backup') THEN"
    " CREATE ROLE trulybot_backup LOGIN NOSUPERUSER BYPASSRLS NOCREATEDB NOCREATEROLE;"
    " END IF; END $$"
)
BACKUP_ROLE_GRANTS = (
    f"GRANT USAGE ON SCHEMA public TO {BACKUP_ROLE}",
    f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {BACKUP_ROLE}",
    f"GRANT SELECT ON ALL SEQUENCES IN SCHEMA public TO {BACKUP_ROLE}",
)
TABLES_SQL = (
    "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
    " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY 1"
)
TENANT_TABLES_SQL = (
    "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity FROM pg_class c"
    " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'"
    " AND c.relkind IN ('r', 'p') AND EXISTS (SELECT 1 FROM pg_attribute a"
    " WHERE a.attrelid = c.oid AND a.attname = 'workspace_id' AND NOT a.attisdropped)"
    " ORDER BY 1"
)
POLICIES_SQL = (
    "SELECT tablename, policyname, cmd, qual, with_check FROM pg_policies"
    " WHERE schemaname = 'public' ORDER BY 1, 2"
)


def pg_bin(name: str) -> str:
    """One of pgserver's PostgreSQL programs (the same version as the cluster)."""
    from pgserver._commands import POSTGRES_BIN_PATH

    return str(Path(POSTGRES_BIN_PATH) / name)


@dataclass
class Cluster:
    handle: Any
    socket_dir: str

    @property
    def owner_url(self) -> str:
        return f"postgresql+asyncpg://postgres@/{DATABASE}?host={self.socket_dir}"

    @property
    def app_url(self) -> str:
        return f"postgresql+asyncpg://{APP_ROLE}@/{DATABASE}?host={self.socket_dir}"


async def fresh_cluster(pgdata: Path, *, migrate_it: bool) -> Cluster:
    """A new cluster in ``pgdata`` (removed first), its database, the app role and the backup
    role; migrated when asked (the restore brings the schema itself, and the grants)."""
    from core import migrate
    from core.embedded import ensure_database, start_embedded

    if pgdata.exists():  # noqa: ASYNC240 - setup, before any load
        from tests.clusters import stop_clusters

        stop_clusters(pgdata)
        shutil.rmtree(pgdata)
    handle, socket_dir = start_embedded(pgdata)
    cluster = Cluster(handle, socket_dir)
    await ensure_database(socket_dir, DATABASE)
    await migrate.ensure_app_role(cluster.owner_url, APP_ROLE)
    if migrate_it:
        await migrate.upgrade(cluster.owner_url, app_role=APP_ROLE)
    conn = await asyncpg.connect(plain(cluster.owner_url))
    try:
        await backup_role(conn, grant=migrate_it)
    finally:
        await conn.close()
    return cluster


async def backup_role(conn: asyncpg.Connection, *, grant: bool) -> None:
    """The backup role exists (a restore's GRANTs name it) and, with ``grant``, may read every
    table."""
    await conn.execute(BACKUP_ROLE_CREATE)
    for sql in BACKUP_ROLE_GRANTS if grant else ():
        await conn.execute(sql)


async def row_counts(conn: asyncpg.Connection) -> dict[str, int]:
    tables = [r["relname"] for r in await conn.fetch(TABLES_SQL)]
    return {t: int(await conn.fetchval(f'SELECT count(*) FROM "{t}"')) for t in tables}


@dataclass
class Snapshot:
    taken_at: str
    counts: dict[str, int]
    dump_seconds: float
    size_bytes: int


async def dump_during_load(primary: Cluster, dump: Path) -> Snapshot:
    """``pg_dump -Fc`` as the backup role of the exported snapshot of one repeatable-read
    transaction, whose row counts are taken in the same snapshot."""
    conn = await asyncpg.connect(plain(primary.owner_url))
    try:
        await backup_role(conn, grant=True)
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            snapshot = await conn.fetchval("SELECT pg_export_snapshot()")
            taken_at = str(await conn.fetchval("SELECT now()"))
            counts = await row_counts(conn)
            started = time.perf_counter()
            await asyncio.to_thread(
                subprocess.run,
                [
                    pg_bin("pg_dump"), "-h", primary.socket_dir, "-U", BACKUP_ROLE,
                    "-d", DATABASE, "-Fc", "--snapshot", snapshot, "-f", str(dump),
                ],
                check=True,
                capture_output=True,
            )  # fmt: skip
            seconds = time.perf_counter() - started
    finally:
        await conn.close()
    return Snapshot(taken_at, counts, seconds, dump.stat().st_size)  # noqa: ASYNC240


def restore(cluster: Cluster, dump: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        [
            pg_bin("pg_restore"), "-h", cluster.socket_dir, "-U", "postgres", "-d", DATABASE,
            "--exit-on-error", "--single-transaction", str(dump),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return time.perf_counter() - started


async def rls_state(url: str) -> dict[str, Any]:
    conn = await asyncpg.connect(plain(url))
    try:
        role = await conn.fetchrow(
            "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = $1", APP_ROLE
        )
        return {
            "role": tuple(role) if role else None,
            "tenant tables": [tuple(r) for r in await conn.fetch(TENANT_TABLES_SQL)],
            # The expressions come back re-deparsed (casts inside ARRAY[] move): compared by
            # name, command and whether they test the workspace.
            "policies": [
                (
                    r["tablename"],
                    r["policyname"],
                    r["cmd"],
                    *("tb_current_workspace()" in (r[c] or "") for c in ("qual", "with_check")),
                )
                for r in await conn.fetch(POLICIES_SQL)
            ],
        }
    finally:
        await conn.close()


async def cross_tenant_rows(app_url: str, mine: str, theirs: str) -> tuple[int, int]:
    """As the app role in ``mine``'s context: (documents of mine, documents of theirs) seen."""
    conn = await asyncpg.connect(plain(app_url))
    try:
        async with conn.transaction():
            await conn.execute("SELECT set_config('app.workspace_id', $1, true)", mine)
            own = await conn.fetchval("SELECT count(*) FROM documents")
            other = await conn.fetchval(
                "SELECT count(*) FROM documents WHERE workspace_id = $1::uuid", theirs
            )
    finally:
        await conn.close()
    return int(own), int(other)


async def owner_lists_only_theirs(base: str, tenant: Tenant, other: Tenant) -> tuple[bool, str]:
    """Over HTTP on the restored server: the owner signs in (their password hash came back with
    the dump), lists their documents, and is refused the other workspace's list."""
    async with httpx.AsyncClient(base_url=base, timeout=20) as client:
        r = await client.post(
            "/api/v1/auth/login", json={"email": tenant.email, "password": PASSWORD}
        )
        r.raise_for_status()
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        mine = await client.get(tenant.url("/documents?limit=100"), headers=headers)
        theirs = await client.get(other.url("/documents?limit=100"), headers=headers)
    ids = {str(d["id"]) for d in mine.json()["items"]}
    ok = mine.status_code == 200 and bool(ids) and theirs.status_code in (403, 404)
    return ok, f"own list {len(ids)} documents, other workspace's list {theirs.status_code}"


@dataclass
class Restored:
    restore_seconds: float
    serve_seconds: float
    checks: list[tuple[str, bool, str]]


async def restore_and_check(
    work: Path,
    dump: Path,
    snap: Snapshot,
    before: dict[str, Any],
    tenants: list[Tenant],
    fake_url: str,
) -> Restored:
    """Restore ``dump`` into a fresh cluster under ``work``, serve it with `trulybot serve`,
    and check it against the snapshot's counts and the primary's RLS state ``before``."""
    env_args = argparse.Namespace(data_dir=work, embedder="hash", log_level="WARNING")
    servers = []
    restored = await fresh_cluster(work / "restored", migrate_it=False)
    try:
        restore_seconds = restore(restored, dump)
        started = time.perf_counter()
        db = argparse.Namespace(app_url=restored.app_url, owner_url=restored.owner_url)
        servers = await start_servers(1, server_env(env_args, db, fake_url, None), work)  # type: ignore[arg-type]
        serve_seconds = time.perf_counter() - started
        conn = await asyncpg.connect(plain(restored.owner_url))
        try:
            counts = await row_counts(conn)
        finally:
            await conn.close()
        after = await rls_state(restored.owner_url)
        own, other = await cross_tenant_rows(
            restored.app_url, tenants[0].workspace_id, tenants[1].workspace_id
        )
        http_ok, http_detail = await owner_lists_only_theirs(servers[0].url, tenants[0], tenants[1])
    finally:
        stop_servers(servers)
        restored.handle.cleanup()
    differ = {t: (n, counts.get(t)) for t, n in snap.counts.items() if counts.get(t) != n}
    rls_differ = sorted(
        set(after["tenant tables"]) ^ set(before["tenant tables"])
        | set(after["policies"]) ^ set(before["policies"])
        | {t for t in after["tenant tables"] if not (t[1] and t[2])}
    )
    rows = f"{len(counts)} tables, {sum(counts.values()):,} rows"
    rls = f"{len(after['tenant tables'])} tenant tables, {len(after['policies'])} policies"
    checks = [
        (
            "row counts equal the snapshot's",
            not differ and counts.keys() == snap.counts.keys(),
            rows + (f"; differ {differ}" if differ else ""),
        ),
        (
            "app role: not superuser, NOBYPASSRLS",
            after["role"] == (False, False),
            str(after["role"]),
        ),
        (
            "RLS enabled+forced, same policies",
            not rls_differ,
            rls + (f"; differ {rls_differ[:3]}" if rls_differ else ""),
        ),
        ("cross-tenant read returns 0 rows", own > 0 and other == 0, f"own {own}, theirs {other}"),
        ("owner lists only theirs (HTTP)", http_ok, http_detail),
    ]
    return Restored(restore_seconds, serve_seconds, checks)


async def run(args: argparse.Namespace) -> None:
    from tests.fakes.openai_server import FakeOpenAI

    work: Path = args.data_dir
    work.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - setup, before any load
    dump = work / "trulybot.dump"
    primary = await fresh_cluster(work / "primary", migrate_it=True)
    fake = FakeOpenAI(chat_reply=fake_reply).start()
    env_args = argparse.Namespace(data_dir=work, embedder="hash", log_level="WARNING")
    servers = []
    try:
        db = argparse.Namespace(app_url=primary.app_url, owner_url=primary.owner_url)
        servers = await start_servers(1, server_env(env_args, db, fake.base_url, None), work)  # type: ignore[arg-type]
        base = servers[0].url
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            tenants = [await new_tenant(client, f"Drill{i}") for i in range(3)]
        load = asyncio.create_task(drive(base, tenants, args.seconds, visitors=3))
        await asyncio.sleep(args.seconds / 2)
        print("dumping while the load runs ...", flush=True)
        snap = await dump_during_load(primary, dump)
        tally = await load
        stop_servers(servers)
        servers = []
        before = await rls_state(primary.owner_url)
        print("restoring into a fresh cluster ...", flush=True)
        result = await restore_and_check(work, dump, snap, before, tenants, fake.base_url)
    finally:
        stop_servers(servers)
        fake.stop()
        primary.handle.cleanup()
    restore_seconds, serve_seconds, checks = (
        result.restore_seconds,
        result.serve_seconds,
        result.checks,
    )
    measures = Table(["measure", "value"])
    measures.add(
        "load while dumping",
        f"{tally.total('2xx')} 2xx, {tally.total('5xx')} 5xx in {args.seconds:.0f} s",
    )
    measures.add("recovery point (snapshot time)", snap.taken_at)
    measures.add("dump (pg_dump -Fc) s", snap.dump_seconds)
    measures.add("dump size MB", snap.size_bytes / 1e6)
    measures.add("restore (pg_restore, one transaction) s", restore_seconds)
    measures.add("serve ready on the restore s", serve_seconds)
    measures.add("recovery time (restore + ready) s", restore_seconds + serve_seconds)
    measures.add("rows in the snapshot", sum(snap.counts.values()))
    measures.add("load average (1 min) at the end", os.getloadavg()[0])
    verdicts = Table(["check", "ok", "detail"])
    for name, ok, detail in checks:
        verdicts.add(name, "yes" if ok else "NO", detail)
    measures.print("backup and restore drill")
    verdicts.print()
    if writes_docs(args):
        write_section(
            "backup_drill",
            "\n".join([
                f"`python -m bench.backup_drill --seconds {args.seconds:.0f} --write`: pg_dump of a"
                " primary (embedded cluster) under load through `trulybot serve` (hash embedder,"
                " fake LLM), restored into a fresh cluster that `trulybot serve` then serves.",
                "", measures.markdown(), "", verdicts.markdown(),
            ]),
        )  # fmt: skip
    if not all(ok for _n, ok, _d in checks):
        raise SystemExit("the drill failed a check")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="how long the load runs")
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".trulybot" / "drill")
    add_write_options(parser, default=False)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()

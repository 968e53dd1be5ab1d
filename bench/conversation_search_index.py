# ruff: noqa: E501
"""Conversation search with and without a trigram index, on a bare messages table.

    .venv/bin/python -m bench.conversation_search_index trgm OWNER_URL APP_URL 2500,10000,50000
    .venv/bin/python -m bench.conversation_search_index grams OWNER_URL APP_URL 2500,10000

``trgm``: pg_trgm's GIN index on ``lower(text)`` (needs a PostgreSQL that ships pg_trgm; the
embedded pgserver does not). ``grams``: the leads search's home-made trigrams (bigint arrays,
migration 0011b1) as a GIN expression index, on any PostgreSQL. OWNER_URL is a superuser;
APP_URL logs in as the role ``app`` (created here), under a row-level-security policy on
``app.workspace_id`` as the app's tables. Printed: a message insert's time as the app role
without and with the index (alternating 80- and 400-character texts, one transaction each,
beside 20,000 rows of another workspace), then, for each size (conversations of two messages,
as bench.dashboard_pages seeds them), the search's test over the workspace's messages: strpos
of the lowered texts (what the app does), the lowered text's LIKE in the query under RLS, and
the same through a SECURITY DEFINER function that keeps to the transaction's workspace (the
only way the index is used under RLS). docs/benchmarks.md, "Searching conversations".
"""

import asyncio
import sys
import time
import uuid

import asyncpg

GRAMS_FN = """
CREATE OR REPLACE FUNCTION tb_text_grams(s text) RETURNS bigint[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT coalesce(array_agg(DISTINCT
         (ascii(substr(l, i, 1))::bigint << 42)
       | (ascii(substr(l, i + 1, 1))::bigint << 21)
       | ascii(substr(l, i + 2, 1))::bigint), '{}')
   FROM (SELECT lower(s) AS l) x, generate_series(1, length(l) - 2) AS i $$
"""

SETUP = """
DROP TABLE IF EXISTS msgs CASCADE;
DO $$ BEGIN CREATE ROLE app LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
CREATE TABLE msgs (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), workspace_id uuid NOT NULL,
  conversation_id uuid NOT NULL, role text NOT NULL, text text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX ON msgs (workspace_id);
CREATE INDEX ON msgs (conversation_id);
ALTER TABLE msgs ENABLE ROW LEVEL SECURITY; ALTER TABLE msgs FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON msgs USING (workspace_id = NULLIF(current_setting('app.workspace_id', true), '')::uuid);
GRANT SELECT, INSERT ON msgs TO app;
"""

SEED = """
INSERT INTO msgs (workspace_id, conversation_id, role, text, created_at)
SELECT $1::uuid, c.id, r.role,
  CASE WHEN r.role = 'user' THEN 'Question s' || c.g || ' about '
   || (ARRAY['shipping times', 'a refund', 'the pricing plans', 'opening hours', 'my login'])[1 + c.g % 5]
   || ': could you tell me more, please?'
  ELSE repeat('Here is what our documentation says about it. ', 8) END,
  now() - c.g * interval '1 minute' + r.n * interval '1 second'
FROM (SELECT g, gen_random_uuid() AS id FROM generate_series($2::int, $3::int) g) c,
     (VALUES ('user', 0), ('assistant', 1)) AS r(role, n)
"""


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))]


async def timeit(conn, ws, sql, args, n=15):
    ts = []
    for i in range(n + 1):
        async with conn.transaction():
            await conn.execute("SELECT set_config('app.workspace_id', $1, true)", str(ws))
            t = time.perf_counter()
            r = await conn.fetchval(sql, *args)
            d = (time.perf_counter() - t) * 1000
        if i:
            ts.append(d)
    return pct(ts, 0.5), pct(ts, 0.95), r


async def explain(conn, ws, sql, args):
    async with conn.transaction():
        await conn.execute("SELECT set_config('app.workspace_id', $1, true)", str(ws))
        rows = await conn.fetch("EXPLAIN (ANALYZE, COSTS OFF) " + sql, *args)
    return "\n    ".join(r[0] for r in rows)


async def inserts(conn, ws, n=1000):
    """per-insert ms, alternating an 80-char question and a 400-char answer, as the app role."""
    cid = uuid.uuid4()
    ts = []
    q = "Question about a refund for order 12345: could you tell me more, please?  "
    a = "Here is what our documentation says about it. " * 8
    for i in range(n):
        async with conn.transaction():
            await conn.execute("SELECT set_config('app.workspace_id', $1, true)", str(ws))
            t = time.perf_counter()
            await conn.execute(
                "INSERT INTO msgs (workspace_id, conversation_id, role, text) VALUES ($1, $2, $3, $4)",
                ws,
                cid,
                "user" if i % 2 == 0 else "assistant",
                (q if i % 2 == 0 else a) + str(i),
            )
            ts.append((time.perf_counter() - t) * 1000)
    return pct(ts, 0.5), pct(ts, 0.95)


async def main(owner_url, app_url, kind, sizes):
    own = await asyncpg.connect(owner_url)
    await own.execute(
        "DO $$ BEGIN CREATE ROLE app LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$"
    )
    app = await asyncpg.connect(app_url)
    await own.execute("SET synchronous_commit = off")
    await app.execute("SET synchronous_commit = off")
    ws = uuid.uuid4()
    other = uuid.uuid4()
    await own.execute(SETUP)
    if kind == "trgm":
        await own.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    else:
        await own.execute(GRAMS_FN)
    # chat path: insert cost without and with the index (empty-ish table + 20k rows)
    await own.execute(SEED, other, 1, 10000)
    p = await inserts(app, other)
    print(f"[{kind}] insert, no index: p50 {p[0]:.3f} p95 {p[1]:.3f} ms")
    if kind == "trgm":
        await own.execute("CREATE INDEX ix_trgm ON msgs USING gin (lower(text) gin_trgm_ops)")
    else:
        await own.execute(
            "CREATE INDEX ix_grams ON msgs USING gin (tb_text_grams(text)) WITH (fastupdate = off)"
        )
    p = await inserts(app, other)
    print(f"[{kind}] insert, with index: p50 {p[0]:.3f} p95 {p[1]:.3f} ms")
    size = await own.fetchval("SELECT pg_size_pretty(pg_relation_size('msgs'))")
    isize = await own.fetchval(
        "SELECT pg_size_pretty(pg_relation_size(%r))"
        % ("ix_trgm" if kind == "trgm" else "ix_grams")
    )
    print(f"[{kind}] table {size}, index {isize} at 22k rows")
    if kind == "trgm":
        fn = """CREATE OR REPLACE FUNCTION tb_message_search(q text) RETURNS SETOF uuid
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS
        $$ SELECT conversation_id FROM msgs WHERE workspace_id = NULLIF(current_setting('app.workspace_id', true), '')::uuid
           AND lower(text) LIKE '%' || replace(replace(replace(lower(q), '\\', '\\\\'), '%', '\\%'), '_', '\\_') || '%' $$"""
    else:
        fn = """CREATE OR REPLACE FUNCTION tb_message_search(q text) RETURNS SETOF uuid
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS
        $$ SELECT conversation_id FROM msgs WHERE workspace_id = NULLIF(current_setting('app.workspace_id', true), '')::uuid
           AND tb_text_grams(text) @> tb_text_grams(q) AND strpos(lower(text), lower(q)) > 0 $$"""
    await own.execute(fn)
    await own.execute("GRANT EXECUTE ON FUNCTION tb_message_search(text) TO app")
    done = 0
    for n in sizes:  # conversations (2 messages each)
        await own.execute(SEED, ws, done + 1, n)
        done = n
        await own.execute("ANALYZE msgs")
        for q in ("question s77", "nothing like it", "refund"):
            scan = "SELECT count(DISTINCT conversation_id) FROM msgs WHERE workspace_id = $1 AND strpos(lower(text), lower($2)) > 0"
            like = "SELECT count(DISTINCT conversation_id) FROM msgs WHERE workspace_id = $1 AND lower(text) LIKE '%' || lower($2) || '%'"
            viafn = (
                "SELECT count(DISTINCT c) FROM tb_message_search($2) c WHERE $1::uuid IS NOT NULL"
            )
            for how, sql in (
                ("strpos scan (now)", scan),
                ("LIKE on lower() under RLS", like),
                ("SECURITY DEFINER fn + index", viafn),
            ):
                p50, p95, r = await timeit(app, ws, sql, (ws, q))
                print(
                    f"[{kind}] {2 * n:>7,} msgs  q={q!r:18} {how:30} p50 {p50:8.2f} p95 {p95:8.2f} ms  ({r} convs)"
                )
        if n == sizes[1]:
            print(
                "  plan LIKE under RLS:\n    " + await explain(app, ws, like, (ws, "question s77"))
            )
            async with own.transaction():
                await own.execute("SELECT set_config('app.workspace_id', $1, true)", str(ws))
                rows = await own.fetch(
                    "EXPLAIN (ANALYZE, COSTS OFF) "
                    + (
                        "SELECT conversation_id FROM msgs WHERE workspace_id = current_setting('app.workspace_id')::uuid AND lower(text) LIKE '%question s77%'"
                        if kind == "trgm"
                        else "SELECT conversation_id FROM msgs WHERE workspace_id = current_setting('app.workspace_id')::uuid AND tb_text_grams(text) @> tb_text_grams('question s77') AND strpos(lower(text), 'question s77') > 0"
                    )
                )
            print("  plan in fn (owner):\n    " + "\n    ".join(r[0] for r in rows))
    await own.close()
    await app.close()


if __name__ == "__main__":
    kind = sys.argv[1]
    owner, appu = sys.argv[2], sys.argv[3]
    asyncio.run(main(owner, appu, kind, [int(x) for x in sys.argv[4].split(",")]))

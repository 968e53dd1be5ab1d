"""One phone-only lead per national number: "+91 98765 43210", "98765 43210", "098765 43210"
and "0091 98765 43210" are one lead.

Revision ID: 0045
Revises: 0044
Create Date: 2026-12-05

0042 told phone-only leads apart by every digit of the number, so a visitor who wrote their
number with its country code once and without it the next time (or with the trunk "0", or
with "00" for "+") became two leads. Now a number is compared by ``tb_phone_key(phone)``,
this revision's function (IMMUTABLE, so an index may use it, and the one definition the app,
the search and the erasure use too):

- the digits alone (spaces, brackets, dots and hyphens are how it was written);
- an international prefix ("+", or "00") and the country code after it are dropped: the
  codes are ITU-T E.164's, which no code begins another of ("91" is India, "1" North
  America, "353" Ireland), so the code is read from the digits alone;
- then one leading "0" is dropped (the trunk prefix of most countries: "098765 43210" is
  "98765 43210"; after a country code, "+44 (0)20 ..." is "+44 20 ..."), except after the
  codes whose numbers keep their "0" (``KEEP_ZERO``: Italy, San Marino, the Vatican, Côte
  d'Ivoire, the Republic of the Congo): "+39 0331 234567" (a landline) is "0331234567",
  "+39 331 234567" (a mobile) "331234567", two numbers (one key, one lead, before).

What is left is the national number. ``tb_phone_country(phone)`` is the country code the
number was written with ('' for none). Two numbers are one lead when their national numbers
are the same and so are their country codes, or one of them was written without a country
code (``tb_same_phone``; after a code of ``KEEP_ZERO`` the other's digits must be its national
number whole: "0331 234567" is "+39 0331 234567", not "+39 331 234567"; two numbers both
without a country code are compared without the leading "0", a limit no workspace's country
lifts yet): "+44 7911 123456" is "07911 123456", but never "+91 79111 23456", a Delhi mobile with
the same ten digits (a London visitor's form went on the Delhi visitor's lead, and an erasure
of one took the other, while the key was the national number alone). The unique index holds
the national number and the country code; "the same when one side has none" is no
equivalence an index can hold, so the app finds that lead first, under a transaction-scoped
advisory lock on the workspace and the national number (two forms at once meet there). Not
read as a trunk prefix: North America's "1" and Russia's "8" ("1 555 123 4567" is not "+1 555
123 4567"): an 11-digit Chinese mobile number begins with "1" too.

Steps, outside a transaction as 0042 (each can run again after an interruption):

- the functions (no lock on a table);
- leads without email that the new rule makes one are merged (oldest first, each into the
  oldest earlier lead with its number, the same country code first), workspace by workspace under
  the tables' forced row-level security as 0032 does (none exist on a database the previous
  release ran: it made no lead without email): the oldest keeps its id, its fields filled
  from the others where empty, the owner's notes of each kept (one after the other), the
  status the owner last moved one to (a "new" lead merged with a "contacted" one is
  "contacted"); their submissions, conversations and the owners' mails about them
  (``mail_outbox.about_leads``, which a visitor's erasure finds the mails by) move to it;
  they go;
- ``uq_leads_workspace_phone_key`` built ``CONCURRENTLY`` (writes go on), then 0042's
  ``uq_leads_workspace_phone`` dropped ``CONCURRENTLY``. The previous release never writes a
  lead without email, so no replica of it names 0042's index.

Downgrade builds 0042's index again (refused while two leads without email have the same
digits, which 0042's index cannot hold: "+91 98765 43210" and "91 98765 43210", two leads
here as no country code is read without "+" or "00", are one number to 0042) and drops this
one and the functions. The leads the upgrade merged stay merged (their submissions say which
number each form brought).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0045"
down_revision: str | None = "0044"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "uq_leads_workspace_phone_key"
OLD_INDEX = "uq_leads_workspace_phone"
OLD_KEY = "regexp_replace(phone, '[^0-9]', '', 'g')"

# ITU-T E.164 country codes as a prefix code: the two-digit codes and North America's 1 and
# Russia's 7; every other two-digit start is a three-digit code. The branches exclude each
# other (PostgreSQL takes the longest match of an alternation, not the first).
COUNTRY_CODE = (
    "1|7|2[07]|3[0-469]|4[013-9]|5[1-8]|6[0-6]|8[1246]|9[0-58]"
    "|2[1-689][0-9]|3[578][0-9]|42[0-9]|5[09][0-9]|6[7-9][0-9]|8[035789][0-9]|9[679][0-9]"
)

# Countries whose numbers keep their leading "0" after the country code (no trunk prefix):
# Italy, San Marino, the Vatican, Côte d'Ivoire (since 2021), the Republic of the Congo.
KEEP_ZERO = "39|378|379|225|242"

# One regular expression, the digits read once (PostgreSQL takes the longest match of the
# alternation): a country code and then one "0", or one of ``KEEP_ZERO`` alone.
FUNCTION = f"""
CREATE OR REPLACE FUNCTION tb_phone_key(phone text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT regexp_replace(
    CASE WHEN phone ~ '^[^0-9+]*[+]' THEN '00' ELSE '' END
      || regexp_replace(phone, '[^0-9]', '', 'g'),
    '^(00(?!{KEEP_ZERO})({COUNTRY_CODE}))?0?|^00({KEEP_ZERO})', '')
$$
"""

# The country code a number was written with ("+44 7911 123456": "44"), '' for none: two leads
# without email are one when their national numbers are the same and so are their country
# codes (the unique index), or one of them has none (the app's look-up, one national number at
# a time under an advisory lock).
COUNTRY = """
CREATE OR REPLACE FUNCTION tb_phone_country(phone text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT coalesce(substring(
    CASE WHEN phone ~ '^[^0-9+]*[+]' THEN '00' ELSE '' END
      || regexp_replace(phone, '[^0-9]', '', 'g')
    FROM '^00(CODES)'), '')
$$
""".replace("CODES", COUNTRY_CODE)

# Whether two numbers are one (``same_number`` in the app, the merge here): the same country
# code and national number; or one written without a country code, whose national number is
# the other's, read as the other's country reads it: without its trunk "0" ("07911 123456" is
# "+44 7911 123456"), or, for the countries that keep their "0", digit for digit ("0331
# 234567" is "+39 0331 234567", never "+39 331 234567").
SAME = """
CREATE OR REPLACE FUNCTION tb_same_phone(a text, b text) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT CASE
    WHEN ca = cb THEN ka = kb
    WHEN ca = '' AND cb ~ '^(KEEP)$' THEN regexp_replace(a, '[^0-9]', '', 'g') = kb
    WHEN cb = '' AND ca ~ '^(KEEP)$' THEN regexp_replace(b, '[^0-9]', '', 'g') = ka
    WHEN ca = '' OR cb = '' THEN ka = kb
    ELSE false END
  FROM (SELECT tb_phone_key(a) AS ka, tb_phone_key(b) AS kb,
               tb_phone_country(a) AS ca, tb_phone_country(b) AS cb) AS numbers
$$
""".replace("KEEP", KEEP_ZERO)

# Every workspace (owner_reads), then in each its leads without email oldest first: one whose
# number an older lead has (the same national number, and the same country code unless either
# has none; that country's first) goes into it, as the app finds a lead for a number. The rows
# RLS shows the migration role with app.workspace_id set.
_MERGE = """
DO $$
DECLARE ws uuid; dup record; keep uuid;
BEGIN
  FOR ws IN SELECT id FROM workspaces LOOP
    PERFORM set_config('app.workspace_id', ws::text, true);
    FOR dup IN
      SELECT id, phone, created_at FROM leads WHERE workspace_id = ws AND email IS NULL
      ORDER BY created_at, id
    LOOP
      SELECT k.id INTO keep FROM leads k
        WHERE k.workspace_id = ws AND k.email IS NULL AND k.id <> dup.id
          AND (k.created_at, k.id) < (dup.created_at, dup.id)
          AND tb_same_phone(k.phone, dup.phone)
        ORDER BY tb_phone_country(k.phone) = tb_phone_country(dup.phone) DESC, k.created_at, k.id
        LIMIT 1;
      CONTINUE WHEN keep IS NULL;
      UPDATE leads k SET name = coalesce(k.name, d.name), message = coalesce(k.message, d.message),
             notes = CASE WHEN d.notes IS NULL OR k.notes = d.notes THEN k.notes
                          ELSE concat_ws(E'\n\n', k.notes, d.notes) END,
             status = CASE WHEN k.status = 'new' OR (d.status <> 'new'
                                AND d.updated_at > k.updated_at) THEN d.status
                           ELSE k.status END,
             conversation_id = coalesce(k.conversation_id, d.conversation_id),
             conversation_deleted_at = CASE WHEN k.conversation_id IS NULL
                                            THEN d.conversation_deleted_at
                                            ELSE k.conversation_deleted_at END,
             updated_at = now()
        FROM leads d WHERE k.id = keep AND d.id = dup.id;
      UPDATE lead_submissions SET lead_id = keep WHERE workspace_id = ws AND lead_id = dup.id;
      UPDATE conversations SET lead_id = keep WHERE workspace_id = ws AND lead_id = dup.id;
      UPDATE mail_outbox SET about_leads = array_replace(about_leads, dup.id, keep)
        WHERE about_workspace = ws AND about_leads @> ARRAY[dup.id];
      DELETE FROM leads WHERE id = dup.id;
    END LOOP;
  END LOOP;
  PERFORM set_config('app.workspace_id', '', true);
END $$
"""

_REFUSE_DOWNGRADE = """
DO $$
DECLARE ws uuid;
BEGIN
  FOR ws IN SELECT id FROM workspaces LOOP
    PERFORM set_config('app.workspace_id', ws::text, true);
    IF EXISTS (SELECT 1 FROM leads WHERE workspace_id = ws AND email IS NULL
               GROUP BY regexp_replace(phone, '[^0-9]', '', 'g') HAVING count(*) > 1) THEN
      RAISE EXCEPTION 'two leads without an email address have the same digits: %',
        'merge them first';
    END IF;
  END LOOP;
  PERFORM set_config('app.workspace_id', '', true);
END $$
"""


def upgrade() -> None:
    with op.get_context().autocommit_block():
        op.execute(FUNCTION)
        op.execute(COUNTRY)
        op.execute(SAME)
        op.execute(_MERGE)
        op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}")
        op.execute(
            f"CREATE UNIQUE INDEX CONCURRENTLY {INDEX} ON leads (workspace_id,"
            " tb_phone_key(phone), tb_phone_country(phone)) WHERE email IS NULL"
        )
        op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {OLD_INDEX}")


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.execute(_REFUSE_DOWNGRADE)
        op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {OLD_INDEX}")
        op.execute(
            f"CREATE UNIQUE INDEX CONCURRENTLY {OLD_INDEX} ON leads (workspace_id, {OLD_KEY})"
            " WHERE email IS NULL"
        )
        op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}")
        op.execute("DROP FUNCTION IF EXISTS tb_same_phone(text, text)")
        op.execute("DROP FUNCTION IF EXISTS tb_phone_country(text)")
        op.execute("DROP FUNCTION IF EXISTS tb_phone_key(text)")

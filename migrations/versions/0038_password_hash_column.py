"""``users.password_hash`` closed to the app role: three narrow functions read and set it.

Revision ID: 0038
Revises: 0037
Create Date: 2026-12-05

0036 restricted the rows of ``users``, not its columns: a statement in a workspace's context
(the member list's) read its members' password hashes, and so would any statement a
repository or an injection ran there. Only sign-in and the password's own paths (a change, a
reset, a verification or deletion confirmed by it) need the hash, of one account each.

The column's privileges are the app role's grant (``core.migrate.grant_app_role``, run by
``trulybot migrate`` after this revision): SELECT and UPDATE on every column of ``users`` but
``password_hash``, INSERT on all (a sign-up writes the hash it cannot read back). What the app
does with the hash goes through three SECURITY DEFINER functions, each keeping to the account the
transaction names and not to the rows its context opens (their owner may be a superuser, whom
row-level security does not hold):

- ``tb_password_hash(user)``: the hash of the transaction's own account (``app.user_id``) or of
  the account its lookup names by address (``app.lookup = 'users:email:<address>'``: sign-in);
  NULL for any other, a member seen through the workspace included;
- ``tb_lock_password_hash(user, exclusive)``: the own account's hash, its row locked until the
  transaction ends (shared, or for the change that follows): what a sign-in, an accepted
  invitation and a deletion take;
- ``tb_set_password_hash(user, new, expected)``: the own account's hash set to ``new`` while it
  is still ``expected`` (the hash a password was checked against); whether it was.

Functions only, no lock on ``users``; the grant that follows changes the catalog only (no lock
on ``users`` in ``pg_locks``).
Downgrade gives the column back to every role that reads the others (the previous release
selects it with each account).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0038"
down_revision: str | None = "0037"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

READ = "tb_password_hash(uuid)"
LOCK = "tb_lock_password_hash(uuid, boolean)"
SET = "tb_set_password_hash(uuid, text, text)"


def upgrade() -> None:
    op.execute(
        """
        CREATE OR REPLACE FUNCTION tb_password_hash(p_user uuid) RETURNS text
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS
        $$ SELECT u.password_hash FROM users u
           WHERE u.id = p_user
             AND (u.id = tb_current_user() OR lower(u.email) = tb_lookup_email()) $$
        """
    )
    op.execute(
        """
        CREATE OR REPLACE FUNCTION tb_lock_password_hash(p_user uuid, p_exclusive boolean)
        RETURNS text LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
        AS $$
        DECLARE stored text;
        BEGIN
            IF p_user IS DISTINCT FROM tb_current_user() THEN
                RETURN NULL;
            END IF;
            IF p_exclusive THEN
                SELECT u.password_hash INTO stored FROM users u WHERE u.id = p_user
                FOR NO KEY UPDATE;
            ELSE
                SELECT u.password_hash INTO stored FROM users u WHERE u.id = p_user
                FOR SHARE;
            END IF;
            RETURN stored;
        END $$
        """
    )
    op.execute(
        """
        CREATE OR REPLACE FUNCTION tb_set_password_hash(p_user uuid, p_new text, p_expected text)
        RETURNS boolean LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
        AS $$
            WITH changed AS (
                UPDATE users SET password_hash = p_new, updated_at = now()
                WHERE id = p_user AND id = tb_current_user() AND password_hash = p_expected
                RETURNING 1)
            SELECT EXISTS (SELECT 1 FROM changed) $$
        """
    )
    for function in (READ, LOCK, SET):
        op.execute(f"REVOKE ALL ON FUNCTION {function} FROM PUBLIC")


def downgrade() -> None:
    op.execute(
        """
        DO $$
        DECLARE grantee text;
        BEGIN
            FOR grantee IN
                SELECT DISTINCT acl.grantee::regrole::text
                FROM pg_attribute a, aclexplode(a.attacl) acl
                WHERE a.attrelid = 'users'::regclass AND a.attname = 'email'
                  AND acl.privilege_type = 'SELECT'
            LOOP
                EXECUTE format('GRANT SELECT, UPDATE ON users TO %s', grantee);
            END LOOP;
        END $$
        """
    )
    for function in (SET, LOCK, READ):
        op.execute(f"DROP FUNCTION IF EXISTS {function}")

"""The schema's revision, readable by the app role, so a release refuses a database behind it.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05

A new release started on a database that `trulybot migrate` had not brought to its revision
(the image rolled out before the migration job finished) passed /readyz and answered every chat
500 on a missing column; nothing said why. The app role may not read ``alembic_version``
(core/migrate.py revokes it), so ``tb_schema_heads()``, a SECURITY DEFINER function executable by
the app role (granted by core/migrate.py like the other definer functions), returns the
revision(s) and nothing else. `trulybot serve` and `trulybot worker` compare them with the code's
at start (api/runtime.py ``check_schema``).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FUNCTION = "tb_schema_heads()"


def upgrade() -> None:
    op.execute(
        """
        CREATE OR REPLACE FUNCTION tb_schema_heads() RETURNS SETOF text
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS
        $$ SELECT version_num::text FROM alembic_version $$
        """
    )
    op.execute(f"REVOKE ALL ON FUNCTION {FUNCTION} FROM PUBLIC")


def downgrade() -> None:
    op.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}")

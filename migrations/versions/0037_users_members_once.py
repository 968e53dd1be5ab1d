"""``users_members`` reads the workspace's member set once a statement, not once an account.

Revision ID: 0037
Revises: 0036
Create Date: 2026-12-05

0036's ``users_members`` policy was ``id = ANY (tb_workspace_members())``. Where PostgreSQL
reads ``users`` by another condition (a join from ``memberships`` on the primary key, a scan),
that expression is a filter evaluated for every account row, and each evaluation aggregates the
workspace's memberships again: a member list or a notification's recipients cost members
squared. Measured on the app role with the workspace in context, the recipients' join
(``verified_members``) at 2,001 members: 2.7 s (statistics fresh) to 4.3 s, against 7-24 ms
as below; 501 members: 96 ms. A statement that also looked an address up in the workspace's
context (an invitation) ran past the 15 s statement timeout on 50,000 accounts before
``ANALYZE``.

The same set as an uncorrelated scalar subquery (an InitPlan: computed once, then a
parameter) keeps the arm an index condition on the primary key, so the sign-in lookup's
BitmapOr is unchanged (0.1 ms at 50,000 accounts).

``tb_workspace_members()`` also gets the ``search_path`` the SECURITY DEFINER functions pin
(``public, pg_temp``): it names ``memberships`` and ``tb_current_workspace`` without their schema,
so a session with another or an empty ``search_path`` (``pg_dump`` sets one) failed on any read
of ``users`` ('relation "memberships" does not exist'). Computed once a statement, the function
no longer needs inlining.

The policy only: ACCESS EXCLUSIVE on ``users`` for a moment.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0037"
down_revision: str | None = "0036"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER FUNCTION tb_workspace_members() SET search_path = public, pg_temp")
    op.execute(
        "ALTER POLICY users_members ON users"
        " USING (id = ANY (CAST((SELECT tb_workspace_members()) AS uuid[])))"
    )


def downgrade() -> None:
    op.execute("ALTER FUNCTION tb_workspace_members() RESET search_path")
    op.execute("ALTER POLICY users_members ON users USING (id = ANY (tb_workspace_members()))")

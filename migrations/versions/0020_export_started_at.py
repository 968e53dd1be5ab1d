"""When an export's build began, so a build that died with its process is told from a live one.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06

An export whose process was killed mid-build (SIGKILL, the OOM killer: no handler runs) stayed
``running`` for good: its owner saw a spinner and was refused a new export (409
``export_in_progress``) until two hours after the request. ``started_at`` is set when a job
claims the export; one ``running`` longer than a build may run is failed when the workspace's
exports are listed or a new one is requested (lifecycle/exports.py; since the build also
refreshes it every minute while it runs, ``SILENT_TOO_LONG`` of silence).
NULL for exports claimed before this revision (their request time stands in).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "workspace_exports", sa.Column("started_at", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("workspace_exports", "started_at")

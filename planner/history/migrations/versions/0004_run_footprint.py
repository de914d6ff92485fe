"""0004: runs.footprint, the members and sites a run planned.

The baseline of a re-plan is the latest successful run of a scenario with the same name. A slice
of a consortium saved under the whole's name (or a scenario whose sites changed) would make a run
of other sites the baseline, and every decision at a missing site a change. Each run now records
what it planned (JSON: {"members": [...], "sites": [...]}, sorted ids), so `planner replan`
refuses a baseline of other members or sites unless `--baseline RUN` names it. Runs recorded
before this revision have none (NULL): they are checked by the sites their decisions name.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("runs", sa.Column("footprint", sa.JSON))   # SQLite and PostgreSQL alike


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:   # SQLite drops a column by copying the table
        batch.drop_column("footprint")

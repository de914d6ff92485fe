"""0001: the runs table, one row per run with its outcome and its decisions as a JSON list.

The first schema of the history. Its ``decisions_json`` column held a run's decisions as a list
of {decision, site_id, resource, from_site, amount} objects; revision 0002 moved them into a
table of their own.

Revision ID: 0001
Revises:
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("run_id", sa.Integer, primary_key=True),
        sa.Column("scenario", sa.String, nullable=False),
        sa.Column("started", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended", sa.DateTime(timezone=True)),
        sa.Column("status", sa.String, nullable=False),
        sa.Column("command", sa.String),
        sa.Column("input_hash", sa.String),
        sa.Column("options", sa.JSON),
        sa.Column("versions", sa.JSON),
        sa.Column("objective", sa.Float),
        sa.Column("bound", sa.Float),
        sa.Column("mip_gap", sa.Float),
        sa.Column("kpis", sa.JSON),
        sa.Column("decisions_json", sa.JSON),
        sa.Column("message", sa.Text),
    )
    op.create_index("ix_runs_scenario", "runs", ["scenario"])


def downgrade() -> None:
    op.drop_index("ix_runs_scenario", table_name="runs")
    op.drop_table("runs")

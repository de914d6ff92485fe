"""0003: the coalition_values table, the coalition costs C(S) of `planner share --store`.

Valuing a cooperative game solves one MILP per coalition; a run stopped half-way (Ctrl-C, kill,
time limit) resumes from the values already stored (planner/sharing/store.py). Keeping them in
the history lets a scheduled `planner replan --share` reuse them on its next run. Rows are keyed
by the game (the scenario's content hash and value format) and the coalition (a JSON list of the
sorted member names); the ledger terms are JSON text, the numbers double precision.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "coalition_values",
        sa.Column("game_key", sa.String, nullable=False),
        sa.Column("coalition", sa.Text, nullable=False),
        sa.Column("cost", sa.Float, nullable=False),
        sa.Column("status", sa.String, nullable=False),
        sa.Column("bound", sa.Float),
        sa.Column("terms", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("game_key", "coalition", name="pk_coalition_values"),
    )


def downgrade() -> None:
    op.drop_table("coalition_values")

"""0005: decisions may be hires of radiologists at a reading centre.

Central reading (docs/design.md section 9) adds a decision kind, `hired_radiologists` (site_id:
the centre, resource: radiologists, amount: whole FTE). The decisions table's check constraint
named the three kinds of revision 0002; it now names four. SQLite cannot alter a constraint, so
the table is copied (alembic's batch mode, from its definition at revision 0004: SQLite does not
report check constraints, which a copy would otherwise lose). Downgrading drops the hires first
(revision 0004 cannot hold them).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

OLD_KINDS = ("new_units", "relocated", "outreach_days")
KINDS = OLD_KINDS + ("hired_radiologists",)


def _kind_check(kinds: tuple[str, ...]) -> str:
    return "decision IN (" + ", ".join(f"'{k}'" for k in kinds) + ")"


def _table(kinds: tuple[str, ...]) -> sa.Table:
    metadata = sa.MetaData()
    sa.Table("runs", metadata, sa.Column("run_id", sa.Integer, primary_key=True))
    return sa.Table(
        "decisions", metadata,
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.run_id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("decision", sa.String, primary_key=True),
        sa.Column("site_id", sa.String, primary_key=True),
        sa.Column("resource", sa.String, primary_key=True),
        sa.Column("from_site", sa.String, primary_key=True),
        sa.Column("amount", sa.Integer, nullable=False),
        sa.CheckConstraint("amount > 0", name="ck_decisions_amount_positive"),
        sa.CheckConstraint(_kind_check(kinds), name="ck_decisions_kind"))


def _replace_kind_check(old: tuple[str, ...], new: tuple[str, ...]) -> None:
    with op.batch_alter_table("decisions", copy_from=_table(old)) as batch:
        batch.drop_constraint("ck_decisions_kind", type_="check")
        batch.create_check_constraint("ck_decisions_kind", _kind_check(new))


def upgrade() -> None:
    _replace_kind_check(OLD_KINDS, KINDS)


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM decisions WHERE decision = 'hired_radiologists'"))
    _replace_kind_check(KINDS, OLD_KINDS)

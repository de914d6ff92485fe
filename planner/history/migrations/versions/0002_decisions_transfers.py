"""0002: decisions and transfers tables; a run's outcome (succeeded, changes, baseline, sharing).

Re-planning needs the decisions of the latest *successful* run as rows it can compare, and
`--share` records transfers. So:

* runs gains ``succeeded`` (the run published a plan: only such runs are baselines),
  ``changes`` and ``baseline_run`` (the re-plan's distance from its baseline) and ``sharing``
  (the sharing report as JSON);
* the decisions move from ``runs.decisions_json`` into the ``decisions`` table, one row each;
* the new ``transfers`` table holds a run's transfer payments, one row per member.

Runs recorded by 0001 count as succeeded when they finished with a solver status that carries a
plan ('optimal' or 'time_limit'), an objective and their decisions.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# The runs table as 0001 left it: batch mode (SQLite) copies it from this, not from reflection.
RUNS_0001 = sa.Table(
    "runs", sa.MetaData(),
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
    sa.Index("ix_runs_scenario", "scenario"),
)
TRANSFER_NUMBERS = ("standalone_cost", "borne_cost", "allocation", "transfer", "final_cost",
                    "gain")
KINDS = ("new_units", "relocated", "outreach_days")


def upgrade() -> None:
    bind = op.get_bind()
    old_runs = sa.table("runs", sa.column("run_id", sa.Integer), sa.column("status", sa.String),
                        sa.column("objective", sa.Float), sa.column("decisions_json", sa.JSON))
    old = bind.execute(sa.select(old_runs).order_by(old_runs.c.run_id)).all()
    with op.batch_alter_table("runs", copy_from=RUNS_0001) as batch:
        batch.add_column(sa.Column("succeeded", sa.Boolean, nullable=False,
                                   server_default=sa.false()))
        batch.add_column(sa.Column("changes", sa.Integer))
        batch.add_column(sa.Column("baseline_run", sa.Integer))
        batch.add_column(sa.Column("sharing", sa.JSON))
        batch.create_foreign_key("fk_runs_baseline_run", "runs", ["baseline_run"], ["run_id"],
                                 ondelete="SET NULL")
        batch.drop_column("decisions_json")
    decisions = op.create_table(
        "decisions",
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.run_id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("decision", sa.String, primary_key=True),
        sa.Column("site_id", sa.String, primary_key=True),
        sa.Column("resource", sa.String, primary_key=True),
        sa.Column("from_site", sa.String, primary_key=True),
        sa.Column("amount", sa.Integer, nullable=False),
        sa.CheckConstraint("amount > 0", name="ck_decisions_amount_positive"),
        sa.CheckConstraint("decision IN ('new_units', 'relocated', 'outreach_days')",
                           name="ck_decisions_kind"),
    )
    op.create_table(
        "transfers",
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.run_id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("member", sa.String, primary_key=True),
        sa.Column("position", sa.Integer, nullable=False),
        *(sa.Column(name, sa.Float) for name in TRANSFER_NUMBERS),
    )
    # The decisions read from the JSON column before it went, as rows; the runs that published
    # a plan marked.
    rows, succeeded = [], []
    for run_id, status, objective, listed in old:
        listed = json.loads(listed) if isinstance(listed, str) else listed
        for item in listed or []:
            if item.get("decision") in KINDS and int(item.get("amount") or 0) > 0:
                rows.append({"run_id": run_id, "decision": item["decision"],
                             "site_id": str(item["site_id"]), "resource": str(item["resource"]),
                             "from_site": str(item.get("from_site") or ""),
                             "amount": int(item["amount"])})
        if status in ("optimal", "time_limit") and objective is not None and listed is not None:
            succeeded.append(run_id)
    if rows:
        op.bulk_insert(decisions, rows)
    if succeeded:
        runs = sa.table("runs", sa.column("run_id", sa.Integer),
                        sa.column("succeeded", sa.Boolean))
        bind.execute(runs.update().where(runs.c.run_id.in_(succeeded)).values(succeeded=True))


def downgrade() -> None:
    bind = op.get_bind()
    decisions = sa.table("decisions", *(sa.column(c) for c in (
        "run_id", "decision", "site_id", "resource", "from_site", "amount")))
    listed: dict[int, list] = {}
    for row in bind.execute(sa.select(decisions).order_by(*decisions.c)).mappings():
        item = {k: row[k] for k in ("decision", "site_id", "resource", "from_site", "amount")}
        listed.setdefault(row["run_id"], []).append(item)
    runs = sa.table("runs", sa.column("run_id", sa.Integer),
                    sa.column("succeeded", sa.Boolean))
    published = list(bind.execute(sa.select(runs.c.run_id).where(runs.c.succeeded)).scalars())
    op.drop_table("transfers")
    op.drop_table("decisions")
    with op.batch_alter_table("runs") as batch:
        batch.drop_constraint("fk_runs_baseline_run", type_="foreignkey")
        for name in ("sharing", "baseline_run", "changes", "succeeded"):
            batch.drop_column(name)
        batch.add_column(sa.Column("decisions_json", sa.JSON))
    runs = sa.table("runs", sa.column("run_id", sa.Integer), sa.column("decisions_json", sa.JSON))
    for run_id in published:
        bind.execute(runs.update().where(runs.c.run_id == run_id)
                     .values(decisions_json=listed.get(run_id, [])))

"""The history's tables at the newest schema revision, as the queries of this package see them.

The migrations (``migrations/versions``) create and change the real tables; they spell out
their own DDL so that an old revision never changes when this file does. This file must match
the head revision: ``tests/test_history.py`` checks it against the database that the
migrations build.

* ``runs``: one row per run of `planner replan` (failed ones too): when, which scenario and
  inputs (content hash), with what options and versions, how it ended (status, succeeded,
  message), the plan's objective, bound, gap and KPIs, how many decisions changed from which
  baseline run, the sharing report when savings were shared, and the members and sites it
  planned (``footprint``: a re-plan refuses a baseline of other members or sites).
* ``decisions``: the plan of each successful run, one row per non-zero decision (the columns of
  decisions.csv); ``from_site`` is '' except for relocations, so it can be part of the key.
* ``transfers``: the transfer payments of a run with ``--share``, one row per member, in the
  order of the sharing report (``position``).
* ``coalition_values``: the coalition costs C(S) of the sharing games, by game key and coalition
  (planner/sharing/store.py reads and writes them; a resumed run reuses them).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

# their order in decisions.csv; hired_radiologists: [reading] hires (revision 0005)
DECISION_KINDS = ("new_units", "relocated", "outreach_days", "hired_radiologists")
DECISION_COLUMNS = ["decision", "site_id", "resource", "from_site", "amount"]
TRANSFER_COLUMNS = ["member", "standalone_cost", "borne_cost", "allocation", "transfer",
                    "final_cost", "gain"]

metadata = MetaData()

runs = Table(
    "runs", metadata,
    Column("run_id", Integer, primary_key=True),
    Column("scenario", String, nullable=False, index=True),
    Column("started", DateTime(timezone=True), nullable=False),
    Column("ended", DateTime(timezone=True)),
    Column("status", String, nullable=False),
    Column("succeeded", Boolean, nullable=False),
    Column("command", String),
    Column("input_hash", String),
    Column("options", JSON),
    Column("versions", JSON),
    Column("objective", Float),
    Column("bound", Float),
    Column("mip_gap", Float),
    Column("kpis", JSON),
    Column("changes", Integer),
    Column("baseline_run", Integer, ForeignKey("runs.run_id", ondelete="SET NULL")),
    Column("sharing", JSON),
    Column("message", Text),
    Column("footprint", JSON),   # {"members": [...], "sites": [...]} planned (revision 0004)
)

decisions = Table(
    "decisions", metadata,
    Column("run_id", Integer, ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True),
    Column("decision", String, primary_key=True),
    Column("site_id", String, primary_key=True),
    Column("resource", String, primary_key=True),
    Column("from_site", String, primary_key=True),
    Column("amount", Integer, nullable=False),
    CheckConstraint("amount > 0", name="ck_decisions_amount_positive"),
    CheckConstraint("decision IN (" + ", ".join(f"'{k}'" for k in DECISION_KINDS) + ")",
                    name="ck_decisions_kind"),
)

transfers = Table(
    "transfers", metadata,
    Column("run_id", Integer, ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True),
    Column("member", String, primary_key=True),
    Column("position", Integer, nullable=False),
    *(Column(name, Float) for name in TRANSFER_COLUMNS[1:]),
)

coalition_values = Table(
    "coalition_values", metadata,
    Column("game_key", String, nullable=False),
    Column("coalition", Text, nullable=False),   # JSON list of the sorted member names
    Column("cost", Float, nullable=False),
    Column("status", String, nullable=False),
    Column("bound", Float),
    Column("terms", Text, nullable=False),       # JSON list of [term, amount]
    PrimaryKeyConstraint("game_key", "coalition", name="pk_coalition_values"),
)

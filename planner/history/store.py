"""The run history: what `planner replan` records and what `planner runs` shows.

Every run is written in short transactions of its own, so a run killed at any moment leaves the
history readable:

1. :meth:`History.start_run` inserts the run as "running" and commits at once;
2. :meth:`History.finish_run` updates that row (status, outcome, end time) and inserts its
   decisions and transfers in ONE transaction: all of it is recorded, or none.

A run that died between the two stays "running"; the next run of the same scenario to take the
lock (:meth:`History.lock`) knows that no live run can hold it, and marks it "interrupted". Only
runs with ``succeeded`` true are baselines (:meth:`History.latest_success`).
"""

from __future__ import annotations

from contextlib import contextmanager

import pandas as pd
from sqlalchemy import Engine, func, insert, select, text, update

from planner.history import records
from planner.history.errors import HistoryError, wrapped
from planner.history.locks import AdvisoryLock, FileLock
from planner.history.tables import decisions as decisions_table
from planner.history.tables import runs as runs_table
from planner.history.tables import transfers as transfers_table
from planner.history.target import WRITE, Target

INTERRUPTED = "the run stopped before it finished (killed or crashed)"
# The columns of `runs()`; `run()` adds options, versions, kpis, sharing, decisions, transfers.
LISTED = ("run_id", "started", "ended", "scenario", "status", "succeeded", "objective", "bound",
          "mip_gap", "changes", "baseline_run", "input_hash", "command", "message")


class History:
    """An open run history (see :func:`planner.history.open_history`)."""

    def __init__(self, engine: Engine, target: Target):
        self._engine = engine
        self._target = target
        self._namespace = ""
        if target.backend == "postgresql":   # the schema the tables live in (search_path)
            with self._reading("find the schema") as connection:
                self._namespace = connection.execute(text("SELECT current_schema()")).scalar()
        self._held: list[_ScenarioLock] = []

    # --- where ---------------------------------------------------------------------------------
    @property
    def target(self) -> str:
        """The history as shown in messages: a file path, or its URL with the password masked."""
        return self._target.shown

    @property
    def url(self):
        """The SQLAlchemy URL of the history (the coalition store of `--share` lives here too:
        planner.sharing.store, table coalition_values of revision 0003)."""
        return self._target.url

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (for inspection and tests; the methods below are the API)."""
        return self._engine

    # --- locks ---------------------------------------------------------------------------------
    def lock(self, scenario: str, wait: float = 0.0) -> _ScenarioLock:
        """A context manager holding this history's lock for `scenario`, waiting up to `wait`
        seconds for another holder (then HistoryLocked, exit 5). On entry, runs of the scenario
        left "running" are marked interrupted: with the lock held, none of them is alive."""
        return _ScenarioLock(self, scenario, wait)

    # --- writing -------------------------------------------------------------------------------
    def start_run(self, scenario: str, input_hash: str | None = None,
                  options: dict | None = None, versions: dict | None = None,
                  command: str = "replan", footprint: dict | None = None) -> int:
        """Record a new run as "running" (committed at once); returns its run_id. `footprint`:
        the members and sites it plans ({"members": [...], "sites": [...]})."""
        values = _new_run(scenario, input_hash, options, versions, command)
        values["footprint"] = None if footprint is None else records.plain(footprint)
        return self._insert_run("record the start of a run", values)

    def record_failed_run(self, scenario: str, *, status: str, message: str,
                          input_hash: str | None = None, options: dict | None = None,
                          versions: dict | None = None, command: str = "replan") -> int:
        """Record a run that failed before it could take the lock (bad input, locked out) in
        one transaction: started, ended and failed at once, so no kill leaves it "running"."""
        values = _new_run(scenario, input_hash, options, versions, command)
        values.update(ended=values["started"], status=str(status), message=message)
        return self._insert_run("record a failed run", values)

    def _insert_run(self, doing: str, values: dict) -> int:
        with self._writing(doing) as connection:
            result = connection.execute(insert(runs_table).values(**values))
            return int(result.inserted_primary_key[0])

    def finish_run(self, run_id: int, *, status: str, succeeded: bool,
                   message: str | None = None, objective=None, bound=None, mip_gap=None,
                   kpis: dict | None = None, decisions=None, changes: int | None = None,
                   baseline_run: int | None = None, sharing: dict | None = None,
                   transfers=None) -> None:
        """Record how a run ended, with its decisions and transfers, in one transaction."""
        decision_rows = records.decision_rows(run_id, decisions)
        transfer_rows = records.transfer_rows(run_id, transfers)
        values = {"status": str(status), "succeeded": bool(succeeded), "ended": records.now(),
                  "message": message, "objective": records.number(objective),
                  "bound": records.number(bound), "mip_gap": records.number(mip_gap),
                  "kpis": None if kpis is None else records.plain(kpis),
                  "changes": None if changes is None else int(changes),
                  "baseline_run": None if baseline_run is None else int(baseline_run),
                  "sharing": None if sharing is None else records.plain(sharing)}
        with self._writing(f"record the end of run {run_id}") as connection:
            done = connection.execute(update(runs_table)
                                      .where(runs_table.c.run_id == run_id).values(**values))
            if done.rowcount != 1:
                raise _unknown(self, run_id)
            for table, rows in ((decisions_table, decision_rows),
                                (transfers_table, transfer_rows)):
                connection.execute(table.delete().where(table.c.run_id == run_id))
                if rows:
                    connection.execute(insert(table), rows)

    def _mark_interrupted(self, scenario: str) -> int:
        with self._writing(f"mark stopped runs of scenario '{scenario}'") as connection:
            done = connection.execute(
                update(runs_table)
                .where(runs_table.c.scenario == scenario, runs_table.c.status == "running")
                .values(status="interrupted", succeeded=False, message=INTERRUPTED))
            return done.rowcount

    # --- reading -------------------------------------------------------------------------------
    def runs(self, scenario: str | None = None) -> list[dict]:
        """The runs, oldest first (by run_id), optionally of one scenario name; each with the
        columns LISTED and `changes_by_kind` (a re-plan's changes by decision kind, recorded in
        its KPIs; None for runs without a plan or recorded before it was)."""
        query = (select(*(runs_table.c[name] for name in LISTED), runs_table.c.kpis)
                 .order_by(runs_table.c.run_id))
        if scenario is not None:
            query = query.where(runs_table.c.scenario == scenario)
        with self._reading("list the runs") as connection:
            return [{**_listed(row), "changes_by_kind": (row["kpis"] or {}).get("changes_by_kind")}
                    for row in connection.execute(query).mappings()]

    def run(self, run_id: int) -> dict:
        """One run with everything recorded: options, versions, kpis, sharing, its decisions
        (DataFrame) and transfers (DataFrame, or None without --share)."""
        with self._reading(f"read run {run_id}") as connection:
            row = connection.execute(select(runs_table)
                                     .where(runs_table.c.run_id == int(run_id))).mappings().first()
            if row is None:
                raise _unknown(self, run_id)
            found = _listed(row)
            for name in ("options", "versions", "kpis", "sharing"):
                found[name] = row[name]
            found["decisions"] = self._decisions(connection, run_id)
            transfers = connection.execute(select(transfers_table).where(
                transfers_table.c.run_id == int(run_id))).all()
            found["transfers"] = records.transfers_frame(transfers) if transfers else None
        return found

    def decisions(self, run_id: int) -> pd.DataFrame:
        """The decisions of a run (empty for a run without a plan); HistoryError if unknown."""
        with self._reading(f"read the decisions of run {run_id}") as connection:
            exists = connection.execute(select(runs_table.c.run_id)
                                        .where(runs_table.c.run_id == int(run_id))).first()
            if exists is None:
                raise _unknown(self, run_id)
            return self._decisions(connection, run_id)

    def latest_success(self, scenario: str) -> dict | None:
        """The latest run of `scenario` that succeeded: {"run_id", "scenario", "decisions",
        "objective", "started", "input_hash", "footprint"}; None when there is none (a first
        run)."""
        with self._reading(f"find the latest successful run of '{scenario}'") as connection:
            row = connection.execute(
                select(*_BASELINE_COLUMNS)
                .where(runs_table.c.scenario == scenario, runs_table.c.succeeded)
                .order_by(runs_table.c.run_id.desc()).limit(1)).first()
            return None if row is None else self._baseline(connection, row)

    def successful_run(self, run_id: int) -> dict:
        """Run `run_id` as a baseline (the keys of :meth:`latest_success`); HistoryError (exit
        2) when there is no such run or it did not succeed (it has no plan to start from)."""
        with self._reading(f"read run {run_id}") as connection:
            row = connection.execute(select(*_BASELINE_COLUMNS, runs_table.c.succeeded,
                                            runs_table.c.status)
                                     .where(runs_table.c.run_id == int(run_id))).first()
            if row is None:
                raise _unknown(self, run_id)
            if not row.succeeded:
                raise HistoryError(f"History {self.target}: run {run_id} ended '{row.status}' "
                                   "and has no plan to re-plan from; name a successful run "
                                   "(`planner runs --history ...` lists them).")
            return self._baseline(connection, row)

    def _baseline(self, connection, row) -> dict:
        return {"run_id": int(row.run_id), "scenario": row.scenario,
                "decisions": self._decisions(connection, row.run_id),
                "objective": row.objective, "started": records.iso(row.started),
                "input_hash": row.input_hash, "footprint": row.footprint}

    def count(self) -> int:
        """How many runs are recorded."""
        with self._reading("count the runs") as connection:
            return int(connection.execute(select(func.count()).select_from(runs_table)).scalar())

    @staticmethod
    def _decisions(connection, run_id: int):
        rows = connection.execute(select(decisions_table)
                                  .where(decisions_table.c.run_id == int(run_id))).all()
        return records.decisions_frame(rows)

    # --- connections ---------------------------------------------------------------------------
    def _reading(self, doing: str):
        return self._transaction(doing, write=False)

    def _writing(self, doing: str):
        return self._transaction(doing, write=True)

    @contextmanager
    def _transaction(self, doing: str, write: bool):
        """One transaction on a connection of its own, committed when the block ends; database
        errors become one HistoryError saying what was being done."""
        with wrapped(self.target, doing):
            with self._engine.connect() as connection:
                if write:   # SQLite: BEGIN IMMEDIATE, waiting up to the busy timeout
                    connection.execution_options(**{WRITE: True})
                with connection.begin():
                    yield connection

    def close(self) -> None:
        """Release the locks still held and close the connections."""
        while self._held:
            self._held[-1].__exit__(None, None, None)
        self._engine.dispose()

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"History({self.target!r})"


class _ScenarioLock:
    """The lock of one scenario on one history (see History.lock)."""

    def __init__(self, history: History, scenario: str, wait: float):
        self.history, self.scenario, self.wait = history, str(scenario), float(wait)
        target = history._target
        self.lock: FileLock | AdvisoryLock
        if target.sqlite_file is not None:
            self.lock = FileLock(target.sqlite_file, self.scenario, target.shown)
        else:
            self.lock = AdvisoryLock(history.engine, history._namespace, self.scenario,
                                     target.shown)
        self.interrupted = 0   # runs marked interrupted on entry

    def __enter__(self) -> _ScenarioLock:
        with wrapped(self.history.target, f"lock scenario '{self.scenario}'"):
            self.lock.acquire(self.wait)
        try:
            self.interrupted = self.history._mark_interrupted(self.scenario)
        except BaseException:
            self.lock.release()
            raise
        self.history._held.append(self)
        return self

    def __exit__(self, *exc) -> None:
        if self in self.history._held:
            self.history._held.remove(self)
        with wrapped(self.history.target, f"unlock scenario '{self.scenario}'"):
            self.lock.release()


_BASELINE_COLUMNS = (runs_table.c.run_id, runs_table.c.scenario, runs_table.c.objective,
                     runs_table.c.started, runs_table.c.input_hash, runs_table.c.footprint)


def _new_run(scenario: str, input_hash, options, versions, command: str) -> dict:
    """The columns of a run as it starts."""
    return {"scenario": str(scenario), "started": records.now(), "status": "running",
            "succeeded": False, "command": command, "input_hash": input_hash,
            "options": records.plain(options or {}), "versions": records.plain(versions or {})}


def _listed(row) -> dict:
    found = {name: row[name] for name in LISTED}
    found["started"], found["ended"] = records.iso(row["started"]), records.iso(row["ended"])
    found["succeeded"] = bool(row["succeeded"])
    return found


def _unknown(history: History, run_id) -> HistoryError:
    return HistoryError(f"History {history.target}: there is no run {run_id}; "
                        "`planner runs --history ...` lists the recorded runs.")

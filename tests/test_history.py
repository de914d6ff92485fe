"""The run history (planner.history) on real databases: a SQLite file in a temporary folder and,
when PLANNER_TEST_POSTGRES_URL names one, a real PostgreSQL server (each test in a schema of its
own, dropped afterwards). Without that variable the PostgreSQL cases skip — unless
PLANNER_REQUIRE_POSTGRES=1 (as in .ci/run), where they fail, so CI never skips them silently.

Nothing is mocked: locks are real flocks and advisory locks, concurrency is real processes,
"killed" is SIGKILL."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from helpers import POSTGRES_URL, integrity_ok
from planner.errors import PlannerError
from planner.history import History, HistoryError, HistoryLocked, migrate, open_history
from planner.history.locks import scenario_key
from planner.history.store import INTERRUPTED
from planner.history.target import make_engine, parse_target
from planner.model.decisions import normalise

ROOT = Path(__file__).resolve().parents[1]
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
LISTED = {"run_id", "started", "ended", "scenario", "status", "succeeded", "objective", "bound",
          "mip_gap", "changes", "baseline_run", "input_hash", "message"}

DECISIONS = pd.DataFrame(  # deliberately unsorted, with both spellings of "no from_site"
    [("outreach_days", "S_T1", "neurology", None, 12),
     ("relocated", "S_T2", "CT", "S_C", 1),
     ("new_units", "S_T1", "CT", np.nan, 1),
     ("new_units", "S_C", "MRI", "", 2)],
    columns=["decision", "site_id", "resource", "from_site", "amount"])
TRANSFERS = pd.DataFrame({
    "member": ["M_TOWN", "M_COUNTY"], "standalone_cost": [2.0e6, 5.5e6],
    "borne_cost": [1.9e6, 5.0e6], "allocation": [0.1e6, 0.5e6], "transfer": [-25.5, 25.5],
    "final_cost": [1.9e6, 5.0e6], "gain": [0.1e6, np.nan]})


# --- targets: a SQLite file, or a fresh schema on the PostgreSQL server -------------------------
@pytest.fixture(params=["sqlite", "postgres"])
def target(request, tmp_path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "runs.sqlite")
    return request.getfixturevalue("postgres_target")


@pytest.fixture
def history(target):
    h = open_history(target)
    yield h
    h.close()


def record_success(h: History, scenario="tiny", decisions=DECISIONS, **values) -> int:
    run_id = h.start_run(scenario=scenario, input_hash="hash-1", options={"seed": 0},
                         versions={"planner": "test"})
    h.finish_run(run_id, status="optimal", succeeded=True, objective=1.0e6, bound=1.0e6,
                 mip_gap=0.0, kpis={"in_county_rate": 0.9}, decisions=decisions, **values)
    return run_id


# --- recording and reading ----------------------------------------------------------------------
def test_a_new_history_is_empty_at_the_newest_revision(history):
    assert history.runs() == [] and history.count() == 0
    assert history.latest_success("tiny") is None
    with history.engine.connect() as connection:
        assert migrate.current_revision(connection) == migrate.head_revision() == "0005"


def test_tables_py_matches_the_schema_the_migrations_build(history):
    """planner/history/tables.py (used by the queries) describes what the migrations create."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from planner.history.tables import metadata
    with history.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        differences = compare_metadata(context, metadata)
    # SQLite does not reflect named foreign keys and CHECK constraints the same way; columns,
    # tables and indexes must match everywhere.
    relevant = [d for d in differences
                if d[0] in ("add_table", "remove_table", "add_column", "remove_column",
                            "add_index", "remove_index")]
    assert relevant == []


def test_a_run_round_trips_with_its_decisions_transfers_and_json(history):
    run_id = history.start_run(scenario="tiny", input_hash="a" * 64,
                               options={"time_limit": np.float64(30.0), "threads": np.int64(1),
                                        "out": Path("/srv/plans"), "tolerance": None},
                               versions={"planner": "0.1.0", "highs": "1.16.0"})
    assert isinstance(run_id, int)
    running = history.runs()[0]
    assert running["status"] == "running" and running["ended"] is None
    assert running["succeeded"] is False
    history.finish_run(run_id, status="optimal", succeeded=True, message=None,
                       objective=np.float64(12_345_678.9), bound=12_300_000.0, mip_gap=0.0037,
                       kpis={"in_county_rate": 0.91, "unmet": float("nan"),
                             "costs": {"capital": 1.5e6}},
                       decisions=DECISIONS, changes=np.int64(7), baseline_run=None,
                       sharing={"rule": "shapley", "in_core": True}, transfers=TRANSFERS)
    [listed] = history.runs()
    assert LISTED <= set(listed)
    assert listed["run_id"] == run_id and listed["scenario"] == "tiny"
    assert listed["status"] == "optimal" and listed["succeeded"] is True
    assert listed["objective"] == pytest.approx(12_345_678.9)
    assert listed["mip_gap"] == pytest.approx(0.0037) and listed["changes"] == 7
    assert listed["input_hash"] == "a" * 64 and listed["message"] is None
    assert ISO_UTC.match(listed["started"]) and ISO_UTC.match(listed["ended"])
    assert listed["started"] <= listed["ended"]
    json.dumps(history.runs())   # what `planner runs --json` prints

    record = history.run(run_id)
    assert record["options"] == {"time_limit": 30.0, "threads": 1, "out": "/srv/plans",
                                 "tolerance": None}
    assert record["versions"] == {"planner": "0.1.0", "highs": "1.16.0"}
    assert record["kpis"] == {"in_county_rate": 0.91, "unmet": None,
                              "costs": {"capital": 1.5e6}}
    assert record["sharing"] == {"rule": "shapley", "in_core": True}
    expected = normalise(DECISIONS)   # the order and types of a plan's decisions.csv
    assert list(expected["decision"]) == ["new_units", "new_units", "relocated", "outreach_days"]
    pd.testing.assert_frame_equal(record["decisions"], expected)
    pd.testing.assert_frame_equal(history.decisions(run_id), expected)
    assert list(record["decisions"]["from_site"]) == ["", "", "S_C", ""]
    pd.testing.assert_frame_equal(record["transfers"], TRANSFERS)   # given order, NaN kept


def test_chinese_names_round_trip(history):
    """Scenario, site and member names are often Chinese (the database is UTF-8 in .ci/run)."""
    name = "天长市县域医共体"
    decisions = pd.DataFrame([("relocated", "天长_乡镇卫生院", "CT", "天长_人民医院", 1)],
                             columns=DECISIONS.columns)
    transfers = TRANSFERS.assign(member=["乡镇卫生院", "县医院"])
    with history.lock(name, wait=0):
        run_id = history.start_run(scenario=name, options={"说明": "季度"})
        history.finish_run(run_id, status="optimal", succeeded=True, message="已发布",
                           decisions=decisions, transfers=transfers)
    record = history.run(run_id)
    assert record["scenario"] == name and record["message"] == "已发布"
    assert record["options"] == {"说明": "季度"}
    pd.testing.assert_frame_equal(record["decisions"], normalise(decisions))
    pd.testing.assert_frame_equal(record["transfers"], transfers)
    assert history.latest_success(name)["run_id"] == run_id


def test_a_failed_run_has_a_message_and_no_decisions(history):
    run_id = history.start_run(scenario="tiny", input_hash=None)
    history.finish_run(run_id, status="infeasible", succeeded=False,
                       message="The scenario has no feasible plan.\n  - zone Z1: ...")
    record = history.run(run_id)
    assert record["status"] == "infeasible" and record["succeeded"] is False
    assert record["message"].startswith("The scenario has no feasible plan.")
    assert record["objective"] is None and record["kpis"] is None
    assert list(record["decisions"].columns) == ["decision", "site_id", "resource", "from_site",
                                                  "amount"]
    assert record["decisions"].empty and record["transfers"] is None
    assert history.latest_success("tiny") is None


def test_latest_success_is_the_newest_succeeded_run_of_that_scenario(history):
    first = record_success(history)
    failed = history.start_run(scenario="tiny")
    history.finish_run(failed, status="no_plan", succeeded=False, message="time limit")
    history.start_run(scenario="tiny")                    # still running: never a baseline
    record_success(history, scenario="another county")    # another scenario name
    base = history.latest_success("tiny")
    assert base["run_id"] == first
    pd.testing.assert_frame_equal(base["decisions"], normalise(DECISIONS))
    second = record_success(history, decisions=DECISIONS.iloc[:1], changes=3, baseline_run=first)
    base = history.latest_success("tiny")
    assert base["run_id"] == second and len(base["decisions"]) == 1
    assert history.run(second)["baseline_run"] == first
    assert [r["run_id"] for r in history.runs()] == [1, 2, 3, 4, 5]   # oldest first
    assert [r["run_id"] for r in history.runs(scenario="tiny")] == [1, 2, 3, 5]


def test_malformed_decisions_are_refused_before_anything_is_written(history):
    run_id = history.start_run(scenario="tiny")
    bad = {"unknown kind": ("bought", "S_C", "CT", "", 1),
           "zero amount": ("new_units", "S_C", "CT", "", 0),
           "fractional amount": ("new_units", "S_C", "CT", "", 1.5),
           "from_site on new_units": ("new_units", "S_C", "CT", "S_T1", 1),
           "relocation without from_site": ("relocated", "S_C", "CT", "", 1)}
    for row in bad.values():
        frame = pd.DataFrame([row], columns=DECISIONS.columns)
        with pytest.raises(ValueError):
            history.finish_run(run_id, status="optimal", succeeded=True, decisions=frame)
    with pytest.raises(ValueError, match="twice"):
        history.finish_run(run_id, status="optimal", succeeded=True,
                           decisions=pd.concat([DECISIONS, DECISIONS.iloc[:1]]))
    assert history.run(run_id)["status"] == "running"


def test_an_unknown_run_id_is_a_history_error(history):
    record_success(history)
    for call in (lambda: history.run(99), lambda: history.decisions(99),
                 lambda: history.finish_run(99, status="optimal", succeeded=True)):
        with pytest.raises(HistoryError, match="no run 99") as caught:
            call()
        assert caught.value.exit_code == 2


# --- locks ----------------------------------------------------------------------------------------
def test_the_lock_is_per_scenario(target):
    first, second = open_history(target), open_history(target)
    try:
        with first.lock("tiny", wait=0):
            start = time.monotonic()
            with pytest.raises(HistoryLocked) as caught:
                with second.lock("tiny", wait=0.3):
                    pass
            waited = time.monotonic() - start
            assert 0.3 <= waited < 3
            assert isinstance(caught.value, PlannerError) and caught.value.exit_code == 5
            message = str(caught.value)
            assert "'tiny'" in message and f"pid {os.getpid()}" in message and "--wait" in message
            with second.lock("another county", wait=0):   # other scenarios never wait
                pass
        with second.lock("tiny", wait=0):                 # released on exit
            pass
    finally:
        first.close()
        second.close()


def test_a_waiting_run_gets_the_lock_when_it_is_released(target):
    first, second = open_history(target), open_history(target)
    try:
        held = first.lock("tiny", wait=0)
        held.__enter__()   # as planner.job does
        threading.Timer(0.4, held.__exit__, (None, None, None)).start()
        start = time.monotonic()
        with second.lock("tiny", wait=20):
            assert 0.35 <= time.monotonic() - start < 10
    finally:
        first.close()
        second.close()


def test_taking_the_lock_marks_dead_runs_of_that_scenario_interrupted(history):
    done = record_success(history)
    dead = history.start_run(scenario="tiny")             # its process died: nobody holds the lock
    other = history.start_run(scenario="another county")
    with history.lock("tiny", wait=0) as lock:
        assert lock.interrupted == 1
    runs = {r["run_id"]: r for r in history.runs()}
    assert runs[dead]["status"] == "interrupted" and runs[dead]["succeeded"] is False
    assert runs[dead]["message"] == INTERRUPTED
    assert runs[other]["status"] == "running"             # another scenario's lock, not ours
    assert runs[done]["status"] == "optimal"
    assert history.latest_success("tiny")["run_id"] == done


def test_scenario_keys_are_stable_64_bit_hashes():
    """The same in every process (SHA-256, not Python's seeded hash()), PostgreSQL's bigint."""
    key = scenario_key("Tianchang county")
    assert key == 8114948962220744275   # computed once; must never change between releases
    keys = [scenario_key(f"county {n}") for n in range(64)]
    assert all(-2**63 <= k < 2**63 for k in keys) and min(keys) < 0 < max(keys)   # signed
    assert scenario_key("Tianchang county") != scenario_key("Tianchang county 2")
    assert scenario_key("x", "schema_a") != scenario_key("x", "schema_b")
    other_process = subprocess.run(
        [sys.executable, "-c", "import hashlib,sys; d=hashlib.sha256(b'\\0Tianchang county')"
         ".digest(); print(int.from_bytes(d[:8], 'big', signed=True))"],
        capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "123"}, check=True)
    assert int(other_process.stdout) == key


# --- SQLite specifics -----------------------------------------------------------------------------
def test_sqlite_connections_use_wal_a_busy_timeout_and_foreign_keys(tmp_path):
    h = open_history(tmp_path / "runs.sqlite")
    try:
        with h.engine.connect() as connection:
            pragma = {name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()
                      for name in ("journal_mode", "busy_timeout", "foreign_keys")}
        assert pragma == {"journal_mode": "wal", "busy_timeout": 30000, "foreign_keys": 1}
        with pytest.raises(sa.exc.IntegrityError):   # a decision of a run that does not exist
            with h.engine.begin() as connection:
                connection.exec_driver_sql(
                    "INSERT INTO decisions VALUES (99, 'new_units', 'S_C', 'CT', '', 1)")
    finally:
        h.close()
    assert integrity_ok(tmp_path / "runs.sqlite")


def test_sqlite_readers_are_not_blocked_by_a_writer(tmp_path):
    """WAL: `planner runs` (open + read) goes ahead while another process holds a write
    transaction, and sees only committed runs."""
    path = tmp_path / "runs.sqlite"
    with open_history(path) as h:
        record_success(h)
    writer = sqlite3.connect(path, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("UPDATE runs SET message = 'not committed'")
        start = time.monotonic()
        with open_history(path) as h:
            [run] = h.runs()
        assert time.monotonic() - start < 5 and run["message"] is None
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_sqlite_paths_and_urls_name_the_same_history(tmp_path):
    path = tmp_path / "runs.sqlite"
    with open_history(path) as h:
        record_success(h)
    with open_history(f"sqlite:///{path}") as h:
        assert [r["run_id"] for r in h.runs()] == [1]


# --- schema revisions -----------------------------------------------------------------------------
OLD_RUNS = sa.table("runs", sa.column("run_id", sa.Integer), sa.column("scenario", sa.String),
                    sa.column("started", sa.DateTime(timezone=True)),
                    sa.column("ended", sa.DateTime(timezone=True)),
                    sa.column("status", sa.String), sa.column("input_hash", sa.String),
                    sa.column("options", sa.JSON), sa.column("objective", sa.Float),
                    sa.column("decisions_json", sa.JSON), sa.column("message", sa.Text))


def test_opening_an_older_history_upgrades_it_and_keeps_its_runs(target):
    """A history written at revision 0001 (decisions as a JSON list in runs) is upgraded when
    opened: its runs are listed, the finished one is a baseline with its decisions as rows."""
    parsed = parse_target(target)
    engine = make_engine(parsed)
    migrate.upgrade(engine, parsed.shown, revision="0001")
    old_decisions = [{"decision": "new_units", "site_id": "S_C", "resource": "MRI",
                      "from_site": None, "amount": 1},
                     {"decision": "relocated", "site_id": "S_T2", "resource": "CT",
                      "from_site": "S_C", "amount": 1}]
    started = pd.Timestamp("2026-01-01T02:30:00Z").to_pydatetime()
    ended = pd.Timestamp("2026-01-01T02:31:00Z").to_pydatetime()
    with engine.begin() as connection:
        connection.execute(OLD_RUNS.insert(), [
            {"scenario": "tiny", "started": started, "ended": ended, "status": "optimal",
             "input_hash": "old", "options": {"seed": 0}, "objective": 9.5e6,
             "decisions_json": old_decisions, "message": None},
            {"scenario": "tiny", "started": ended, "ended": ended, "status": "infeasible",
             "input_hash": "old", "options": {}, "objective": None, "decisions_json": None,
             "message": "no feasible plan"}])
    engine.dispose()

    with open_history(target) as h:
        with h.engine.connect() as connection:
            assert migrate.current_revision(connection) == "0005"
        runs = h.runs()
        assert [(r["run_id"], r["status"], r["succeeded"]) for r in runs] == [
            (1, "optimal", True), (2, "infeasible", False)]
        assert runs[0]["started"] == "2026-01-01T02:30:00.000Z"
        assert runs[0]["objective"] == 9.5e6 and runs[1]["message"] == "no feasible plan"
        assert h.run(1)["options"] == {"seed": 0}
        base = h.latest_success("tiny")
        assert base["run_id"] == 1
        pd.testing.assert_frame_equal(base["decisions"], normalise(pd.DataFrame(old_decisions)))
        third = record_success(h, baseline_run=1, changes=2)
        assert h.run(third)["baseline_run"] == 1

        # and back: 0002 -> 0001 puts the decisions of succeeded runs back into the JSON column
        migrate.downgrade(h.engine, "0001")
        with h.engine.connect() as connection:
            back = connection.execute(sa.select(OLD_RUNS.c.run_id, OLD_RUNS.c.decisions_json)
                                      .order_by(OLD_RUNS.c.run_id)).all()
        assert [(r, len(d) if d else None) for r, d in back] == [(1, 2), (2, None), (3, 4)]
    with open_history(target) as h:   # and up again
        assert [r["succeeded"] for r in h.runs()] == [True, False, True]
        assert len(h.decisions(3)) == 4


def test_a_history_from_a_newer_planner_is_refused(target):
    with open_history(target) as h:
        record_success(h)
        with h.engine.begin() as connection:
            connection.execute(sa.text("UPDATE alembic_version SET version_num = '0099'"))
    with pytest.raises(HistoryError) as caught:
        open_history(target)
    message = str(caught.value)
    assert "0099" in message and "newer planner" in message and "Upgrade the planner" in message
    assert caught.value.exit_code == 2


# --- targets that are not histories ---------------------------------------------------------------
def assert_one_paragraph(err: HistoryError, *fragments: str) -> None:
    text = str(err)
    assert err.exit_code == 2
    assert "Traceback" not in text and "sqlalchemy" not in text.lower()
    assert "[SQL:" not in text and "(Background on this error" not in text
    for fragment in fragments:
        assert fragment in text, text


def test_a_file_that_is_not_a_database_is_refused(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("these are my notes, not a database\n" * 200)
    with pytest.raises(HistoryError) as caught:
        open_history(path)
    assert_one_paragraph(caught.value, str(path), "not a SQLite database")
    assert path.read_text() == "these are my notes, not a database\n" * 200


def test_another_applications_database_is_not_written_into(tmp_path):
    path = tmp_path / "clinic.sqlite"
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE patients (id INTEGER PRIMARY KEY, name TEXT)")
    connection.commit()
    connection.close()
    with pytest.raises(HistoryError) as caught:
        open_history(path)
    assert_one_paragraph(caught.value, str(path), "patients", "not a planner run history")
    connection = sqlite3.connect(path)
    tables = {r[0] for r in connection.execute("SELECT name FROM sqlite_master")}
    connection.close()
    assert tables == {"patients"}


def test_folders_missing_folders_and_in_memory_databases_are_refused(tmp_path):
    cases = {tmp_path: "is a folder",
             tmp_path / "missing" / "runs.sqlite": "does not exist",
             "sqlite://": "in-memory",
             "sqlite:///:memory:": "in-memory"}
    for given, fragment in cases.items():
        with pytest.raises(HistoryError) as caught:
            open_history(given)
        assert_one_paragraph(caught.value, fragment)
    assert not (tmp_path / "missing").exists()


def test_bad_urls_are_explained_with_the_password_masked():
    cases = {
        # nothing listens on port 1 of this machine: the connection is refused at once
        "postgresql+psycopg://planner:s3cret-pw@127.0.0.1:1/planner_test": "could not open",
        "postgresql://planner:s3cret-pw@127.0.0.1:1/planner_test": "could not open",
        "mysql://planner:s3cret-pw@127.0.0.1/planner": "not supported",
        "://planner:s3cret-pw@nowhere": "not a database URL",
        "postgresql+nosuchdriver://planner:s3cret-pw@127.0.0.1:1/x": "planner:***@",
    }
    for url, fragment in cases.items():
        with pytest.raises(HistoryError) as caught:
            open_history(url)
        assert_one_paragraph(caught.value, fragment)
        assert "s3cret-pw" not in str(caught.value)


def test_a_wrong_postgres_password_is_explained(postgres_server):
    url = sa.make_url(POSTGRES_URL).set(password="wrong-password")
    with pytest.raises(HistoryError) as caught:
        open_history(url.render_as_string(hide_password=False))
    assert_one_paragraph(caught.value, "password", "***")
    assert "wrong-password" not in str(caught.value)


def test_revision_0005_lets_a_run_record_hired_radiologists(target):
    """A history at revision 0004 refuses a hire (its check names three kinds); opened, it is
    upgraded and records one next to the other kinds; downgraded, the hires go, the rest stay."""
    parsed = parse_target(target)
    engine = make_engine(parsed)
    migrate.upgrade(engine, parsed.shown, revision="0004")
    with engine.begin() as connection:
        connection.execute(sa.text(
            "INSERT INTO runs (scenario, started, status, succeeded) VALUES "
            "('tiny', CURRENT_TIMESTAMP, 'optimal', true)"))
    with pytest.raises(sa.exc.IntegrityError):   # the database itself refuses the new kind
        with engine.begin() as connection:
            connection.execute(sa.text(
                "INSERT INTO decisions VALUES (1, 'hired_radiologists', 'S_C', 'radiologists', "
                "'', 2)"))
    engine.dispose()
    hires = pd.concat([DECISIONS, pd.DataFrame(
        [("hired_radiologists", "S_C", "radiologists", None, 2)], columns=DECISIONS.columns)])
    with open_history(target) as h:
        run_id = record_success(h, decisions=hires)
        stored = h.latest_success("tiny")["decisions"]
        assert stored.loc[stored.decision == "hired_radiologists", "amount"].tolist() == [2]
        assert stored["decision"].tolist()[-1] == "hired_radiologists"   # the last kind
        with pytest.raises(sa.exc.IntegrityError):   # and still only the known kinds
            with h.engine.begin() as connection:
                connection.execute(sa.text(
                    "INSERT INTO decisions VALUES (:run, 'fired', 'S_C', 'x', '', 1)"),
                    {"run": run_id})
        migrate.downgrade(h.engine, "0004")
        with h.engine.connect() as connection:
            kinds = connection.execute(sa.text(
                "SELECT decision FROM decisions WHERE run_id = :run"), {"run": run_id}).scalars()
            assert sorted(kinds) == sorted(DECISIONS["decision"])


def test_the_migrations_ship_with_the_package():
    """pyproject.toml lists every package of planner.history and alembic's template, so that a
    plain `pip install .` can upgrade histories."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    history = ROOT / "planner" / "history"
    packages = {"planner." + ".".join(p.parent.relative_to(ROOT / "planner").parts)
                for p in history.rglob("__init__.py")}
    assert packages <= set(config["packages"])
    assert "script.py.mako" in config["package-data"]["planner.history.migrations"]
    assert {p.name for p in (history / "migrations" / "versions").glob("0*.py")} == {
        "0001_runs.py", "0002_decisions_transfers.py", "0003_coalition_values.py",
        "0004_run_footprint.py", "0005_decision_kind_hires.py"}
    dependencies = " ".join(tomllib.loads((ROOT / "pyproject.toml").read_text())
                            ["project"]["dependencies"])
    for name in ("sqlalchemy", "alembic", "psycopg[binary]"):
        assert name in dependencies


# --- real processes: concurrency and SIGKILL ------------------------------------------------------
# The child imports planner.history without planner/__init__ (which loads the solver stack and
# takes seconds): a bare package object whose __path__ is planner's folder.
CHILD = textwrap.dedent("""
    import importlib.util, json, sys, time, types
    spec = importlib.util.find_spec("planner")
    package = types.ModuleType("planner")
    package.__path__ = list(spec.submodule_search_locations)
    sys.modules["planner"] = package
    import pandas as pd
    from planner.history import HistoryLocked, open_history

    args = json.loads(sys.argv[1])
    decisions = pd.DataFrame([("new_units", "S_C", "CT", "", 1)],
                             columns=["decision", "site_id", "resource", "from_site", "amount"])

    def say(*words):
        print(*words, flush=True)

    h = open_history(args["target"])
    try:
        lock = h.lock(args["scenario"], wait=args["wait"])
        lock.__enter__()
    except HistoryLocked as err:
        run_id = h.start_run(scenario=args["scenario"])
        h.finish_run(run_id, status="locked", succeeded=False, message=str(err))
        say("locked", run_id)
        sys.exit(err.exit_code)
    run_id = h.start_run(scenario=args["scenario"], input_hash="child")
    say("started", run_id)
    if args["stop"] == "before_finish":
        say("ready")
        time.sleep(120)
    if args["stop"] == "in_finish":
        from sqlalchemy import event

        def pause(connection, cursor, statement, *rest):
            if statement.startswith("INSERT INTO decisions"):   # the run row is updated by now
                say("ready")
                time.sleep(120)
        event.listen(h.engine, "before_cursor_execute", pause)
    if args["hold"] == "stdin":   # until the test says so
        sys.stdin.readline()
    else:
        time.sleep(args["hold"])
    h.finish_run(run_id, status="optimal", succeeded=True, objective=1.0, decisions=decisions)
    lock.__exit__(None, None, None)
    h.close()
    say("finished", run_id)
""")


def child(target: str, scenario="tiny", wait=0.0, hold=0.0, stop=None) -> subprocess.Popen:
    """A process that opens the history, locks `scenario` (waiting up to `wait` s), records a
    run, holds the lock `hold` seconds (or until a line on its stdin) and finishes the run; or
    stops for good (`stop`) before finish_run or inside its transaction, to be killed."""
    arguments = json.dumps({"target": target, "scenario": scenario, "wait": wait, "hold": hold,
                            "stop": stop})
    return subprocess.Popen([sys.executable, "-c", CHILD, arguments], cwd=ROOT,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_for_line(process: subprocess.Popen, word: str, timeout: float = 30) -> str:
    """Read the child's stdout until a line starting with `word` (it prints as it goes)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if line.startswith(word):
            return line
        if not line and process.poll() is not None:
            break
    process.kill()
    _, err = process.communicate()
    raise AssertionError(f"child never said {word!r}: {err}")


def test_two_processes_on_one_new_history_take_turns(target):
    """Both open a history that does not exist yet (one creates the schema, the other waits for
    it), then lock the same scenario: the second waits for the first; both runs are recorded and
    do not overlap."""
    processes = [child(target, wait=30, hold=0.5) for _ in range(2)]
    for process in processes:
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        assert "finished" in out
    with open_history(target) as h:
        runs = h.runs()
    assert [(r["status"], r["succeeded"]) for r in runs] == [("optimal", True)] * 2
    first, second = sorted(runs, key=lambda r: r["started"])
    assert first["ended"] <= second["started"]   # the second ran only after the first finished
    if parse_target(target).sqlite_file is not None:
        assert integrity_ok(target)


def test_a_second_process_gives_up_after_its_wait(target):
    holder = child(target, wait=0, hold="stdin")
    wait_for_line(holder, "started")
    late = child(target, wait=0.3)
    out, err = late.communicate(timeout=60)
    assert late.returncode == 5, err
    assert out.startswith("locked")
    with open_history(target) as h:                     # other scenarios still go ahead
        with h.lock("another county", wait=0):
            pass
    out, err = holder.communicate("go\n", timeout=60)
    assert holder.returncode == 0, err
    with open_history(target) as h:
        runs = h.runs()
        statuses = sorted(r["status"] for r in runs)
        assert statuses == ["locked", "optimal"]
        locked = next(r for r in runs if r["status"] == "locked")
        assert "locked by another run of scenario 'tiny'" in locked["message"]
    if parse_target(target).sqlite_file is not None:
        assert integrity_ok(target)


@pytest.mark.parametrize("stop", ["before_finish", "in_finish"])
def test_a_run_killed_mid_way_leaves_the_history_readable(target, stop):
    """SIGKILL a run that holds the lock, either between start_run and finish_run or inside
    finish_run's transaction (run row updated, decisions not yet inserted): the earlier runs are
    intact, the killed run is still "running" with nothing of its end recorded, and the next run
    takes the lock at once, marks it interrupted and records normally."""
    with open_history(target) as h:
        earlier = record_success(h)
    victim = child(target, wait=10, stop=stop)
    victim_run = int(wait_for_line(victim, "started").split()[1])
    wait_for_line(victim, "ready")
    victim.send_signal(signal.SIGKILL)
    victim.communicate(timeout=30)
    assert victim.returncode == -signal.SIGKILL

    with open_history(target) as h:
        runs = {r["run_id"]: r for r in h.runs()}
        assert runs[earlier]["status"] == "optimal"
        pd.testing.assert_frame_equal(h.decisions(earlier), normalise(DECISIONS))
        assert runs[victim_run]["status"] == "running" and runs[victim_run]["ended"] is None
        assert h.decisions(victim_run).empty
        with h.lock("tiny", wait=10) as lock:            # the dead holder's lock is gone
            assert lock.interrupted == 1
            assert h.latest_success("tiny")["run_id"] == earlier
            after = record_success(h, baseline_run=earlier, changes=0)
        runs = {r["run_id"]: r for r in h.runs()}
        assert runs[victim_run]["status"] == "interrupted"
        assert runs[victim_run]["message"] == INTERRUPTED
        assert runs[after]["succeeded"] and h.latest_success("tiny")["run_id"] == after
    if parse_target(target).sqlite_file is not None:
        assert integrity_ok(target)

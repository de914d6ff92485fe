"""The coalition store (planner/sharing/store.py): values of C(S) that survive a killed run.

Real SQLite files, real child processes killed with SIGKILL, and — when PLANNER_TEST_POSTGRES_URL
names one (as .ci/run does) — a real PostgreSQL server, each test in a schema of its own.
"""

from __future__ import annotations

import itertools
import os
import signal
import sqlite3
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from helpers import TINY, integrity_ok, write_scenario
from planner.errors import PlannerError
from planner.history import migrate, open_history
from planner.history.target import make_engine, parse_target
from planner.scenario.loading import load_scenario
from planner.sharing.coalitions import CoalitionCost, CoalitionValues
from planner.sharing.store import (
    APPLICATION_ID,
    GAME_FORMAT,
    CoalitionStore,
    CoalitionStoreError,
    coalition_values,
    game_key,
)

ROOT = Path(__file__).resolve().parents[1]

# Floats that a text or float32 detour would change: all must come back bit for bit.
AWKWARD = [0.1 + 0.2, 1e15 + 0.5, 2.0 ** 53, 5e-324, 1.7976931348623157e308, -123.456789012345,
           1 / 3]


def cost(members, value, status="optimal", bound=None, terms=()) -> CoalitionCost:
    return CoalitionCost(frozenset(members), value, status, value if bound is None else bound,
                         tuple(terms))


def bits(x: float) -> bytes:
    return struct.pack("<d", x)


def same(a: CoalitionCost, b: CoalitionCost) -> bool:
    """Equal field by field, floats bit for bit (== would let -0.0 / 0.0 and float32 slip)."""
    def number(x):
        return None if x is None else bits(x)
    return (a.coalition == b.coalition and bits(a.cost) == bits(b.cost)
            and a.status == b.status and number(a.bound) == number(b.bound)
            and [(t, bits(v)) for t, v in a.terms] == [(t, bits(v)) for t, v in b.terms])


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


# --- targets: a SQLite file, or a fresh schema on the PostgreSQL server ---------------------------
@pytest.fixture(params=["sqlite", "postgres"])
def target(request, tmp_path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "costs.sqlite")
    return request.getfixturevalue("postgres_target")


# --- values ---------------------------------------------------------------------------------------
def test_values_round_trip_exactly_with_their_terms(target):
    written = [cost(["M_COUNTY"], AWKWARD[0], terms=[("capital", AWKWARD[1]), ("travel", 0.0)]),
               cost(["M_TOWN", "M_COUNTY"], AWKWARD[1], "time_limit", bound=AWKWARD[2],
                    terms=[("outreach", AWKWARD[3]), ("capital", AWKWARD[4])]),
               cost(["县医院", "乡镇, \"卫生院\"", "a\x1fb"], AWKWARD[5], bound=float("-inf"),
                    terms=[("penalty", AWKWARD[6])]),
               CoalitionCost(frozenset({"M_X"}), 7.0, "optimal", None, ()),
               cost([], 0.0)]
    with CoalitionStore.open(target, "game-1") as store:
        assert store.load() == {}
        store.add(written[:2])
        store.add(written[2:])
    with CoalitionStore.open(target, "game-1") as store:
        found = store.load()
    assert set(found) == {c.coalition for c in written}
    for item in written:
        assert same(found[item.coalition], item), (found[item.coalition], item)
    assert found[frozenset({"M_X"})].bound is None
    # the terms keep their order (the ledger's), as a tuple of (str, float) pairs
    assert found[written[1].coalition].terms == (("outreach", 5e-324),
                                                 ("capital", 1.7976931348623157e308))


def test_costs_are_stored_as_real_numbers_not_text(tmp_path):
    path = tmp_path / "costs.sqlite"
    with CoalitionStore.open(path, "g") as store:
        store.add([cost([f"m{k}"], x) for k, x in enumerate(AWKWARD)])
    connection = sqlite3.connect(path)
    types = {r[0] for r in connection.execute(
        "SELECT typeof(cost) FROM coalition_values UNION SELECT typeof(bound) FROM "
        "coalition_values")}
    connection.close()
    assert types == {"real"}


def test_each_game_key_sees_only_its_own_values(target):
    with CoalitionStore.open(target, "game-A") as a, CoalitionStore.open(target, "game-B") as b:
        a.add([cost(["M1"], 1.0), cost(["M1", "M2"], 3.0)])
        b.add([cost(["M1"], 10.0), cost(["M3"], 30.0)])
    with CoalitionStore.open(target, "game-A") as a:
        assert {c: v.cost for c, v in a.load().items()} == {
            frozenset({"M1"}): 1.0, frozenset({"M1", "M2"}): 3.0}
    with CoalitionStore.open(target, "game-B") as b:
        assert {c: v.cost for c, v in b.load().items()} == {
            frozenset({"M1"}): 10.0, frozenset({"M3"}): 30.0}
    with CoalitionStore.open(target, "game-C") as c:
        assert c.load() == {}


def test_adding_a_stored_coalition_again_keeps_one_row_with_the_latest_value(target):
    with CoalitionStore.open(target, "g") as store:
        store.add([cost(["B", "A"], 5.0, "time_limit", bound=4.0)])
        store.add([cost(["A", "B"], 4.5, "optimal")])        # same coalition, other order
        store.add([cost(["A", "B"], 4.5, "optimal")])        # and once more: a no-op
        store.add([])
        assert store.load() == {frozenset({"A", "B"}): cost(["A", "B"], 4.5)}
        with store._engine.connect() as connection:
            assert connection.execute(sa.select(sa.func.count()).select_from(
                coalition_values)).scalar() == 1


def test_a_batch_with_a_nan_cost_is_refused_whole(tmp_path):
    with CoalitionStore.open(tmp_path / "costs.sqlite", "g") as store:
        with pytest.raises(ValueError, match="NaN"):
            store.add([cost(["A"], 1.0), cost(["B"], float("nan"))])
        assert store.load() == {}   # nothing of the batch was written
        store.add([cost(["A"], 1.0, bound=float("nan"))])   # a NaN bound: "no bound known"
        assert store.load()[frozenset({"A"})].bound is None


# --- the game key ---------------------------------------------------------------------------------
KEY_CHILD = textwrap.dedent("""
    import sys
    from planner.sharing.store import game_key
    from planner.scenario.loading import load_scenario
    print(game_key(load_scenario(sys.argv[1])))
""")


def test_the_game_key_is_the_same_in_another_process_and_changes_with_the_scenario(tmp_path):
    """A resumed run is another process (another PYTHONHASHSEED): it must find the same key.
    A changed table or setting is another game: another key."""
    folder = write_scenario(tmp_path / "tiny", **TINY)
    key = game_key(load_scenario(folder))
    assert key.startswith(GAME_FORMAT + ":") and len(key.split(":")[-1]) == 64
    for seed in ("1", "2"):
        out = subprocess.run([sys.executable, "-c", KEY_CHILD, str(folder)], cwd=ROOT,
                             env={**os.environ, "PYTHONHASHSEED": seed}, capture_output=True,
                             text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == key
    changed = write_scenario(tmp_path / "other", **{
        **TINY, "members": TINY["members"].replace("500000", "600000")})
    assert game_key(load_scenario(changed)) != key
    slower = write_scenario(tmp_path / "slower", **{
        **TINY, "scenario": TINY["scenario"].replace("speed_kmh = 40.0", "speed_kmh = 35.0")})
    assert game_key(load_scenario(slower)) != key


def test_coalition_values_resume_from_the_store_without_solving_again(tmp_path):
    """The integration the store exists for: a run that stored its values, then a new run of the
    same scenario that finds them all and solves nothing."""
    scenario = load_scenario(write_scenario(tmp_path / "tiny", **TINY))
    members = list(scenario.members["member"])
    every = [frozenset(c) for r in range(1, len(members) + 1)
             for c in itertools.combinations(members, r)]
    path = tmp_path / "costs.sqlite"
    with CoalitionStore.open(path, game_key(scenario)) as store:
        first = CoalitionValues(scenario, store=store)
        assert first.compute(every) and first.solved == len(every)
    with CoalitionStore.open(path, game_key(scenario)) as store:
        again = CoalitionValues(scenario, store=store)
        assert again.compute(every) and again.solved == 0
    assert set(again.costs) == set(every)
    for coalition in every:
        assert same(again.costs[coalition], first.costs[coalition])
        assert again.costs[coalition].terms   # the ledger terms came back too


# --- targets that are not ours --------------------------------------------------------------------
def assert_refused(path: Path, *fragments: str) -> CoalitionStoreError:
    """Opening `path` fails with one clear paragraph, and the folder is byte for byte as before
    (no journal, WAL or shared-memory file left beside it either)."""
    before = files_of(path.parent)
    with pytest.raises(CoalitionStoreError) as caught:
        CoalitionStore.open(path, "g")
    err = caught.value
    text = str(err)
    assert isinstance(err, PlannerError) and err.exit_code == 2
    assert "Traceback" not in text and "[SQL:" not in text and "\n" not in text
    for fragment in (str(path), *fragments):
        assert fragment in text, text
    assert files_of(path.parent) == before
    return err


def test_a_csv_or_text_file_is_refused_and_left_unchanged(tmp_path):
    csv = tmp_path / "members.csv"
    csv.write_text("member,name,budget_contribution\nM_COUNTY,County hospital,1000000\n")
    assert_refused(csv, "not a coalition store", "not a SQLite database", "new file name")
    tiny = tmp_path / "one-byte.txt"
    tiny.write_bytes(b"x")
    assert_refused(tiny, "not a coalition store")


def test_another_applications_sqlite_database_is_refused_and_left_unchanged(tmp_path):
    path = tmp_path / "clinic.sqlite"
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE patients (id INTEGER PRIMARY KEY, name TEXT)")
    connection.execute("INSERT INTO patients VALUES (1, 'Li Wei')")
    connection.commit()
    connection.close()
    assert_refused(path, "patients", "not a coalition store", "left unchanged")


def test_a_geopackage_is_refused_from_its_header(tmp_path):
    path = tmp_path / "plan.gpkg"
    connection = sqlite3.connect(path)
    connection.execute(f"PRAGMA application_id = {int.from_bytes(b'GPKG', 'big')}")
    connection.execute("CREATE TABLE gpkg_contents (table_name TEXT PRIMARY KEY)")
    connection.commit()
    connection.close()
    assert_refused(path, "GeoPackage", "not a coalition store")


def test_a_store_meta_of_another_application_or_a_newer_format_is_refused(tmp_path):
    foreign = tmp_path / "theirs.sqlite"
    connection = sqlite3.connect(foreign)
    connection.execute("CREATE TABLE store_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
    connection.execute("INSERT INTO store_meta VALUES ('application', 'someone else')")
    connection.commit()
    connection.close()
    assert_refused(foreign, "someone else")

    newer = tmp_path / "newer.sqlite"
    with CoalitionStore.open(newer, "g") as store:
        store.add([cost(["A"], 1.0)])
    connection = sqlite3.connect(newer)
    connection.execute("UPDATE store_meta SET value = '99' WHERE name = 'format'")
    connection.commit()
    connection.close()
    assert_refused(newer, "'99'", "newer planner")


def history_at(target, revision: str) -> None:
    """A run history at schema `revision` (as an older planner left it), with one run."""
    where = parse_target(target)
    engine = make_engine(where)
    try:
        migrate.upgrade(engine, where.shown, revision=revision)
        with engine.begin() as connection:
            connection.execute(sa.text(
                "INSERT INTO runs (scenario, started, status, succeeded) "
                "VALUES ('tiny', CURRENT_TIMESTAMP, 'optimal', :yes)"), {"yes": True})
    finally:
        engine.dispose()


def test_a_run_history_without_the_coalition_table_is_refused_and_left_unchanged(tmp_path):
    path = tmp_path / "runs.sqlite"
    history_at(path, "0002")
    assert_refused(path, "run history", "revision 0002", "coalition_values")
    with open_history(path) as history:
        assert len(history.runs()) == 1


def test_a_run_history_with_the_coalition_table_is_used_through_its_url(tmp_path):
    """A history whose schema has coalition_values (revision 0003 creates it) is a store: no
    store_meta is added, and the history still opens."""
    path = tmp_path / "runs.sqlite"
    with open_history(path) as history:
        coalition_values.create(history.engine, checkfirst=True)
    with CoalitionStore.open(f"sqlite:///{path}", "g") as store:
        assert store.path == path and store.target == f"sqlite:///{path}"
        store.add([cost(["A"], AWKWARD[0]), cost(["A", "B"], AWKWARD[1])])
    with CoalitionStore.open(path, "g") as store:
        assert {c: v.cost for c, v in store.load().items()} == {
            frozenset({"A"}): AWKWARD[0], frozenset({"A", "B"}): AWKWARD[1]}
    with open_history(path) as history:
        assert history.runs() == []
        tables = set(sa.inspect(history.engine).get_table_names())
    assert "store_meta" not in tables and "coalition_values" in tables


@pytest.mark.skipif(migrate.head_revision() < "0003",
                    reason="the history's migration 0003 (coalition_values) is not there yet")
def test_migration_0003_makes_a_history_a_coalition_store_and_downgrades(target):
    """A history at 0002 is refused; opened by the planner it is upgraded and then stores and
    loads coalition costs through its URL; back at 0002 the table is gone (runs kept) and the
    store refuses it again; up again, the table is new and empty."""
    history_at(target, "0002")
    with pytest.raises(CoalitionStoreError, match="revision 0002"):
        CoalitionStore.open(target, "g")
    with open_history(target) as history:   # upgrades to the head revision
        assert len(history.runs()) == 1
    written = [cost(["A"], AWKWARD[0], terms=[("capital", AWKWARD[1])]),
               cost(["A", "B"], AWKWARD[1], bound=AWKWARD[2])]
    with CoalitionStore.open(target, "g") as store:
        store.add(written)
    with CoalitionStore.open(target, "g") as store:
        found = store.load()
    assert set(found) == {c.coalition for c in written}
    assert all(same(found[c.coalition], c) for c in written)
    with open_history(target) as history:
        tables = set(sa.inspect(history.engine).get_table_names())
        assert "coalition_values" in tables and "store_meta" not in tables
        migrate.downgrade(history.engine, "0002")
    where = parse_target(target)
    engine = make_engine(where)
    try:
        with engine.connect() as connection:
            assert migrate.current_revision(connection) == "0002"
            assert "coalition_values" not in sa.inspect(connection).get_table_names()
    finally:
        engine.dispose()
    with pytest.raises(CoalitionStoreError, match="revision 0002"):
        CoalitionStore.open(target, "g")
    with open_history(target) as history:
        assert len(history.runs()) == 1
    with CoalitionStore.open(target, "g") as store:
        assert store.load() == {}


def test_an_empty_file_or_an_empty_sqlite_database_becomes_a_store(tmp_path):
    """Nothing to lose: a 0-byte file (e.g. from `touch`) and a SQLite database without tables
    are adopted; the new store is marked (application_id and store_meta)."""
    empty = tmp_path / "touched.sqlite"
    empty.touch()
    blank = tmp_path / "blank.sqlite"
    connection = sqlite3.connect(blank)
    connection.execute("PRAGMA user_version = 3")
    connection.close()
    assert blank.stat().st_size > 0
    for path in (empty, blank):
        with CoalitionStore.open(path, "g") as store:
            store.add([cost(["A"], 2.5)])
        connection = sqlite3.connect(path)
        assert connection.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
        meta = dict(connection.execute("SELECT name, value FROM store_meta"))
        connection.close()
        assert meta == {"application": "consortium-planner coalition store", "format": "1"}
        with CoalitionStore.open(path, "g") as store:
            assert store.load()[frozenset({"A"})].cost == 2.5


def test_missing_folders_folders_and_in_memory_databases_are_explained(tmp_path):
    cases = {tmp_path / "missing" / "costs.sqlite": ["does not exist", "create it first",
                                                     str(tmp_path / "missing")],
             tmp_path: ["is a folder"],
             "sqlite://": ["in-memory"],
             "sqlite:///:memory:": ["in-memory"],
             f"sqlite:///{tmp_path}/nowhere/costs.sqlite": ["does not exist"],
             "mysql://user:s3cret@127.0.0.1/db": ["not supported", "user:***@"]}
    for given, fragments in cases.items():
        with pytest.raises(CoalitionStoreError) as caught:
            CoalitionStore.open(given, "g")
        assert caught.value.exit_code == 2
        for fragment in fragments:
            assert fragment in str(caught.value), str(caught.value)
        assert "s3cret" not in str(caught.value)
    assert not (tmp_path / "missing").exists() and not (tmp_path / "nowhere").exists()


# --- real processes: SIGKILL and two writers ------------------------------------------------------
WRITER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from planner.sharing.store import CoalitionStore
    from planner.sharing.coalitions import CoalitionCost

    path, prefix, batches, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    while go and not Path(go).exists():
        time.sleep(0.01)
    with CoalitionStore.open(path, "game") as store:
        for k in range(batches):
            store.add([CoalitionCost(frozenset({f"{prefix}{k}", f"x{j}"}), k + j / 7 + 0.1,
                                     "optimal", k - j / 3, (("capital", k * 0.1 + j),))
                       for j in range(8)])
            print(k, flush=True)
    print("done", flush=True)
""")


def expected_batch(prefix: str, k: int) -> dict[frozenset[str], CoalitionCost]:
    """What WRITER adds as batch k, computed here independently."""
    return {frozenset({f"{prefix}{k}", f"x{j}"}): CoalitionCost(
        frozenset({f"{prefix}{k}", f"x{j}"}), k + j / 7 + 0.1, "optimal", k - j / 3,
        (("capital", k * 0.1 + j),)) for j in range(8)}


def writer(path: Path, prefix: str, batches: int, go: Path | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", WRITER, str(path), prefix, str(batches),
                             str(go or "")], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_every_batch_whose_add_returned_survives_sigkill(tmp_path):
    path = tmp_path / "costs.sqlite"
    child = writer(path, "m", 1_000_000)
    printed = []
    deadline = time.monotonic() + 120
    while len(printed) < 40 and time.monotonic() < deadline:
        line = child.stdout.readline()
        if not line:
            break
        printed.append(int(line))
    assert len(printed) == 40, child.stderr.read() if child.poll() is not None else "too slow"
    child.send_signal(signal.SIGKILL)        # mid-loop: probably inside a transaction
    rest, _ = child.communicate(timeout=30)  # what it printed before dying: returned too
    assert child.returncode == -signal.SIGKILL
    printed += [int(line) for line in rest.split()]
    assert printed == list(range(len(printed)))

    assert integrity_ok(path)
    with CoalitionStore.open(path, "game") as store:
        found = store.load()
    for k in printed:
        for coalition, item in expected_batch("m", k).items():
            assert same(found[coalition], item)
    # at most the batch in flight beyond what was printed, and whole: never part of one
    extra = set(found) - {c for k in printed for c in expected_batch("m", k)}
    assert extra in (set(), set(expected_batch("m", len(printed))))


def test_two_processes_create_and_fill_one_store_at_once(tmp_path):
    """Both open a store that does not exist yet at the same moment (one creates it, the other
    waits for the lock) and add 60 batches each, interleaved: nothing fails, nothing is lost."""
    path, go = tmp_path / "costs.sqlite", tmp_path / "go"
    children = [writer(path, prefix, 60, go) for prefix in ("p", "q")]
    time.sleep(1.0)   # both are importing the planner; then they start together
    go.touch()
    for child in children:
        out, err = child.communicate(timeout=180)
        assert child.returncode == 0, err
        assert out.split()[-1] == "done"
    expected = {}
    for prefix, k in itertools.product(("p", "q"), range(60)):
        expected.update(expected_batch(prefix, k))
    with CoalitionStore.open(path, "game") as store:
        found = store.load()
    assert set(found) == set(expected)
    assert all(same(found[c], expected[c]) for c in expected)
    assert integrity_ok(path)
    connection = sqlite3.connect(path)
    assert dict(connection.execute("SELECT name, value FROM store_meta")) == {
        "application": "consortium-planner coalition store", "format": "1"}
    connection.close()


def test_load_returns_a_plain_dict_of_coalition_costs(tmp_path):
    with CoalitionStore.open(tmp_path / "c.sqlite", "g") as store:
        store.add([cost(["A", "B"], 1.5, terms=[("capital", 1.0), ("travel", 0.5)])])
        found = store.load()
    assert type(found) is dict
    ((coalition, item),) = found.items()
    assert type(coalition) is frozenset and isinstance(item, CoalitionCost)
    assert type(item.terms) is tuple and all(type(t) is tuple for t in item.terms)
    assert pd.Series(dict(item.terms)).sum() == item.cost

"""A durable on-disk cache of coalition costs C(S), so an interrupted `planner share` resumes.

    from planner.sharing.store import CoalitionStore, game_key

    with CoalitionStore.open("costs.sqlite", game_key(scenario)) as store:
        known = store.load()          # {coalition: CoalitionCost} stored under this game
        store.add(batch)              # one committed transaction: durable when it returns

Solving a coalition costs seconds to minutes of MILP; Ctrl-C, SIGKILL or a time limit must not
throw that away. Each :meth:`CoalitionStore.add` is one committed transaction (SQLite: default
rollback journal, ``synchronous = FULL``, so a batch whose add() returned survives a kill and a
power cut), and every value is keyed by the game (:func:`game_key`: the scenario's content hash
plus :data:`GAME_FORMAT`), so values are only reused for the very same game.

Where: ``target`` is a SQLite file path (its folder must exist; the file is created when
missing) or an SQLAlchemy URL (``sqlite:///costs.sqlite``, or ``postgresql://...`` such as the
re-planning history's). A target is only written into when it is ours:

* a new file, a 0-byte file or a SQLite database without tables (nothing there to lose) becomes
  a new store: the ``store_meta`` table (application name, format version), the
  ``coalition_values`` table, and SQLite's header ``application_id`` set to
  :data:`APPLICATION_ID`;
* a store (``store_meta`` says so) of this format is used as it is; one of a newer format is
  refused (a newer planner wrote it);
* a planner run history (alembic's ``alembic_version`` table) is used when its schema has the
  ``coalition_values`` table, refused with the fix otherwise (never changed behind alembic);
* anything else — a CSV, a GeoPackage, another application's database — is refused with
  :class:`CoalitionStoreError` naming it, and never opened for writing: non-SQLite bytes and
  foreign SQLite ``application_id`` values are recognised from the file's header without
  SQLite; other SQLite files are only read before they are refused.

Two processes may add to one file at once: writes take SQLite's write lock up front
(``BEGIN IMMEDIATE``) and wait up to 30 s for it (busy timeout); PostgreSQL serialises the
creation of the tables with an advisory lock. Values are deterministic, so adding a coalition
that is already stored replaces it with the same value (an upsert).

Floats are stored as REAL (SQLite) / double precision (PostgreSQL), and the ledger terms as JSON
text written with ``repr`` floats: all round-trip exactly. A ``bound`` of None or NaN ("no
bound known") is stored as NULL and loads as None; a NaN cost is refused.
"""

from __future__ import annotations

import json
import math
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import (
    Column,
    Engine,
    MetaData,
    String,
    Table,
    create_engine,
    event,
    inspect,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import NoSuchModuleError

from planner.errors import PlannerError
from planner.history.errors import DATABASE_ERRORS
from planner.history.tables import coalition_values
from planner.history.target import BUSY_TIMEOUT_SECONDS, WRITE, Target, parse_target, sqlite_begin
from planner.sharing.coalitions import CoalitionCost, scenario_key

APPLICATION = "consortium-planner coalition store"
FORMAT_VERSION = 1
# Bump when C(S) of a scenario would change without its content changing (the game model, its
# MIP gap, the meaning of CoalitionCost): every stored value then stops matching.
GAME_FORMAT = "coalition-costs/1"
APPLICATION_ID = int.from_bytes(b"CPcs", "big")   # SQLite header, offset 68
SQLITE_MAGIC = b"SQLite format 3\x00"
KNOWN_APPLICATIONS = {int.from_bytes(b"GPKG", "big"): "a GeoPackage",
                      int.from_bytes(b"GP10", "big"): "a GeoPackage",
                      int.from_bytes(b"GP11", "big"): "a GeoPackage",
                      int.from_bytes(b"FOSL", "big"): "a Fossil repository",
                      int.from_bytes(b"MPBX", "big"): "an MBTiles file"}

metadata = MetaData()

store_meta = Table(
    "store_meta", metadata,
    Column("name", String, primary_key=True),
    Column("value", String, nullable=False),
)

# coalition_values is the run history's table (planner/history/tables.py, revision 0003): one
# definition, so a standalone store file and a history hold the same rows.


class CoalitionStoreError(PlannerError):
    """The coalition store cannot be opened, read or written: a missing folder, a file that is
    not a store, a store of a newer planner, a database error (exit 2)."""

    exit_code = 2


def game_key(scenario) -> str:
    """The identity of a game: the scenario's content hash (settings and tables) and the format
    of the values. Stored values are reused only under the same key."""
    return f"{GAME_FORMAT}:{scenario_key(scenario)}"


class CoalitionStore:
    """An open coalition store: the values of one game (`key`) in a SQLite file or a database.

    Use :meth:`open`; ``path`` (the SQLite file or None) and ``target`` (as shown in messages)
    say where it is."""

    def __init__(self, engine: Engine, where: Target, key: str):
        self._engine = engine
        self.key = str(key)
        self.target = where.shown
        self.path = where.sqlite_file

    @classmethod
    def open(cls, target, key: str) -> CoalitionStore:
        """Open the store at `target` (path or URL) for game `key`, creating it when the target
        is new or empty; CoalitionStoreError, leaving the target untouched, when it is not ours.
        """
        where = _parse(target)
        if where.sqlite_file is not None:
            _check_file(where.sqlite_file, where.shown)
        engine = _make_engine(where)
        try:
            with _wrapped(where.shown, "open the coalition store"):
                _prepare(engine, where.shown)
            return cls(engine, where, key)
        except BaseException:
            engine.dispose()
            raise

    def load(self) -> dict[frozenset[str], CoalitionCost]:
        """Every value stored under this store's key."""
        table = coalition_values
        query = select(table.c.coalition, table.c.cost, table.c.status, table.c.bound,
                       table.c.terms).where(table.c.game_key == self.key)
        with self._transaction("read the stored coalition costs", write=False) as connection:
            rows = connection.execute(query).all()
        return {item.coalition: item for item in map(_from_row, rows)}

    def add(self, batch: list[CoalitionCost]) -> None:
        """Store a batch in one committed transaction: all of it is durable when this returns,
        or none of it is written."""
        rows = [_to_row(self.key, item) for item in batch]   # check everything before writing
        if not rows:
            return
        with self._transaction(f"store {len(rows)} coalition cost(s)", write=True) as connection:
            connection.execute(_upsert(connection.dialect.name), rows)

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> CoalitionStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"CoalitionStore({self.target!r}, key={self.key!r})"

    @contextmanager
    def _transaction(self, doing: str, write: bool):
        """One transaction on a connection of its own, committed when the block ends; database
        errors become one CoalitionStoreError saying what was being done."""
        with _wrapped(self.target, doing), self._engine.connect() as connection:
            if write:   # SQLite: BEGIN IMMEDIATE, waiting up to the busy timeout
                connection.execution_options(**{WRITE: True})
            with connection.begin():
                yield connection


# --- rows ----------------------------------------------------------------------------------------
def coalition_text(coalition) -> str:
    """The canonical text of a coalition: a JSON list of its sorted member names."""
    names = list(coalition)
    if not all(isinstance(name, str) for name in names):
        raise TypeError(f"coalition members must be strings: {sorted(map(repr, names))}")
    return json.dumps(sorted(names), ensure_ascii=False, separators=(",", ":"))


def _to_row(key: str, item: CoalitionCost) -> dict:
    cost = float(item.cost)
    if math.isnan(cost):
        raise ValueError(f"coalition {sorted(item.coalition)}: a NaN cost cannot be stored")
    bound = None if item.bound is None or math.isnan(item.bound) else float(item.bound)
    terms = [[str(term), float(amount)] for term, amount in item.terms]
    return {"game_key": key, "coalition": coalition_text(item.coalition), "cost": cost,
            "status": str(item.status), "bound": bound,
            "terms": json.dumps(terms, ensure_ascii=False, separators=(",", ":"))}


def _from_row(row) -> CoalitionCost:
    return CoalitionCost(coalition=frozenset(json.loads(row.coalition)), cost=float(row.cost),
                         status=row.status,
                         bound=None if row.bound is None else float(row.bound),
                         terms=tuple((term, float(amount))
                                     for term, amount in json.loads(row.terms)))


def _upsert(dialect: str):
    """INSERT ... ON CONFLICT (game_key, coalition) DO UPDATE: re-adding a value replaces it."""
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(coalition_values)
    return statement.on_conflict_do_update(
        index_elements=["game_key", "coalition"],
        set_={name: statement.excluded[name] for name in ("cost", "status", "bound", "terms")})


# --- where: path or URL (parsed as the run history parses its target) -------------------------
def _parse(target) -> Target:
    return parse_target(target, "Coalition store", CoalitionStoreError, "costs.sqlite")


def _check_file(path: Path, shown: str) -> None:
    """Refuse, from its first 100 bytes and without SQLite, a file that is neither empty nor a
    SQLite database, or a SQLite database of another application (its header's application_id).
    """
    try:
        with open(path, "rb") as file:
            header = file.read(100)
    except FileNotFoundError:
        return
    except OSError as err:
        raise CoalitionStoreError(f"Coalition store {shown}: cannot be read ({err.strerror}); "
                                  "check its permissions or give another file.") from None
    if not header:
        return   # 0 bytes: nothing to lose, becomes a new store
    if not header.startswith(SQLITE_MAGIC):
        raise CoalitionStoreError(
            f"Coalition store {shown}: this file is not a coalition store (not a SQLite "
            "database: perhaps a CSV or another document); it was left unchanged. Give a new "
            "file name for the store (e.g. costs.sqlite).")
    application = int.from_bytes(header[68:72], "big") if len(header) >= 72 else 0
    if application not in (0, APPLICATION_ID):
        kind = KNOWN_APPLICATIONS.get(application, "a SQLite database of another application "
                                                   f"(application_id {application:#010x})")
        raise CoalitionStoreError(
            f"Coalition store {shown}: this file is {kind}, not a coalition store; it was left "
            "unchanged. Give a new file name for the store (e.g. costs.sqlite).")


# --- engine and schema ---------------------------------------------------------------------------
def _make_engine(where: Target) -> Engine:
    """SQLite: a 30 s busy timeout, synchronous FULL, and transactions begun by us (BEGIN, or
    BEGIN IMMEDIATE for writes, so a writer waits for the lock instead of failing on a stale
    snapshot). The journal mode is left as the file has it (new files: rollback journal), so a
    file that turns out not to be ours is never switched to WAL."""
    try:
        if where.sqlite_file is None:
            return create_engine(where.url, pool_pre_ping=True)
        engine = create_engine(where.url, connect_args={"timeout": BUSY_TIMEOUT_SECONDS})
    except (ImportError, NoSuchModuleError):
        raise CoalitionStoreError(f"Coalition store {where.shown}: the database driver "
                                  f"'{where.url.drivername}' is not installed or not known; use "
                                  "postgresql://... or a SQLite file.") from None
    event.listen(engine, "connect", _sqlite_connect)
    event.listen(engine, "begin", sqlite_begin)
    return engine


def _sqlite_connect(dbapi_connection, _record) -> None:
    dbapi_connection.isolation_level = None   # sqlite3 must not open transactions itself
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_SECONDS * 1000}")
        cursor.execute("PRAGMA synchronous = FULL")
    finally:
        cursor.close()


def _prepare(engine: Engine, shown: str) -> None:
    """Check what the target holds and create the store's tables when it is new, in one write
    transaction (SQLite: BEGIN IMMEDIATE; PostgreSQL: an advisory lock), so that two processes
    opening a new store create it once. A target that is not ours is only read."""
    with engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            connection.execution_options(**{WRITE: True})
        with connection.begin():
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                                   {"key": _LOCK_KEY})
            found = inspect(connection)
            tables = set(found.get_table_names()) | set(found.get_view_names())
            if not tables:
                _create(connection)
            else:
                _check_ours(connection, tables, shown)


_LOCK_KEY = int.from_bytes(APPLICATION.encode()[:8], "big", signed=True)


def _create(connection) -> None:
    metadata.create_all(connection)
    coalition_values.create(connection)
    connection.execute(store_meta.insert(), [{"name": "application", "value": APPLICATION},
                                             {"name": "format", "value": str(FORMAT_VERSION)}])
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql(f"PRAGMA application_id = {APPLICATION_ID}")


def _check_ours(connection, tables: set[str], shown: str) -> None:
    """A store of our format, or a run history with the coalition table; otherwise refused."""
    if "alembic_version" in tables and "store_meta" not in tables:
        if "coalition_values" in tables:
            return
        revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        raise CoalitionStoreError(
            f"Coalition store {shown}: this is a planner run history at schema revision "
            f"{revision}, which has no coalition_values table yet; it was left unchanged. Open it "
            "once with a planner whose history knows coalition values (revision 0003 or later) "
            "to upgrade it, or give a separate store file (e.g. costs.sqlite).")
    if "store_meta" not in tables:
        listed = ", ".join(sorted(tables)[:6]) + (" ..." if len(tables) > 6 else "")
        raise CoalitionStoreError(
            f"Coalition store {shown}: this database holds tables ({listed}) but is not a "
            "coalition store; it was left unchanged. Give a new file name for the store (e.g. "
            "costs.sqlite) or an empty database.")
    meta = dict(connection.execute(select(store_meta.c.name, store_meta.c.value)).all())
    if meta.get("application") != APPLICATION:
        raise CoalitionStoreError(
            f"Coalition store {shown}: its store_meta table belongs to "
            f"'{meta.get('application')}', not to the consortium planner; it was left "
            "unchanged. Give a new file name for the store (e.g. costs.sqlite).")
    found = meta.get("format", "")
    if not found.isdigit() or int(found) > FORMAT_VERSION:
        raise CoalitionStoreError(
            f"Coalition store {shown}: its format {found!r} is newer than this planner's "
            f"({FORMAT_VERSION}): a newer planner wrote it. Upgrade the planner, or give another "
            "store file.")
    if "coalition_values" not in tables:
        raise CoalitionStoreError(f"Coalition store {shown}: the store is damaged (its "
                                  "coalition_values table is missing); delete it or give "
                                  "another file.")


# --- errors --------------------------------------------------------------------------------------
ADVICE = (
    ("file is not a database", "it is not a SQLite database (or it is damaged); give a new file "
                               "name for the store"),
    ("unable to open database", "the file cannot be opened; check that its folder is writable"),
    ("readonly database", "the file or its folder is read-only; the store needs write access"),
    ("database is locked", "another process kept it busy for longer than the busy timeout; try "
                           "again later"),
    ("password authentication failed", "check the user name and password in the URL"),
    ("connection refused", "is the database server running, and are the host and port right?"),
)


@contextmanager
def _wrapped(shown: str, doing: str):
    """A database error in the block becomes one CoalitionStoreError paragraph: the target,
    what was being done, the driver's first line and advice (no SQL, no traceback text)."""
    try:
        yield
    except DATABASE_ERRORS as err:
        inner = getattr(err, "orig", None) or err
        lines = str(inner).strip().splitlines()
        reason = lines[0].strip() if lines else type(inner).__name__
        for pattern, advice in ADVICE:
            if pattern in " ".join(lines).lower():
                reason = f"{reason} — {advice}"
                break
        raise CoalitionStoreError(f"Coalition store {shown}: could not {doing}: "
                                  f"{reason}.") from err

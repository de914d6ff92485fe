"""Bring a history's schema to the newest revision this planner knows (alembic, run in-process).

Opening a history upgrades it, so a newer planner reads the history an older one wrote. The
migrations ship inside the package (``planner/history/migrations``) and alembic is configured in
code, so users need no alembic.ini. Before anything changes, the database is checked:

* a revision this planner does not know means a newer planner wrote it: refused, with the fix
  (upgrade the planner) — never "upgraded" backwards or half-read;
* tables without alembic's version table mean it is not a history (another application's
  database, or a file of another kind): refused rather than written into.

The check and the upgrade run in one transaction that first takes the history's write lock
(SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: a transaction-scoped advisory lock), so two runs
opening a new history at the same moment create it once. DDL is transactional on both backends:
an upgrade killed half-way leaves the previous revision.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, text

from planner.history.errors import HistoryError
from planner.history.target import WRITE

MIGRATIONS = Path(__file__).with_name("migrations")
# PostgreSQL advisory lock key serialising schema upgrades (a fixed 64-bit value).
UPGRADE_LOCK_KEY = int.from_bytes(hashlib.sha256(b"planner.history schema upgrade").digest()[:8],
                                  "big", signed=True)


def alembic_config() -> Config:
    """Alembic's configuration pointing at the packaged migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the migrations shipped in migrations/ have a head revision"
    return head


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, shown: str, revision: str = "head") -> None:
    """Upgrade (or create) the schema to `revision` ("head": the newest) in one locked
    transaction; HistoryError if the database is newer than this planner or not a history.
    A history already at that revision is only read (no write lock: `planner runs` on a busy
    or read-only history works)."""
    config = alembic_config()
    scripts = ScriptDirectory.from_config(config)
    known = {script.revision for script in scripts.walk_revisions()}
    wanted = scripts.get_current_head() if revision == "head" else revision
    with engine.connect() as connection, connection.begin():
        found = current_revision(connection)
    _check_known(found, known, shown)
    if found == wanted:
        return
    with _migration_connection(engine) as connection:
        with connection.begin():
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                                   {"key": UPGRADE_LOCK_KEY})
            found = current_revision(connection)   # again: another process may have upgraded
            _check_known(found, known, shown)
            if found is None:
                _check_empty(connection, shown)
            config.attributes["connection"] = connection
            command.upgrade(config, revision)


def _check_known(found: str | None, known: set[str], shown: str) -> None:
    if found is not None and found not in known:
        raise HistoryError(
            f"History {shown}: its schema is at revision {found}, which this planner does not "
            f"know (it knows up to {head_revision()}): a newer planner wrote it. Upgrade the "
            "planner (pip install --upgrade consortium-planner) to use this history, or give "
            "another one.")


def downgrade(engine: Engine, revision: str) -> None:
    """Back to an older revision (for maintenance and the migration tests)."""
    config = alembic_config()
    with _migration_connection(engine) as connection:
        with connection.begin():
            config.attributes["connection"] = connection
            command.downgrade(config, revision)


def _check_empty(connection: Connection, shown: str) -> None:
    tables = sorted(inspect(connection).get_table_names())
    if tables:
        listed = ", ".join(tables[:6]) + (" ..." if len(tables) > 6 else "")
        raise HistoryError(
            f"History {shown}: this database holds tables ({listed}) but is not a planner run "
            "history (it has no schema version). Give a new file, an empty database, or a "
            "PostgreSQL schema of its own (…?options=-csearch_path%3Dplanner).")


class _migration_connection:
    """A connection for migrations. SQLite: foreign keys off while tables are copied (alembic's
    batch mode drops and renames them; SQLite ignores the pragma inside a transaction, so it is
    set before BEGIN), checked afterwards, and the connection discarded rather than pooled."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.sqlite = engine.dialect.name == "sqlite"

    def __enter__(self) -> Connection:
        self.connection = self.engine.connect()
        if self.sqlite:
            self.connection.execution_options(**{WRITE: True})
            driver = self.connection.connection.driver_connection
            assert driver is not None   # the connection was just opened
            driver.execute("PRAGMA foreign_keys = OFF")
        return self.connection

    def __exit__(self, *exc) -> None:
        try:
            if self.sqlite and exc[0] is None:
                problems = self.connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                self.connection.rollback()
                if problems:   # never expected: the migrations keep every reference valid
                    raise HistoryError(f"schema upgrade left broken references: {problems[:5]}")
        finally:
            if self.sqlite:
                self.connection.invalidate()   # foreign keys are off on it: not back to the pool
            self.connection.close()

"""Where a history lives: a SQLite file or a PostgreSQL database, and the engine that reaches it.

`planner replan --history H` takes a path or a URL. A path is a SQLite file (created when
missing; its folder must exist). A URL is any SQLAlchemy URL of the two backends the history can
lock (section "locks"): ``sqlite:///file`` or ``postgresql+psycopg://user:password@host/db``
(``postgresql://`` means psycopg 3, the driver installed with the planner). Other databases are
refused up front rather than run without the per-scenario lock that keeps two runs apart.

SQLite connections are set up for a file shared by cron jobs: WAL journal (readers never block
the writer), a 30 s busy timeout, foreign keys on, and transactions begun by us (``BEGIN`` for
reads, ``BEGIN IMMEDIATE`` for writes) so that DDL is transactional and a writer waits for the
busy timeout instead of failing on a stale snapshot.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from sqlalchemy import URL, Engine, create_engine, event, make_url
from sqlalchemy.exc import ArgumentError

from planner.history.errors import HistoryError

BUSY_TIMEOUT_SECONDS = 30
# Execution option of a connection whose next transaction writes (SQLite: BEGIN IMMEDIATE).
WRITE = "planner_history_write"


@dataclass(frozen=True)
class Target:
    """A parsed history target: the URL to connect to, how to name it in messages (password
    masked), and for SQLite the database file (its locks live beside it)."""

    url: URL
    shown: str
    sqlite_file: Path | None

    @property
    def backend(self) -> str:
        return self.url.get_backend_name()


class _Naming(NamedTuple):
    """How messages name the target: "History" / "Coalition store", the error class raised, and
    an example file name."""

    noun: str
    error: type[Exception]
    example: str


def parse_target(target, noun: str = "History", error: type[Exception] = HistoryError,
                 example: str = "runs.sqlite") -> Target:
    """A path or URL (str, os.PathLike or sqlalchemy URL) -> Target; `error` when it is neither
    a usable file path nor a supported database URL. `noun` and `example` name the thing in the
    messages: the run history here, the coalition store (planner/sharing/store.py) there."""
    names = _Naming(noun, error, example)
    if isinstance(target, URL):
        return _from_url(target, target.render_as_string(hide_password=True), names)
    if isinstance(target, os.PathLike) or (isinstance(target, str) and "://" not in target):
        return _from_path(Path(os.fspath(target)), names)
    if not isinstance(target, str):
        raise error(f"{noun} {target!r}: give a file path or a database URL.")
    try:
        url = make_url(target)
    except ArgumentError:
        raise error(f"{noun} {_mask(target)}: not a database URL; give a SQLite file path or a "
                    "URL such as postgresql+psycopg://user:password@host/database.") from None
    return _from_url(url, url.render_as_string(hide_password=True), names)


def _mask(text: str) -> str:
    """A string that failed to parse as a URL, with anything like a password hidden."""
    head, sep, rest = text.partition("://")
    if sep and "@" in rest:
        credentials, _, host = rest.rpartition("@")
        user = credentials.split(":", 1)[0]
        return f"{head}://{user}:***@{host}" if ":" in credentials else text
    return text


def _from_path(path: Path, names: _Naming) -> Target:
    noun, error, example = names
    path = path.expanduser().absolute()
    shown = str(path)
    if path.is_dir():
        raise error(f"{noun} {shown}: is a folder; give the path of a {noun.lower()} file "
                    f"(e.g. {example}), which is created when missing.")
    if not path.parent.is_dir():
        raise error(f"{noun} {shown}: its folder {path.parent} does not exist; create it first "
                    f"(the {noun.lower()} file itself is created when missing).")
    return Target(URL.create("sqlite+pysqlite", database=str(path)), shown, path)


def _from_url(url: URL, shown: str, names: _Naming) -> Target:
    noun, error, example = names
    backend = url.get_backend_name()
    if backend == "postgres":   # the libpq spelling
        url = url.set(drivername="postgresql")
        backend = "postgresql"
    if backend == "postgresql":
        if "+" not in url.drivername:   # SQLAlchemy would pick psycopg2, not installed
            url = url.set(drivername="postgresql+psycopg")
        return Target(url, url.render_as_string(hide_password=True), None)
    if backend == "sqlite":
        database = url.database or ""
        if database in ("", ":memory:") or url.query.get("mode") == "memory":
            raise error(f"{noun} {shown}: an in-memory SQLite database keeps nothing after the "
                        f"run; give a file (sqlite:///{example} or a path).")
        file = _from_path(Path(database), names)
        return Target(url.set(database=str(file.sqlite_file)), shown, file.sqlite_file)
    raise error(f"{noun} {shown}: the '{backend}' database is not supported; give a SQLite file "
                "or a PostgreSQL database (postgresql+psycopg://user:password@host/database).")


def make_engine(target: Target) -> Engine:
    """The engine of a target, with the SQLite connection set-up described above."""
    options = {"json_serializer": _json_dumps}
    if target.backend == "sqlite":
        engine = create_engine(target.url, connect_args={"timeout": BUSY_TIMEOUT_SECONDS},
                               **options)
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", sqlite_begin)
        return engine
    return create_engine(target.url, pool_pre_ping=True, **options)


def _json_dumps(value) -> str:
    """JSON columns: sorted keys (byte-stable records), real JSON only (no NaN: PostgreSQL's
    json type rejects it; records are made JSON-safe before they get here)."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, allow_nan=False)


def _sqlite_connect(dbapi_connection, _record) -> None:
    # sqlite3 must not open transactions itself (it skips them for DDL): sqlite_begin does.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_SECONDS * 1000}")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
    finally:
        cursor.close()


def sqlite_begin(connection) -> None:
    """SQLite "begin" event: BEGIN, or BEGIN IMMEDIATE when the connection has the WRITE
    option, so a writer takes the lock first (also used by planner/sharing/store.py)."""
    write = connection.get_execution_options().get(WRITE, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

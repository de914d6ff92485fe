"""One lock per (history, scenario name): two runs of a scenario never overlap, other scenarios
never wait.

Both kinds are released by the operating system or the server when their holder dies, so a
killed run never leaves a lock behind:

* SQLite: an exclusive ``flock`` on a file beside the database, ``<history>.locks/<key>.lock``
  (one file per scenario; the kernel drops the lock with the process). The file also says who
  holds it (pid, time, scenario) for the "locked" message.
* PostgreSQL: a session-level advisory lock (``pg_try_advisory_lock``) held on a connection of
  its own for as long as the run; the server drops it when that session ends.

Both are polled until the caller's wait expires; then :class:`HistoryLocked`. The key of a
scenario is a stable 64-bit hash (SHA-256, never Python's per-process ``hash``) of the schema and
the scenario name, so every process computes the same key, and histories in two PostgreSQL
schemas of one database stay apart.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import socket
import time
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import Connection, Engine, text

from planner.history.errors import HistoryLocked

POLL_FIRST, POLL_MAX = 0.02, 0.25   # seconds between attempts (growing)


def scenario_key(scenario: str, namespace: str = "") -> int:
    """A signed 64-bit key (PostgreSQL's bigint), the same in every process and on every
    machine."""
    return int.from_bytes(_digest(scenario, namespace), "big", signed=True)


def _digest(scenario: str, namespace: str) -> bytes:
    return hashlib.sha256(f"{namespace}\0{scenario}".encode()).digest()[:8]


def holder_text() -> str:
    """Who holds a lock, for the message of the run that waits: host, pid and since when."""
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"pid {os.getpid()} on {socket.gethostname()} since {stamp}"


def _poll(try_once, wait: float) -> bool:
    """Call try_once until it returns True or `wait` seconds have passed (at least one try)."""
    deadline = time.monotonic() + max(0.0, wait)
    pause = POLL_FIRST
    while True:
        if try_once():
            return True
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(pause, left))
        pause = min(pause * 2, POLL_MAX)


class FileLock:
    """An exclusive flock on `<database>.locks/<key>.lock`."""

    def __init__(self, database: Path, scenario: str, shown: str):
        self.folder = database.with_name(database.name + ".locks")
        self.path = self.folder / f"{_digest(scenario, '').hex()}.lock"
        self.scenario, self.shown = scenario, shown
        self.fd: int | None = None

    def acquire(self, wait: float) -> None:
        self.folder.mkdir(exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)

        def try_once() -> bool:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                return False

        try:
            got = _poll(try_once, wait)
        except BaseException:
            os.close(fd)
            raise
        if not got:
            holder = _read_holder(fd)
            os.close(fd)
            raise HistoryLocked(self.shown, self.scenario, wait, holder)
        self.fd = fd
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{holder_text()}\nscenario {self.scenario!r}\n".encode(), 0)

    def release(self) -> None:
        if self.fd is not None:
            fd, self.fd = self.fd, None
            try:
                os.ftruncate(fd, 0)
            finally:
                os.close(fd)   # closing the last descriptor drops the flock


def _read_holder(fd: int) -> str | None:
    try:
        return os.pread(fd, 500, 0).decode(errors="replace").splitlines()[0].strip() or None
    except (OSError, IndexError):
        return None


class AdvisoryLock:
    """A PostgreSQL session advisory lock, held on a dedicated autocommit connection whose
    application_name says who holds it."""

    def __init__(self, engine: Engine, namespace: str, scenario: str, shown: str):
        self.engine, self.scenario, self.shown = engine, scenario, shown
        self.key = scenario_key(scenario, namespace)
        self.connection: Connection | None = None

    def acquire(self, wait: float) -> None:
        connection = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")

        def try_once() -> bool:
            return bool(connection.execute(text("SELECT pg_try_advisory_lock(:key)"),
                                           {"key": self.key}).scalar())

        try:
            got = _poll(try_once, wait)
            if not got:
                holder = connection.execute(HOLDER, {"key": self.key}).scalar()
                raise HistoryLocked(self.shown, self.scenario, wait, holder)
            connection.execute(text("SELECT set_config('application_name', :name, false)"),
                               {"name": f"planner {holder_text()}"[:63]})
        except BaseException:
            connection.close()   # a session that holds no lock (or is about to drop it)
            raise
        self.connection = connection

    def release(self) -> None:
        if self.connection is not None:
            connection, self.connection = self.connection, None
            try:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
                connection.execute(text("RESET application_name"))
            finally:
                connection.close()


# The session holding an advisory lock on a bigint key (pg_locks splits it into classid, the high
# 32 bits, and objid, the low 32 bits; objsubid 1 marks the one-bigint form).
HOLDER = text("""
    SELECT coalesce(nullif(a.application_name, ''), 'server process ' || a.pid)
    FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
    WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND l.classid = CAST((CAST(:key AS bigint) >> 32) & 4294967295 AS oid)
      AND l.objid = CAST(CAST(:key AS bigint) & 4294967295 AS oid)
    LIMIT 1""")

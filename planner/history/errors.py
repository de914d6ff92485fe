"""The two errors of the run history, as users see them.

The CLI prints ``str(err)`` as one paragraph and exits with ``err.exit_code``, so every message
names the history (its URL with the password masked) and says what to do. A raw SQLAlchemy,
sqlite3 or psycopg error never gets out of this package: :func:`wrapped` turns it into a
:class:`HistoryError` with the driver's own first line as the reason.
"""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager

from sqlalchemy.exc import SQLAlchemyError

from planner.errors import PlannerError


class HistoryError(PlannerError):
    """The history cannot be opened, read or written: a file that is not a history, a bad URL,
    a server that refuses, a schema newer than this planner, an unknown run id (exit 2)."""

    exit_code = 2


class HistoryLocked(PlannerError):
    """Another run of the same scenario holds the history for longer than the caller would wait
    (exit 5, so that a scheduler can tell "busy" from "broken")."""

    exit_code = 5

    def __init__(self, target: str, scenario: str, wait: float, holder: str | None = None):
        self.target, self.scenario, self.wait = target, scenario, wait
        held = f" (held by {holder})" if holder else ""
        super().__init__(
            f"History {target}: locked by another run of scenario '{scenario}'{held}; gave "
            f"up after waiting {wait:g} s. Try again later, or give a longer --wait.")


# Driver messages we can explain better; matched case-insensitively on the driver's first line.
ADVICE = (
    ("file is not a database", "it is not a SQLite database (or it is damaged); give the path "
                               "of a history written by `planner replan`, or a new file name"),
    ("unable to open database", "the file cannot be opened; check that its folder exists and is "
                                "writable"),
    ("readonly database", "the file or its folder is read-only; the history needs write access"),
    ("database is locked", "another process kept the database busy for longer than the busy "
                           "timeout; try again later"),
    ("password authentication failed", "check the user name and password in the URL"),
    ("connection refused", "is the database server running, and are the host and port right?"),
    ("could not translate host name", "check the host name in the URL"),
    ("does not exist", "check the database name and that it was created"),
    ("permission denied", "the database user lacks the rights to create or change the "
                          "history's tables"),
)


def reason_of(err: BaseException) -> str:
    """The driver's first line (SQLAlchemy wraps it in ``err.orig``), without SQL or values."""
    inner = getattr(err, "orig", None) or err
    text = str(inner).strip().splitlines()
    first = text[0].strip() if text else type(inner).__name__
    # psycopg prefixes connection errors with the whole conninfo ("connection failed: connection
    # to server at "127.0.0.1", port 1 failed: ..."): keep its last, most precise part.
    if "failed:" in first:
        first = first.rsplit("failed:", 1)[1].strip() or first
    for pattern, advice in ADVICE:
        if pattern in " ".join(text).lower():
            return f"{first} — {advice}"
    return first


def _database_errors() -> tuple[type[BaseException], ...]:
    """SQLAlchemy's errors, file errors, and the drivers' own (raised unwrapped from connection
    events)."""
    errors: list[type[BaseException]] = [SQLAlchemyError, OSError, sqlite3.Error]
    try:   # the driver is optional: only PostgreSQL histories need it
        import psycopg
        errors.append(psycopg.Error)
    except ImportError:   # only needed for PostgreSQL histories
        pass
    return tuple(errors)


DATABASE_ERRORS = _database_errors()


@contextmanager
def wrapped(target: str, doing: str):
    """Run a block; a database or file error in it becomes one HistoryError paragraph naming the
    target and what was being done."""
    try:
        yield
    except DATABASE_ERRORS as err:
        raise HistoryError(f"History {target}: could not {doing}: {reason_of(err)}.") from err

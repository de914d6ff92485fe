"""The run history of `planner replan`: a real database of every run, its plan and its outcome.

    from planner.history import open_history

    history = open_history("runs.sqlite")      # or "postgresql+psycopg://user:pw@host/db"
    with history.lock(scenario.name, wait=600):
        run_id = history.start_run(scenario=scenario.name, input_hash=..., options={...},
                                   versions={...})
        base = history.latest_success(scenario.name)   # None, or {"run_id", "decisions", ...}
        ...
        history.finish_run(run_id, status="optimal", succeeded=True, objective=...,
                           decisions=plan.decisions, changes=..., baseline_run=...)
    history.runs()            # oldest first
    history.close()

The modules, one job each: :mod:`~planner.history.target` (path or URL -> engine, SQLite
pragmas), :mod:`~planner.history.migrate` (alembic schema upgrades, shipped in ``migrations/``),
:mod:`~planner.history.tables` (the newest schema), :mod:`~planner.history.locks` (one lock per
history and scenario), :mod:`~planner.history.records` (values <-> rows),
:mod:`~planner.history.store` (the History API) and :mod:`~planner.history.errors`.
"""

from __future__ import annotations

from sqlalchemy.exc import NoSuchModuleError

from planner.history.errors import HistoryError, HistoryLocked, wrapped
from planner.history.store import History
from planner.history.target import make_engine, parse_target

__all__ = ["History", "HistoryError", "HistoryLocked", "open_history"]


def open_history(target) -> History:
    """Open (create when missing) the history at `target`, a SQLite file path or an SQLAlchemy
    URL, and upgrade its schema to the newest revision. HistoryError (exit 2), naming the target
    and the fix, when it cannot be used."""
    # lazy: alembic (0.6 s) loads only to open a history, not for the coalition store's tables
    from planner.history import migrate

    parsed = parse_target(target)
    with wrapped(parsed.shown, "open the history"):
        try:
            engine = make_engine(parsed)
        except (ImportError, NoSuchModuleError):   # a driver named in the URL, not installed
            raise HistoryError(f"History {parsed.shown}: the database driver "
                               f"'{parsed.url.drivername}' is not installed or not known; use "
                               "postgresql+psycopg://... (psycopg 3 comes with the planner) or "
                               "a SQLite file.") from None
    try:
        with wrapped(parsed.shown, "open the history"):
            migrate.upgrade(engine, parsed.shown)
        return History(engine, parsed)
    except BaseException:
        engine.dispose()
        raise

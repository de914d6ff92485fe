"""Alembic migrations of the run history, shipped inside the package and run by
:mod:`planner.history.migrate` (no alembic.ini needed)."""

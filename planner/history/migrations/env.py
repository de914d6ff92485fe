"""Alembic's environment for the run history: always online, on the connection (and the
transaction) that :func:`planner.history.migrate.upgrade` opened and locked."""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    render_as_batch=True,           # SQLite changes tables by copying them ("batch" mode)
    transactional_ddl=True,         # the caller's transaction covers every revision
)
with context.begin_transaction():   # inside the caller's transaction: a no-op
    context.run_migrations()

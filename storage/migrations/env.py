"""Alembic's entry for our tables, run by :mod:`storage.schema` on the connection it holds
(``config.attributes["connection"]``), inside the transaction it began: a migration that fails
leaves the store as it was (SQLite and PostgreSQL undo DDL with the rest)."""

from alembic import context

from storage.schema import VERSION_TABLE
from storage.tables import Base


def _ours(name: str | None, type_: str, _parents: dict) -> bool:
    """Autogenerate compares our tables only: Optuna's share the database and are its own."""
    return type_ != "table" or (str(name).startswith("sweeps_") and name != VERSION_TABLE)


context.configure(
    connection=context.config.attributes["connection"],
    target_metadata=Base.metadata,
    version_table=VERSION_TABLE,
    include_name=_ours,
    render_as_batch=True,  # SQLite alters a table by copying it: Alembic's batch mode
)
with context.begin_transaction():
    context.run_migrations()

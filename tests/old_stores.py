"""Stores as the releases before schema versioning left them, for the upgrade tests."""

from __future__ import annotations

import sqlalchemy as sa

from storage.schema import VERSION_TABLE, alembic_config


def schema_1_without_a_version(engine: sa.Engine, without: tuple[str, ...] = ()) -> None:
    """The tables the releases before versioning made (schema 1), as they made them, less the
    tables ``without`` (those releases made some only once they were first written)."""
    from alembic import command

    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), "1")
        for table in (VERSION_TABLE, *reversed(without)):
            connection.execute(sa.text(f"DROP TABLE {table}"))

"""The version of our tables: a new store is made at the head, an older one is upgraded in
place, a newer one is refused, all before anything else reads or writes them.

The version is Alembic's, kept in a table of our own (:data:`VERSION_TABLE`), since Optuna
versions its tables in ``alembic_version`` in the same database; the migrations are in
storage/migrations. The releases before this version table made the tables of schema 1 and no
version: such a store is read as schema 1, and upgraded through it on its first write.

Readers check the stored revision against :data:`READS` with one plain query: Alembic is loaded
only by writers and by the error that a reader meets, so the query commands stay quick.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from storage.engine import mask_url
from storage.tables import Base, Sweep

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

__all__ = [
    "HEAD",
    "READS",
    "MIGRATIONS",
    "VERSION_TABLE",
    "SchemaVersionError",
    "alembic_config",
    "check_readable",
    "stored_revision",
    "upgrade_schema",
]

VERSION_TABLE = "sweeps_schema_version"
MIGRATIONS = Path(__file__).with_name("migrations")
# The revision storage.tables describes: the head of MIGRATIONS (a test checks they agree).
HEAD = "3"
# What a store written before the version table holds (our tables, no version).
UNVERSIONED = "1"
# The revisions the queries read as they are: schemas 2 and 3 dropped columns that no query
# reads (the sweep's claim counter, the trial's copy of its status), so a store at schema 1
# is read without an upgrade.
READS = ("1", "2", "3")
# Serialises upgrades on PostgreSQL (SQLite's BEGIN IMMEDIATE does so there): any constant.
_ADVISORY_LOCK = 0x5357_4545_5053  # "SWEEPS"


class SchemaVersionError(Exception):
    """The store's tables are at a version this code cannot read or write; one line.

    The storage layer's own error: sweeps translates it at its boundary
    (:mod:`sweeps.store_access`) into ``sweeps.errors.StorageError``."""


def alembic_config(connection: Connection, scripts: Path = MIGRATIONS) -> Config:
    """Alembic's configuration in code (no alembic.ini): our scripts, run on ``connection``."""
    from alembic.config import Config

    config = Config()
    # Config values are interpolated: a % in a path would start a substitution.
    config.set_main_option("script_location", str(scripts).replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


@functools.cache
def _script(scripts: Path) -> ScriptDirectory:
    """The migration scripts, parsed once per process."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(scripts))


def _known(scripts: Path) -> list[str]:
    """Every revision of ``scripts``, oldest first."""
    return [r.revision for r in reversed(list(_script(scripts).walk_revisions()))]


def stored_revision(connection: Connection) -> str | None:
    """The revision recorded in the store; None when it has no version table (a new store, or
    one written before versioning)."""
    if not sa.inspect(connection).has_table(VERSION_TABLE):
        return None
    query = sa.text(f"SELECT version_num FROM {VERSION_TABLE}")
    return connection.execute(query).scalar()


def _has_our_tables(connection: Connection) -> bool:
    # Every release made the sweep table first: without it, none of ours are there.
    return sa.inspect(connection).has_table(Sweep.__tablename__)


def _store(connection: Connection) -> str:
    return mask_url(connection.engine.url.render_as_string(hide_password=False))


def _newer(connection: Connection, revision: str, scripts: Path) -> SchemaVersionError:
    return SchemaVersionError(
        f"storage {_store(connection)!r}: this store was written by a newer sweeps (schema "
        f"{revision}; this sweeps knows schema {_known(scripts)[-1]} at most); upgrade sweeps: "
        "pip install -U sweeps."
    )


def check_readable(connection: Connection) -> None:
    """Refuse a store whose tables the queries would misread: one written by a newer sweeps,
    or one at a schema older than :data:`READS` (a writer upgrades it). Writes nothing: a
    read-only store of the releases before versioning is read as schema 1 as it is."""
    if not _has_our_tables(connection):
        return
    revision = stored_revision(connection) or UNVERSIONED
    if revision in READS:
        return
    if revision not in _known(MIGRATIONS):
        raise _newer(connection, revision, MIGRATIONS)
    raise SchemaVersionError(
        f"storage {_store(connection)!r} holds sweeps tables at schema {revision}, older than "
        f"this sweeps reads (schema {READS[0]} or later); resume or join one of its studies once "
        "to upgrade it in place."
    )


def upgrade_schema(engine: Engine, scripts: Path = MIGRATIONS) -> str | None:
    """Bring our tables to the head of ``scripts``, in one transaction that other processes
    wait for: create them in a new store, upgrade an older one in place.

    Returns the one line to report when an existing store changed (None when it was new or
    current). Raises SchemaVersionError, before changing anything, when a newer sweeps wrote it.
    """
    with _migrating(engine) as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(sa.select(sa.func.pg_advisory_xact_lock(_ADVISORY_LOCK)))
        revision = stored_revision(connection)
        # Ours: HEAD, without loading Alembic in every worker that opens a current store.
        if revision == (HEAD if scripts == MIGRATIONS else _known(scripts)[-1]):
            return None
        known = _known(scripts)
        config = alembic_config(connection, scripts)
        from alembic import command

        logging.getLogger("alembic").setLevel(logging.WARNING)  # we report in one line

        if revision is None and not _has_our_tables(connection):
            # A new store: the tables as storage.tables makes them, at the head (as Optuna does).
            Base.metadata.create_all(connection)
            command.stamp(config, "head")
            return None
        if revision is not None and revision not in known:
            raise _newer(connection, revision, scripts)
        # From no version, revision 1 first creates the schema-1 tables the store lacks (the
        # releases before versioning created some only once they were first written).
        command.upgrade(config, "head")
    was = f"schema {revision}" if revision else "unversioned, written by an earlier release"
    return f"Upgraded the store's sweeps tables to schema {known[-1]} (was: {was})."


@contextlib.contextmanager
def _migrating(engine: Engine) -> Iterator[Connection]:
    """A connection in one transaction, for a migration. On SQLite its foreign keys are off:
    Alembic alters a table there by copying it and dropping the old one, and that drop would
    cascade to the rows referring to it (an evaluation's per-class rows, say). SQLite ignores
    the pragma inside a transaction, so it is set on the driver's connection, before one."""
    with engine.connect() as connection:
        driver = connection.connection.driver_connection
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            driver.execute("PRAGMA foreign_keys = OFF")
        try:
            with connection.begin():
                yield connection
        finally:
            if sqlite:
                driver.execute("PRAGMA foreign_keys = ON")

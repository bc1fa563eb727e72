"""Which versions of Optuna's tables our raw SQL reads (storage.optuna_tables), checked once
per engine before the first read: a store whose Optuna tables changed shape gives one clear
line, not wrong numbers. Optuna keeps their version in ``alembic_version``.
"""

from __future__ import annotations

import weakref

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from storage.engine import mask_url, reader
from storage.schema import SchemaVersionError

__all__ = ["OPTUNA_SCHEMAS", "OPTUNA_VERSION_TABLE", "check_optuna_schema"]

OPTUNA_VERSION_TABLE = "alembic_version"
# The revisions of Optuna's tables that storage.optuna_tables was written for: the head since
# Optuna 3.2, through the Optuna this is tested with (tests/test_schema.py checks that the
# installed Optuna's head is among them: add a new head here once the queries are checked
# against it).
OPTUNA_SCHEMAS = ("v3.2.0.a",)

_checked: weakref.WeakKeyDictionary[Engine, str] = weakref.WeakKeyDictionary()


def check_optuna_schema(engine: Engine) -> None:
    """Raise SchemaVersionError when the store's Optuna tables are at a version we do not read.

    A store without them yet (a new one) passes and is checked again on the next call; once a
    version was read, the engine's answer is kept.
    """
    if engine in _checked:
        return
    with reader(engine).connect() as connection:
        version = _version(connection)
    if version is None:
        return
    if version not in OPTUNA_SCHEMAS:
        store = mask_url(engine.url.render_as_string(hide_password=False))
        raise SchemaVersionError(
            f"storage {store!r}: Optuna's tables are at schema {version}, which this sweeps "
            f"does not read (it reads {', '.join(OPTUNA_SCHEMAS)}); upgrade sweeps: pip install "
            "-U sweeps optuna."
        )
    _checked[engine] = version


def _version(connection: Connection) -> str | None:
    """Optuna's recorded revision; None when its tables are not there yet."""
    inspector = sa.inspect(connection)
    if not inspector.has_table(OPTUNA_VERSION_TABLE):
        # Tables without a version are not Optuna's as we know them: an empty version says so.
        return "none" if inspector.has_table("trials") else None
    query = sa.text(f"SELECT version_num FROM {OPTUNA_VERSION_TABLE}")
    return connection.execute(query).scalar() or "none"

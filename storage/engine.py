"""Engines for the store: URL parsing and masking, SQLite pragmas, one session scope.

SQLite is opened in WAL mode with a long busy timeout, and every transaction starts with
``BEGIN IMMEDIATE``: several worker processes share one file, and a deferred transaction that
reads and then writes fails at once with "database is locked" when another process wrote in
between, whatever the timeout. Taking the write lock up front makes writers queue instead.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker

__all__ = [
    "BUSY_TIMEOUT_SECONDS",
    "StorageURLError",
    "check_reachable",
    "create_engine",
    "engine_options",
    "harden_sqlite",
    "mask_url",
    "normalize_url",
    "session_scope",
]

BUSY_TIMEOUT_SECONDS = 120


class StorageURLError(ValueError):
    """A storage URL is malformed or the database behind it cannot be reached."""


def normalize_url(storage: str) -> str:
    """A SQLAlchemy URL; a bare path such as ``sweeps.db`` means a SQLite file."""
    if "://" not in storage:
        storage = f"sqlite:///{storage}"
    try:
        url = make_url(storage)
    except ArgumentError as exc:
        raise StorageURLError(
            f"storage {storage!r} is not a database URL; give a path such as sweeps.db or a "
            "URL such as sqlite:///sweeps.db or postgresql://user@host/db."
        ) from exc
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        folder = Path(url.database).expanduser().resolve().parent
        if not folder.is_dir():
            raise StorageURLError(
                f"storage {mask_url(storage)!r} points into {str(folder)!r}, which does not "
                "exist; create the folder or choose another path."
            )
    return url.render_as_string(hide_password=False)


def mask_url(url: str) -> str:
    """The URL with its password replaced by ***, for every output and log."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<malformed storage URL>"


def harden_sqlite(engine: Engine) -> Engine:
    """WAL, busy timeout and BEGIN IMMEDIATE on a SQLite engine (no-op for others)."""
    if engine.dialect.name != "sqlite":
        return engine

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below issue BEGIN, not the sqlite3 module.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_SECONDS * 1000}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    engine.dispose()  # connections opened before the listeners existed lack the pragmas
    return engine


def engine_options(url: str) -> dict[str, Any]:
    """create_engine() keywords for ``url``: ours and Optuna's engines are made alike."""
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": BUSY_TIMEOUT_SECONDS}}
    return {"pool_pre_ping": True}


def create_engine(url: str) -> Engine:
    """An engine for ``url`` (already normalised), hardened when it is SQLite."""
    try:
        engine = sa.create_engine(url, **engine_options(url))
    except ModuleNotFoundError as exc:
        raise StorageURLError(
            f"storage {mask_url(url)!r} needs the Python driver {exc.name!r}, which is not "
            f"installed: pip install {exc.name}."
        ) from None
    except ArgumentError as exc:
        raise StorageURLError(f"storage {mask_url(url)!r} is not usable: {exc}.") from None
    return harden_sqlite(engine)


def check_reachable(engine: Engine) -> None:
    """Open one connection, so an unreachable server fails here with one clear line."""
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
    except Exception as exc:  # any driver error means the same thing to the user
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StorageURLError(
            f"cannot open storage {mask_url(str(engine.url.render_as_string(False)))!r}: "
            f"{reason}; check that the server is running and the URL is right."
        ) from exc


@contextlib.contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    session = sessionmaker(bind=engine, expire_on_commit=False)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()

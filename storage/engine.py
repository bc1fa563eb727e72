"""Engines for the store: URL parsing and masking, SQLite pragmas, one session scope.

SQLite is opened in WAL mode with a long busy timeout, and a transaction that may write starts
with ``BEGIN IMMEDIATE``: several worker processes share one file, and a deferred transaction
that reads and then writes fails at once with "database is locked" when another process wrote
in between, whatever the timeout. Taking the write lock up front makes writers queue instead.

Work that only reads says so (:func:`reader` for an engine of ours, :func:`reading` around
Optuna's reads) and begins deferred: in WAL mode a reader takes no lock, so polls and queries
never make a writer wait, and a writer never makes them wait either. Writing is the default,
so a read that was not marked costs the lock but is never unsafe.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker

__all__ = [
    "BUSY_TIMEOUT_SECONDS",
    "StorageURLError",
    "check_reachable",
    "check_writable",
    "create_engine",
    "engine_options",
    "harden_sqlite",
    "mask_url",
    "normalize_url",
    "read_only_engine",
    "read_only_options",
    "reader",
    "reading",
    "store_writable",
    "scrub",
    "session_scope",
]

BUSY_TIMEOUT_SECONDS = 120

# An engine's execution option: its transactions only read (see reader()).
_READS_ONLY = "sweeps_reads_only"
# Set while code that owns its engine (Optuna's storage) runs a method that only reads.
_reading: ContextVar[bool] = ContextVar("sweeps_reading", default=False)


class StorageURLError(ValueError):
    """A storage URL is malformed or the database behind it cannot be reached.

    The storage layer's own error (this package imports nothing from sweeps): sweeps translates
    it at its boundary (:mod:`sweeps.store_access`) into ``sweeps.errors.StorageError``."""


# Query parameters that carry credentials (libpq's password, sslpassword; tokens, keys and
# auth strings of cloud drivers): never printed. Matched as parts of the name, so
# ``sslpassword``, ``access_token`` and ``api_key`` are caught too; masking a harmless one
# (``sslkey``, a file path) costs nothing.
_SECRET_KEYS = ("pass", "secret", "token", "pwd", "key", "auth", "credential")


def _is_secret_key(key: str) -> bool:
    """Whether query parameter ``key`` (as written, perhaps percent-encoded) holds a secret."""
    name = unquote(key.replace("+", " ")).lower()
    return any(word in name for word in _SECRET_KEYS)


# Python driver module -> the package that provides it, for the "pip install" hint.
_DRIVER_PACKAGES = {
    "MySQLdb": "mysqlclient",
    "pymysql": "PyMySQL",
    "psycopg2": "psycopg2-binary",
    "psycopg": "'psycopg[binary]'",
    "asyncpg": "asyncpg",
    "pyodbc": "pyodbc",
    "cx_Oracle": "cx-Oracle",
    "oracledb": "oracledb",
}


def _split_userinfo(url: str) -> tuple[str, str | None, str]:
    """``(scheme://, userinfo or None, rest)`` split at the LAST ``@`` of the authority, so a
    password holding an unencoded ``@`` or ``/`` stays whole."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.startswith("sqlite"):
        return url, None, ""
    before_query = rest.split("?", 1)[0]
    at = before_query.rfind("@")
    if at < 0:
        return scheme + sep, None, rest
    return scheme + sep, rest[:at], rest[at + 1 :]


def _encode_password(storage: str) -> str:
    """Percent-encode the password part, so ``user:p@ss@host`` connects as password ``p@ss``."""
    head, userinfo, rest = _split_userinfo(storage)
    if userinfo is None or ":" not in userinfo:
        return storage
    user, _, password = userinfo.partition(":")
    return f"{head}{user}:{quote(unquote(password), safe='')}@{rest}"


def normalize_url(storage: str) -> str:
    """A SQLAlchemy URL; a bare path such as ``sweeps.db`` means a SQLite file.

    Raises:
        StorageURLError: not a URL, an in-memory SQLite database (worker processes could not
            share it), a folder, or a file in a folder that does not exist.
    """
    if not isinstance(storage, str) or not storage.strip():
        raise StorageURLError(
            f"storage {storage!r} is empty; give a path such as sweeps.db or a URL such as "
            "postgresql://user@host/db."
        )
    if "://" not in storage:
        storage = f"sqlite:///{storage}"
    storage = _encode_password(storage)
    try:
        url = make_url(storage)
    except ArgumentError as exc:
        raise StorageURLError(
            f"storage {mask_url(storage)!r} is not a database URL; give a path such as sweeps.db "
            "or a URL such as sqlite:///sweeps.db or postgresql://user@host/db."
        ) from exc
    if url.get_backend_name() == "sqlite":
        if url.database in (None, "", ":memory:") or "mode=memory" in storage:
            raise StorageURLError(
                f"storage {storage!r} is an in-memory SQLite database, which worker processes "
                "cannot share and which vanishes on exit; give a file such as sweeps.db."
            )
        path = Path(url.database).expanduser().resolve()
        if path.is_dir():
            raise StorageURLError(
                f"storage {str(path)!r} is a folder; give a file inside it such as "
                f"{str(path / 'sweeps.db')!r}."
            )
        if not path.parent.is_dir():
            raise StorageURLError(
                f"storage {mask_url(storage)!r} points into {str(path.parent)!r}, which does not "
                "exist; create the folder or choose another path."
            )
    return url.render_as_string(hide_password=False)


def mask_url(url: str) -> str:
    """The URL with every credential replaced by ***, for every output and log.

    Masks the password of the user part (split at the last ``@``, so an unencoded ``@`` in it
    does not leak its tail) and query parameters such as ``password=`` or ``sslpassword=``.
    """
    head, userinfo, rest = _split_userinfo(str(url))
    if userinfo is not None and ":" in userinfo:
        userinfo = userinfo.split(":", 1)[0] + ":***"
    masked = f"{head}{userinfo}@{rest}" if userinfo is not None else f"{head}{rest}"
    base, sep, query = masked.partition("?")
    if not sep:
        return masked
    pairs = []
    for pair in query.split("&"):
        key, eq, _ = pair.partition("=")
        pairs.append(f"{key}=***" if eq and _is_secret_key(key) else pair)
    return f"{base}?{'&'.join(pairs)}"


def scrub(text: str, url: str) -> str:
    """``text`` (a driver's error, say) with every credential of ``url`` replaced by ***."""
    secrets = set()
    _, userinfo, _ = _split_userinfo(str(url))
    if userinfo and ":" in userinfo:
        secrets.add(userinfo.split(":", 1)[1])
    for pair in str(url).partition("?")[2].split("&"):
        key, eq, value = pair.partition("=")
        if eq and value and _is_secret_key(key):
            secrets.add(value)
    for secret in sorted({s for v in secrets for s in (v, unquote(v))}, key=len, reverse=True):
        if secret:
            text = text.replace(secret, "***")
    return text


def reader(engine: Engine) -> Engine:
    """``engine`` for work that only reads: on SQLite its transactions begin deferred, taking
    no lock (the same pool and connections; other databases are unchanged). Writing through
    it is a mistake that SQLite may answer with "database is locked"."""
    return engine.execution_options(**{_READS_ONLY: True})


@contextlib.contextmanager
def reading() -> Iterator[None]:
    """Transactions begun inside this block, in this thread, only read: for an engine that
    code we do not own begins transactions on (Optuna's storage); see :func:`reader`."""
    token = _reading.set(True)
    try:
        yield
    finally:
        _reading.reset(token)


def _reads_only(connection: Any) -> bool:
    return _reading.get() or bool(connection.get_execution_options().get(_READS_ONLY))


def harden_sqlite(engine: Engine) -> Engine:
    """WAL, busy timeout, and BEGIN IMMEDIATE for every transaction that may write, on a
    SQLite engine (no-op for others)."""
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
        connection.exec_driver_sql("BEGIN" if _reads_only(connection) else "BEGIN IMMEDIATE")

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
        package = _DRIVER_PACKAGES.get(str(exc.name), exc.name)
        raise StorageURLError(
            f"storage {mask_url(url)!r} needs the Python driver {exc.name!r}, which is not "
            f"installed: pip install {package}."
        ) from None
    except ArgumentError as exc:
        raise StorageURLError(
            f"storage {mask_url(url)!r} is not usable: {scrub(str(exc), url)}."
        ) from None
    return harden_sqlite(engine)


def read_only_engine(url: str) -> Engine:
    """An engine that cannot change the store and leaves its folder as it found it: query
    commands use it, and Optuna's plots through :func:`read_only_options`.

    Other databases run every transaction read-only. SQLite is never switched to WAL (a store
    that ``sweeps`` did not make stays as it was), and no ``-wal`` or ``-shm`` file is left
    behind; see :func:`read_only_options`.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        engine = create_engine(url)
        engine.update_execution_options(postgresql_readonly=True)
        return engine
    return sa.create_engine(url, **read_only_options(url))


def read_only_options(url: str) -> dict[str, Any]:
    """``create_engine()`` keywords that open ``url`` read-only (``RDBStorage``'s
    ``engine_kwargs`` too, so Optuna's plots read a store they cannot write).

    A SQLite store in WAL mode grows a ``-wal`` and a ``-shm`` file as soon as anything reads
    it, and a read-only connection, which cannot checkpoint, leaves them behind. So each
    connection is chosen when it opens (no pool keeps one open):

    - no ``-wal`` file and a writable store and folder: read-write with ``query_only``; its
      close, as the last connection, removes the two files its read made (SQLite's own rule,
      so a writer that opened meanwhile keeps them);
    - a ``-wal`` file already there (a sweep is running, or one was killed): read-only, which
      creates nothing and leaves them as they are;
    - a folder or store we may not write, without a ``-wal``: SQLite cannot open a WAL store
      read-only there (it needs the ``-shm``), so it is opened as immutable: no locks, no files.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return {**engine_options(url), "execution_options": {"postgresql_readonly": True}}
    path = Path(str(parsed.database)).expanduser().resolve()

    def connect() -> Any:
        import sqlite3

        if _sqlite_writable(path) and not Path(f"{path}-wal").exists():
            modes = ("mode=rw",)
        else:
            modes = ("mode=ro", "immutable=1")
        for mode in modes:
            connection = sqlite3.connect(
                f"file:{quote(str(path))}?{mode}",
                uri=True,
                timeout=BUSY_TIMEOUT_SECONDS,
                check_same_thread=False,
            )
            try:
                connection.execute("PRAGMA query_only = ON")
                connection.execute(_PROBE["sqlite"])  # the open itself is lazy
                return connection
            except sqlite3.DatabaseError:
                connection.close()
                if mode == modes[-1]:
                    raise
        raise AssertionError("unreachable")

    return {"creator": connect, "poolclass": sa.pool.NullPool}


def store_writable(url: str) -> bool:
    """Whether this process may write the store: a server database says so itself (a
    read-only role fails on its first write); a SQLite store needs its file and folder."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return True
    return _sqlite_writable(Path(str(parsed.database)).expanduser().resolve())


def _sqlite_writable(path: Path) -> bool:
    # The folder too: SQLite writes its -wal, -shm and journal files beside the store.
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK | os.X_OK)


# SQLite opens any file lazily: only reading its schema tells a database from another file.
_PROBE = {"sqlite": "SELECT count(*) FROM sqlite_master"}


def check_reachable(engine: Engine) -> None:
    """Open one connection, so an unreachable store fails here with one clear line."""
    url = engine.url.render_as_string(hide_password=False)
    try:
        with reader(engine).connect() as connection:
            connection.exec_driver_sql(_PROBE.get(engine.dialect.name, "SELECT 1"))
    except Exception as exc:  # any driver error means the same thing to the user
        text = scrub(str(exc).strip(), url)
        reason = text.splitlines()[0] if text else type(exc).__name__
        hint = (
            "check the file's permissions and that it is a SQLite database"
            if engine.dialect.name == "sqlite"
            else "check that the server is running and the URL is right"
        )
        raise StorageURLError(f"cannot open storage {mask_url(url)!r}: {reason}; {hint}.") from exc


def check_writable(url: str) -> None:
    """Raise StorageURLError when a SQLite store (or its folder) cannot be written; the
    caller adds what to do instead, in its reader's words."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return
    path = Path(str(parsed.database)).expanduser().resolve()
    target = path if path.exists() else path.parent
    # The folder must be writable too: SQLite writes its -wal and -shm files beside the store.
    for place in {target, path.parent}:
        if not os.access(place, os.W_OK):
            raise StorageURLError(
                f"storage {str(path)!r} cannot be written ({str(place)!r} is read-only)"
            )


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

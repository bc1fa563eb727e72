"""Open a store and find a sweep in it, without importing Optuna (the query commands' path).

Every place in sweeps that normalises a storage URL, opens an engine on it or checks its
schema goes through here. ``storage`` imports nothing from sweeps, so it raises its own errors
(``StorageURLError``, ``SchemaVersionError``); :func:`store_errors` raises them again as
:class:`sweeps.errors.StorageError`, under sweeps' one root and with the same message, as
:mod:`sweeps.space_access` does for the spaces' errors.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy.engine import Engine, make_url

from storage import StorageURLError, check_reachable, create_engine, mask_url, normalize_url
from storage.engine import check_writable as check_sqlite_writable
from storage.engine import read_only_engine, reader
from storage.optuna_schema import check_optuna_schema
from storage.queries import find_sweep, latest_study_name, list_studies, optuna_study_names
from storage.schema import SchemaVersionError, check_readable, upgrade_schema
from storage.tables import Sweep
from sweeps.errors import StorageError
from sweeps.phrasing import next_step, option, sweeps_command

__all__ = [
    "check_writable",
    "load_sweep",
    "missing_study",
    "normalized_url",
    "open_store",
    "store_errors",
]


@contextlib.contextmanager
def store_errors() -> Iterator[None]:
    """Raise the storage layer's errors (a bad or unreachable URL, a schema this code cannot
    use) as sweeps' StorageError, with the same message."""
    try:
        yield
    except (StorageURLError, SchemaVersionError) as err:
        raise StorageError(str(err)) from err


def normalized_url(storage: str) -> str:
    """The SQLAlchemy URL for ``storage`` (a bare path means a SQLite file); StorageError when
    it is malformed, in memory, a folder, or in a folder that does not exist."""
    with store_errors():
        return normalize_url(storage)


def check_writable(url: str) -> None:
    """StorageError when a SQLite store (or its folder) cannot be written; the message says
    only why, so the caller adds what to do instead, in its reader's words."""
    with store_errors():
        check_sqlite_writable(url)


def _start() -> str:
    return next_step("sweeps run", "sweeps.run()")


def open_store(storage: str, *, must_exist: bool = False) -> tuple[str, Engine]:
    """Normalise and reach the storage URL; bad or unreachable ones raise StorageError, and
    so does a store whose tables (ours or Optuna's) are at a version this code cannot use.

    With ``must_exist`` the store is opened read-only, as the query commands need: a SQLite
    file that is not there is an error rather than created empty, and nothing in an existing
    one (its journal mode included) is changed, so a store in a read-only folder works.
    Otherwise it is opened for writing, and our tables are created or upgraded to this code's
    schema first; an upgrade is reported in one line on stderr.
    """
    url = normalized_url(storage)
    if must_exist:
        database = make_url(url).database
        if url.startswith("sqlite") and not Path(str(database)).expanduser().exists():
            raise StorageError(
                f"storage {database!r} does not exist; run {_start()} first "
                f"or point {option('--storage')} at an existing store."
            )
    with store_errors():
        engine = read_only_engine(url) if must_exist else create_engine(url)
        check_reachable(engine)
        check_optuna_schema(engine)  # first: a store we cannot read is left as it was
        if must_exist:
            with reader(engine).connect() as connection:
                check_readable(connection)
        else:
            upgraded = upgrade_schema(engine)
            if upgraded:
                print(upgraded, file=sys.stderr)
    return url, engine


def missing_study(engine: Engine, url: str, study_name: str) -> StorageError:
    """The error for an unknown study name, listing the ones that exist."""
    if study_name in optuna_study_names(engine):
        return StorageError(
            f"study {study_name!r} in {mask_url(url)!r} is an Optuna study that sweeps did not "
            "make, so it has none of sweeps' records; read it with `optuna` or optuna-dashboard."
        )
    known = list(list_studies(engine)["study"])
    hint = f"known studies: {', '.join(known)}" if known else "it holds no sweeps yet"
    listing = next_step(
        sweeps_command("studies", storage=mask_url(url)), f"sweeps.studies({mask_url(url)!r})"
    )
    return StorageError(
        f"study {study_name!r} does not exist in {mask_url(url)!r} ({hint}); "
        f"check {option('--storage')} and the study name ({listing} lists them)."
    )


def load_sweep(study_name: str | None, storage: str) -> tuple[Sweep, Engine]:
    """Our sweep row without opening Optuna (query commands); None picks the newest study."""
    url, engine = open_store(storage, must_exist=True)
    if study_name is None:
        study_name = latest_study_name(engine)
        if study_name is None:
            foreign = optuna_study_names(engine)
            hint = (
                f" (its Optuna studies {', '.join(map(repr, foreign))} were not made by sweeps)"
                if foreign
                else ""
            )
            raise StorageError(
                f"{mask_url(url)!r} holds no sweeps{hint}; start one with {_start()} "
                f"or point {option('--storage')} at another database."
            )
    sweep = find_sweep(engine, study_name)
    if sweep is None:
        raise missing_study(engine, url, study_name)
    return sweep, engine

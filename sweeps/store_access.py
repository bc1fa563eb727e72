"""Open a store and find a sweep in it, without importing Optuna (the query commands' path)."""

from __future__ import annotations

import sys
from pathlib import Path

from sqlalchemy.engine import Engine, make_url

from storage import check_reachable, create_engine, mask_url, normalize_url
from storage.engine import read_only_engine, reader
from storage.models import Sweep
from storage.optuna_schema import check_optuna_schema
from storage.queries import find_sweep, latest_study_name, list_studies, optuna_study_names
from storage.schema import check_readable, upgrade_schema
from sweeps.errors import StorageError
from sweeps.phrasing import next_step, option, sweeps_command

__all__ = ["load_sweep", "missing_study", "open_store"]


def _start() -> str:
    return next_step("sweeps run", "sweeps.run()")


def open_store(storage: str, *, must_exist: bool = False) -> tuple[str, Engine]:
    """Normalise and reach the storage URL; bad or unreachable ones raise StorageError
    (storage's StorageURLError is one), and so does a store whose tables (ours or Optuna's)
    are at a version this code cannot use (SchemaVersionError).

    With ``must_exist`` the store is opened read-only, as the query commands need: a SQLite
    file that is not there is an error rather than created empty, and nothing in an existing
    one (its journal mode included) is changed, so a store in a read-only folder works.
    Otherwise it is opened for writing, and our tables are created or upgraded to this code's
    schema first; an upgrade is reported in one line on stderr.
    """
    url = normalize_url(storage)
    if must_exist:
        database = make_url(url).database
        if url.startswith("sqlite") and not Path(str(database)).expanduser().exists():
            raise StorageError(
                f"storage {database!r} does not exist; run {_start()} first "
                f"or point {option('--storage')} at an existing store."
            )
        engine = read_only_engine(url)
    else:
        engine = create_engine(url)
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

"""A store that evolves: our tables' schema version (storage.schema, Alembic migrations in
storage/migrations) and the check of Optuna's (storage.optuna_schema).

tests/fixtures/store-before-versioning.db is a real store of the release before versioning,
written by commit 4417dbd with

    sweeps run --space mnist_cnn --trials 2 --epochs 2 --workers 1 --no-tensorboard \\
        --no-lr-range-test --keep-models none --study legacy \\
        --storage sqlite:////tmp/sweeps-store-before-versioning/store.db

Its checkpoints were not kept and its two trials finished, so a resume needs none: the fixture
is the store alone, and a test gives its copy the empty study folder a copied sweep would
bring. Tests copy it before opening it.

tests/fixtures/store-schema-2.db is a real store of the release before schema 3 (the status
column derived, the saved config in its versioned form), written by commit e240fb6 with

    sweeps run --space mnist_cnn --trials 2 --epochs 2 --workers 1 --no-tensorboard \\
        --keep-models none --study legacy \\
        --storage sqlite:////tmp/sweeps-store-schema-2/store.db
"""

from __future__ import annotations

import json
import multiprocessing as mp
import shutil
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa

from storage import create_engine
from storage.optuna_schema import OPTUNA_SCHEMAS, check_optuna_schema
from storage.schema import (
    HEAD,
    MIGRATIONS,
    VERSION_TABLE,
    SchemaVersionError,
    alembic_config,
    check_readable,
    stored_revision,
    upgrade_schema,
)
from storage.tables import Base
from tests.conftest import invoke
from tests.digests import store_rows
from tests.old_stores import schema_1_without_a_version
from tests.unprivileged import listing, make_read_only, needs_setpriv, run_commands

FIXTURE = Path(__file__).parent / "fixtures" / "store-before-versioning.db"
FIXTURE_SCHEMA_2 = Path(__file__).parent / "fixtures" / "store-schema-2.db"
STUDY = "legacy"
UPGRADED = (
    "Upgraded the store's sweeps tables to schema 3 (was: unversioned, written by an earlier "
    "release)."
)
UPGRADED_FROM_2 = "Upgraded the store's sweeps tables to schema 3 (was: schema 2)."
NEWER = "999"  # a schema no sweeps has made yet


def _copy_fixture(folder: Path, fixture: Path = FIXTURE) -> Path:
    """A copy of an earlier release's store in ``folder``, with its study folder beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    store = folder / "sweeps.db"
    shutil.copyfile(fixture, store)
    config = json.loads(_sql(store, "SELECT config_json FROM sweeps_sweep")[0][0])
    (folder / "sweeps-artifacts" / config["study_folder"]).mkdir(parents=True)
    return store


@pytest.fixture
def legacy(tmp_path: Path) -> Path:
    return _copy_fixture(tmp_path / "legacy")


def _sql(store: Path, sql: str) -> list[tuple]:
    """Run ``sql`` on a SQLite store by hand (sqlite3, none of our engines); commits."""
    connection = sqlite3.connect(store)
    try:
        rows = connection.execute(sql).fetchall()
        connection.commit()
        return rows
    finally:
        connection.close()


def _revision(store: Path) -> str | None:
    if not _sql(store, f"SELECT name FROM sqlite_master WHERE name = '{VERSION_TABLE}'"):
        return None
    return _sql(store, f"SELECT version_num FROM {VERSION_TABLE}")[0][0]


def _stamp(store: Path, revision: str) -> None:
    """Record ``revision`` as the store's, as the sweeps that made it would have."""
    _sql(store, f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (version_num VARCHAR(32) NOT NULL)")
    _sql(store, f"DELETE FROM {VERSION_TABLE}")
    _sql(store, f"INSERT INTO {VERSION_TABLE} VALUES ('{revision}')")


def _rows(engine: sa.Engine) -> dict[str, list[tuple]]:
    """Every table's rows (ours and Optuna's; not our version), in a stable order."""
    with engine.connect() as connection:
        names = set(sa.inspect(connection).get_table_names()) - {VERSION_TABLE}
        return {
            name: sorted(
                map(tuple, connection.execute(sa.text(f'SELECT * FROM "{name}"'))), key=repr
            )
            for name in names
        }


def _one_error(result, *phrases: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    for phrase in phrases:
        assert phrase in lines[0], lines[0]


# The migrations themselves. ------------------------------------------------------------------


def test_head_is_the_last_revision_of_the_scripts() -> None:
    from alembic.script import ScriptDirectory

    assert ScriptDirectory(str(MIGRATIONS)).get_current_head() == HEAD


def _differences(engine: sa.Engine) -> list[str]:
    """What Alembic's autogenerate finds between the database and storage.tables."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with engine.connect() as connection:
        diffs = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    return [repr(d) for d in diffs if not (d[0] == "remove_table" and d[1].name == VERSION_TABLE)]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_migrations_make_the_tables_that_storage_tables_makes(
    request, tmp_path: Path, backend: str
) -> None:
    """Revision 1 is today's schema exactly: migrating an empty database to the head gives the
    tables, columns, indexes and constraints that storage.tables creates."""
    from alembic import command

    url = (
        f"sqlite:///{tmp_path / 'migrated.db'}"
        if backend == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    migrated = create_engine(url)
    with migrated.begin() as connection:
        command.upgrade(alembic_config(connection), "head")
    with migrated.connect() as connection:
        assert stored_revision(connection) == HEAD
    assert _differences(migrated) == []
    if backend == "sqlite":  # and the very DDL, to the constraint names and column types
        created = create_engine(f"sqlite:///{tmp_path / 'created.db'}")
        Base.metadata.create_all(created)
        ddl = "SELECT type, name, sql FROM sqlite_master WHERE name LIKE 'sweeps_%' OR name "
        ddl += "LIKE 'ix_%' ORDER BY name"
        ours = [row for row in _sql(tmp_path / "migrated.db", ddl) if row[1] != VERSION_TABLE]
        assert ours == _sql(tmp_path / "created.db", ddl)
        created.dispose()
    migrated.dispose()


# A new store, the previous release's store, a newer sweeps' store. ----------------------------


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_new_store_is_created_at_the_head_without_a_word(
    request, tmp_path: Path, capsys, backend: str
) -> None:
    from sweeps.store_access import open_store

    storage = (
        str(tmp_path / "new.db") if backend == "sqlite" else request.getfixturevalue("postgres_url")
    )
    _, engine = open_store(storage)
    with engine.connect() as connection:
        assert stored_revision(connection) == HEAD
        tables = set(sa.inspect(connection).get_table_names())
    assert set(Base.metadata.tables) | {VERSION_TABLE} == tables
    assert capsys.readouterr().err == ""
    engine.dispose()


def test_the_previous_release_store_is_read_as_it_is(cli, legacy: Path) -> None:
    """The query commands read it as schema 1 and write nothing: no version is recorded."""
    before = store_rows(legacy)
    best = invoke(cli, "best", "--study", STUDY, "--storage", legacy)
    assert best.exit_code == 0, best.output
    assert "legacy: best of 2 trials" in best.stdout and "0.6875" in best.stdout
    status = invoke(cli, "status", "--study", STUDY, "--storage", legacy)
    assert status.exit_code == 0, status.output
    assert "legacy: 2/2 finished (2 complete" in status.stdout
    assert store_rows(legacy) == before and _revision(legacy) is None


def test_a_writer_upgrades_the_previous_release_store_once_in_one_line(
    legacy: Path, capsys
) -> None:
    from sweeps.store_access import open_store

    for _ in range(2):
        _, engine = open_store(str(legacy))
        engine.dispose()
    assert capsys.readouterr().err == UPGRADED + "\n"  # once: the second found it current
    assert _revision(legacy) == HEAD


def _at_schema_2(store: Path) -> None:
    """Upgrade a copy of the previous release's store to schema 2, as the release before
    schema 3 left its stores."""
    from alembic import command

    engine = create_engine(f"sqlite:///{store}")
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), "2")
    engine.dispose()
    assert _revision(store) == "2"


@pytest.mark.slow  # a real trial
@pytest.mark.parametrize(
    "fixture, schema",
    [(FIXTURE, None), (FIXTURE, "2"), (FIXTURE_SCHEMA_2, "2")],
    ids=["unversioned", "migrated-to-2", "written-at-2"],
)
def test_resume_upgrades_an_older_store_in_place_and_keeps_every_row(
    cli, tmp_path: Path, fixture: Path, schema: str | None
) -> None:
    """The previous releases' stores (unversioned; at schema 2, migrated there or written by
    that release): one line says the upgrade, the study resumes, every row stays, less the
    status column that schema 3 derives."""
    legacy = _copy_fixture(tmp_path / "legacy", fixture)
    if fixture == FIXTURE and schema is not None:
        _at_schema_2(legacy)
    assert _revision(legacy) == schema
    engine = create_engine(f"sqlite:///{legacy}")
    before = _rows(engine)
    result = invoke(cli, "resume", "--study", STUDY, "--trials", 3, "--storage", legacy)
    assert result.exit_code == 0, result.output
    upgraded = UPGRADED if schema is None else UPGRADED_FROM_2
    assert result.stderr.splitlines()[0] == upgraded, result.stderr
    assert result.stderr.count("Upgraded") == 1
    assert _revision(legacy) == HEAD
    after = _rows(engine)
    engine.dispose()
    # The sweep's row changed as a resume changes it (its budget); every other row is there.
    sweep_before, sweep_after = before.pop("sweeps_sweep"), after.pop("sweeps_sweep")
    assert [r[:2] for r in sweep_after] == [r[:2] for r in sweep_before]  # id, name
    results = before.pop("sweeps_trial_result")
    assert {(*r[:3], *r[4:]) for r in results} <= set(after["sweeps_trial_result"])
    for table, rows in before.items():
        assert set(rows) <= set(after[table]), table
    assert len(after["sweeps_trial_result"]) == 3 and len(after["trials"]) == 3
    status = invoke(cli, "status", "--study", STUDY, "--storage", legacy)
    assert "legacy: 3/3 finished" in status.stdout, status.output


@pytest.mark.parametrize("command", ["best", "status", "resume"])
def test_a_store_of_a_newer_sweeps_is_refused_in_one_line_and_left_as_it_was(
    cli, legacy: Path, command: str
) -> None:
    _stamp(legacy, NEWER)
    before = store_rows(legacy)
    extra = ["--trials", 3] if command == "resume" else []
    result = invoke(cli, command, "--study", STUDY, "--storage", legacy, *extra)
    _one_error(
        result,
        f"this store was written by a newer sweeps (schema {NEWER};",
        "upgrade sweeps: pip install -U sweeps",
    )
    assert store_rows(legacy) == before


@pytest.mark.parametrize("must_exist", [True, False])
def test_sweeps_raises_the_schema_error_again_under_its_root(legacy: Path, must_exist) -> None:
    """storage keeps its own SchemaVersionError; opening the store from sweeps raises it as
    sweeps.StorageError, with the same message and the cause kept."""
    from sweeps.errors import StorageError
    from sweeps.store_access import open_store

    _stamp(legacy, NEWER)
    with pytest.raises(StorageError, match=f"newer sweeps \\(schema {NEWER};") as caught:
        open_store(str(legacy), must_exist=must_exist)
    assert type(caught.value.__cause__) is SchemaVersionError
    assert str(caught.value) == str(caught.value.__cause__)


def test_a_newer_store_on_postgresql_is_refused_before_anything_changes(postgres_url) -> None:
    engine = create_engine(postgres_url)
    upgrade_schema(engine)
    with engine.begin() as connection:
        connection.execute(sa.text(f"UPDATE {VERSION_TABLE} SET version_num = '{NEWER}'"))
    before = _rows(engine)
    with pytest.raises(SchemaVersionError, match=f"newer sweeps \\(schema {NEWER};"):
        upgrade_schema(engine)
    with engine.connect() as connection, pytest.raises(SchemaVersionError, match="newer"):
        check_readable(connection)
    assert _rows(engine) == before
    engine.dispose()


def _upgrade_in_child(url: str, start, results) -> None:
    engine = create_engine(url)
    start.wait()
    try:
        results.put(upgrade_schema(engine))
    except Exception as exc:  # the parent says which
        results.put(f"failed: {exc!r}")


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_writers_opening_an_old_store_at_once_upgrade_it_once(
    request, tmp_path: Path, backend: str
) -> None:
    """Workers of several hosts may open it together: one upgrades, the others wait and find
    it current (SQLite's write lock, PostgreSQL's advisory lock)."""
    if backend == "sqlite":
        url = f"sqlite:///{_copy_fixture(tmp_path / 'store')}"
    else:  # the previous release's tables, without a version
        url = request.getfixturevalue("postgres_url")
        schema_1_without_a_version(create_engine(url))
    context = mp.get_context("spawn")
    start, results = context.Event(), context.Queue()
    children = [
        context.Process(target=_upgrade_in_child, args=(url, start, results)) for _ in range(3)
    ]
    for child in children:
        child.start()
    start.set()
    reports = [results.get(timeout=120) for _ in children]
    for child in children:
        child.join(timeout=60)
    assert sorted(reports, key=str) == [None, None, UPGRADED], reports
    with create_engine(url).connect() as connection:
        assert stored_revision(connection) == HEAD


SWEEP_COLUMNS = "study_id, study_name, config_json, budget, created_at"


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_schema_2_drops_the_claim_counter_and_keeps_every_sweep(
    request, tmp_path: Path, backend: str
) -> None:
    """Schema 2 reads the budget's use where it is true (Optuna's finished trials, the claims
    workers hold): the counter beside them goes, every sweep stays; going back to schema 1
    brings the counter back at 0, which that release's dispatcher recounts on start."""
    from alembic import command

    if backend == "sqlite":
        engine = create_engine(f"sqlite:///{_copy_fixture(tmp_path / 'store')}")
    else:
        engine = create_engine(request.getfixturevalue("postgres_url"))
        schema_1_without_a_version(engine)
        with engine.begin() as connection:
            connection.execute(sa.text(
                "INSERT INTO sweeps_sweep VALUES (7, 'pg', '{}', 4, 3, '2026-12-01 10:00:00')"
            ))  # fmt: skip
    sweeps = f"SELECT {SWEEP_COLUMNS} FROM sweeps_sweep ORDER BY study_id"
    with engine.connect() as connection:
        before = [tuple(r) for r in connection.execute(sa.text(sweeps))]
    assert before and upgrade_schema(engine) == UPGRADED
    with engine.connect() as connection:
        assert [tuple(r) for r in connection.execute(sa.text(sweeps))] == before
        columns = {c["name"] for c in sa.inspect(connection).get_columns("sweeps_sweep")}
        assert "claimed" not in columns and stored_revision(connection) == HEAD
    assert [d for d in _differences(engine) if "sweeps_" in d] == []  # Optuna's aside
    with engine.begin() as connection:
        command.downgrade(alembic_config(connection), "1")
    with engine.connect() as connection:
        claims = "SELECT claimed, budget FROM sweeps_sweep ORDER BY study_id"
        assert [tuple(r) for r in connection.execute(sa.text(claims))] == [
            (0, budget) for *_, budget, _ in before
        ]
        with pytest.raises(sa.exc.IntegrityError):  # its range check is back too
            connection.execute(sa.text("UPDATE sweeps_sweep SET claimed = budget + 1"))
    engine.dispose()


RESULT_STATUS = "SELECT trial_id, status FROM sweeps_trial_result ORDER BY trial_id"
OUTCOMES = "SELECT trial_id, value_json FROM trial_user_attributes WHERE key = 'status'"


def _schema_2_store(url: str) -> sa.Engine:
    """A store at schema 2 with two finished trials: one with its outcome recorded as an
    attribute, as every release recorded it, and one without (told by Optuna's own tools, say);
    both with the copy of their status that schema 2 kept."""
    import optuna
    from alembic import command
    from optuna.trial import TrialState, create_trial

    study = optuna.create_study(storage=url, study_name="old", direction="maximize")
    study.add_trial(
        create_trial(state=TrialState.COMPLETE, value=0.6, user_attrs={"status": "complete"})
    )
    study.add_trial(create_trial(state=TrialState.PRUNED))
    engine = create_engine(url)
    schema_1_without_a_version(engine)
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), "2")
        connection.execute(sa.text(
            "INSERT INTO sweeps_sweep VALUES (1, 'old', '{}', 2, '2026-12-01 10:00:00')"
        ))  # fmt: skip
        for trial_id, status in ((1, "complete"), (2, "pruned")):
            connection.execute(sa.text(
                "INSERT INTO sweeps_trial_result (trial_id, study_id, number, status, space, "
                "dataset, is_baseline, epochs_run, started_at) VALUES "
                f"({trial_id}, 1, {trial_id - 1}, '{status}', 's', 'd', false, 1, "
                "'2026-12-01 10:00:00')"
            ))  # fmt: skip
    return engine


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_schema_3_derives_the_status_and_keeps_every_outcome(
    request, tmp_path: Path, backend: str
) -> None:
    """Schema 3 drops the result's copy of its status: the queries derive it from Optuna's
    state and the outcome attribute. A finished trial whose outcome was never recorded as an
    attribute gets it from the copy first; going back to schema 2 brings the copy back."""
    from alembic import command

    from storage.queries import trial_counts

    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    engine = _schema_2_store(url)
    with engine.connect() as connection:
        stored = [tuple(r) for r in connection.execute(sa.text(RESULT_STATUS))]
    assert stored == [(1, "complete"), (2, "pruned")]
    assert upgrade_schema(engine) == UPGRADED_FROM_2
    with engine.connect() as connection:
        columns = {c["name"] for c in sa.inspect(connection).get_columns("sweeps_trial_result")}
        outcomes = sorted(tuple(r) for r in connection.execute(sa.text(OUTCOMES)))
    assert "status" not in columns and outcomes == [(1, '"complete"'), (2, '"pruned"')]
    counts = trial_counts(engine, 1)
    assert (counts.finished, counts.complete, counts.pruned) == (2, 1, 1)
    assert [d for d in _differences(engine) if "sweeps_" in d] == []  # Optuna's aside
    with engine.begin() as connection:
        command.downgrade(alembic_config(connection), "2")
    with engine.connect() as connection:
        assert [tuple(r) for r in connection.execute(sa.text(RESULT_STATUS))] == stored
    engine.dispose()


# A later revision, made here in a copy of the scripts. ---------------------------------------

REVISION_4 = """def upgrade() -> None:
    # SQLite alters a column by copying its table and dropping the old one: the rows of
    # the table, and those referring to it (sweeps_class_metric's), must all survive.
    with op.batch_alter_table("sweeps_evaluation") as batch:
        batch.alter_column("split", type_=sa.String(16), existing_nullable=False)
    op.create_index("ix_trial_result_finished", "sweeps_trial_result", ["study_id", "finished_at"])
"""


@pytest.fixture
def scripts(tmp_path: Path) -> Path:
    """Our migrations plus a revision 4 made as a developer makes one (with Alembic's
    template, storage/migrations/script.py.mako)."""
    from alembic import command

    copy = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, copy, ignore=shutil.ignore_patterns("__pycache__"))
    with sa.create_engine("sqlite://").connect() as connection:
        command.revision(alembic_config(connection, copy), "a test's revision", rev_id="4")
    [script] = (copy / "versions").glob("4_*.py")
    text = script.read_text()
    assert "def upgrade() -> None:\n    pass\n" in text
    script.write_text(text.replace("def upgrade() -> None:\n    pass\n", REVISION_4))
    return copy


def _evaluated_store(request, tmp_path: Path, backend: str) -> sa.Engine:
    """A store at the head holding a trial's evaluation (its per-class rows refer to it)."""
    from storage.records import record_evaluation

    if backend == "sqlite":
        engine = create_engine(f"sqlite:///{_copy_fixture(tmp_path / 'store')}")
    else:
        engine = create_engine(request.getfixturevalue("postgres_url"))
    upgrade_schema(engine)
    classes = [
        {"class_name": name, "support": 2, "correct": 1, "precision": 0.5, "recall": 0.5}
        for name in ("cat", "dog")
    ]
    record_evaluation(
        engine,
        study_id=1,
        trial_id=1,
        split="test",
        accuracy=0.5,
        confusion=[[1, 1], [1, 1]],
        classes=classes,
    )
    return engine


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_store_at_the_head_is_upgraded_to_a_later_revision_with_its_rows_intact(
    request, tmp_path: Path, scripts: Path, backend: str
) -> None:
    engine = _evaluated_store(request, tmp_path, backend)
    before = _rows(engine)
    assert len(before["sweeps_class_metric"]) == 2
    report = upgrade_schema(engine, scripts)
    assert report == "Upgraded the store's sweeps tables to schema 4 (was: schema 3)."
    assert _rows(engine) == before
    with engine.connect() as connection:
        assert stored_revision(connection) == "4"
        indexes = sa.inspect(connection).get_indexes("sweeps_trial_result")
        # This code knows no schema 4: a store upgraded by a newer sweeps is refused.
        with pytest.raises(SchemaVersionError, match="newer sweeps \\(schema 4;"):
            check_readable(connection)
    assert "ix_trial_result_finished" in {index["name"] for index in indexes}
    assert upgrade_schema(engine, scripts) is None  # current now
    engine.dispose()


def test_an_older_store_goes_through_schema_1_to_a_later_revision(
    legacy: Path, scripts: Path
) -> None:
    """As a store made before the tables of evaluations, ensembles and refits existed (before
    commit a338bdf they were created when first written): revision 1 creates them."""
    later = ["sweeps_class_metric", "sweeps_evaluation", "sweeps_ensemble_member"]
    later += ["sweeps_ensemble", "sweeps_refit"]
    for table in later:
        _sql(legacy, f"DROP TABLE {table}")
    engine = create_engine(f"sqlite:///{legacy}")
    before = _rows(engine)
    report = upgrade_schema(engine, scripts)
    assert report == (
        "Upgraded the store's sweeps tables to schema 4 (was: unversioned, written by an "
        "earlier release)."
    )
    after = _rows(engine)
    assert set(after) - set(before) == set(later) and _revision(legacy) == "4"
    # Every row is there; the sweep's without its claim counter (dropped by revision 2).
    sweeps = before.pop("sweeps_sweep")
    assert after.pop("sweeps_sweep") == [(*row[:4], row[5]) for row in sweeps]
    # The results without their copy of the status (dropped by revision 3).
    results = before.pop("sweeps_trial_result")
    assert after.pop("sweeps_trial_result") == [(*row[:3], *row[4:]) for row in results]
    assert {table: after[table] for table in before} == before
    engine.dispose()


def test_a_reader_refuses_a_store_at_a_schema_older_than_it_reads(
    legacy: Path, scripts: Path, monkeypatch
) -> None:
    """Once a later revision changes what the queries read, a store at an older schema is
    upgraded by a writer first; a reader says so rather than misread it."""
    import storage.schema

    monkeypatch.setattr(storage.schema, "HEAD", "4")
    monkeypatch.setattr(storage.schema, "READS", ("4",))
    monkeypatch.setattr(storage.schema, "MIGRATIONS", scripts)
    engine = create_engine(f"sqlite:///{legacy}")
    with engine.connect() as connection:
        with pytest.raises(SchemaVersionError, match="schema 1, older than this sweeps reads"):
            check_readable(connection)
    engine.dispose()


# Read-only stores. ---------------------------------------------------------------------------


@needs_setpriv
def test_read_only_stores_are_read_at_the_current_schema_and_never_written(
    tmp_path: Path,
) -> None:
    """In folders the commands may not write: the previous release's store is read as schema
    1 (no version recorded), a current one is read, a newer one is refused in one line; the
    folders are left exactly as they were."""
    tmp_path.chmod(0o755)
    unversioned = _copy_fixture(tmp_path / "unversioned")
    current = _copy_fixture(tmp_path / "current")
    engine = create_engine(f"sqlite:///{current}")
    upgrade_schema(engine)
    engine.dispose()  # the last connection's close folds the -wal back into the store
    newer = _copy_fixture(tmp_path / "newer")
    _stamp(newer, NEWER)
    stores = (unversioned, current, newer)
    for store in stores:
        make_read_only(store.parent)
    before = {store: listing(store.parent) for store in stores}
    cases = [
        {"argv": [command, "--study", STUDY, "--storage", store]}
        for store in stores
        for command in ("best", "status")
    ]
    try:
        results = run_commands(cases, tmp_path, probe=newer.parent / "probe")
        after = {store: listing(store.parent) for store in stores}
    finally:
        for store in stores:
            store.parent.chmod(0o755)
    for result in results[:4]:
        assert result["code"] == 0 and not result["crash"], result
        assert "legacy" in result["stdout"], result
    for result in results[4:]:
        assert result["code"] == 2 and not result["crash"], result
        lines = result["stderr"].strip().splitlines()
        assert len(lines) == 1 and f"newer sweeps (schema {NEWER};" in lines[0], result
    assert after == before
    assert _revision(unversioned) is None and _revision(current) == HEAD


# Optuna's tables. ----------------------------------------------------------------------------


def test_the_installed_optuna_makes_a_schema_our_queries_read(tmp_path: Path) -> None:
    """A new Optuna that changes its tables fails here, until the queries are checked
    against its schema and it is added to OPTUNA_SCHEMAS."""
    import optuna

    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'optuna.db'}")
    assert storage.get_head_version() in OPTUNA_SCHEMAS
    assert storage.get_current_version() in OPTUNA_SCHEMAS


@pytest.mark.parametrize("command", ["best", "status", "resume"])
def test_a_store_whose_optuna_tables_are_unknown_is_refused_in_one_line(
    cli, legacy: Path, command: str
) -> None:
    _sql(legacy, "UPDATE alembic_version SET version_num = 'v9.9.9.z'")
    before = store_rows(legacy)
    extra = ["--trials", 3] if command == "resume" else []
    result = invoke(cli, command, "--study", STUDY, "--storage", legacy, *extra)
    _one_error(result, "Optuna's tables are at schema v9.9.9.z, which this sweeps does not read")
    assert store_rows(legacy) == before  # a writer refused before it upgraded ours


def test_optuna_s_version_is_read_once_per_engine(legacy: Path) -> None:
    from storage.engine import read_only_engine
    from storage.queries import find_sweep, trial_counts, trial_params_of

    engine = read_only_engine(f"sqlite:///{legacy}")
    reads = []

    @sa.event.listens_for(engine, "before_cursor_execute")
    def _count(_conn, _cursor, statement, *_args) -> None:
        if "alembic_version" in statement and "SELECT" in statement.upper():
            reads.append(statement)

    sweep = find_sweep(engine, STUDY)
    for _ in range(3):
        trial_counts(engine, sweep.study_id)
        trial_params_of(engine, [1, 2])
    assert len(reads) == 1, reads
    # Another engine, another store: read again, and refused there.
    _sql(legacy, "UPDATE alembic_version SET version_num = 'v9.9.9.z'")
    with pytest.raises(SchemaVersionError, match="v9.9.9.z"):
        check_optuna_schema(read_only_engine(f"sqlite:///{legacy}"))
    engine.dispose()

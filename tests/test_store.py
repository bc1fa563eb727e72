"""The store: URLs, exact budget claims under real concurrency, claims given back, ranking."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import pytest

from storage import StorageURLError, create_engine, mask_url, normalize_url
from storage.engine import session_scope
from storage.queries import ranked_trials
from storage.records import claim_trial, create_sweep, register_worker, release_claim
from storage.schema import upgrade_schema
from storage.tables import WorkerRecord


def test_paths_become_sqlite_urls_and_bad_urls_are_named(tmp_path: Path) -> None:
    assert normalize_url(str(tmp_path / "a.db")) == f"sqlite:///{tmp_path / 'a.db'}"
    assert normalize_url("postgresql://u:pw@h/db") == "postgresql://u:pw@h/db"
    with pytest.raises(StorageURLError, match="not a database URL"):
        normalize_url("://nothing")
    with pytest.raises(StorageURLError, match="does not exist"):
        normalize_url("/no/such/dir/x.db")
    assert mask_url("postgresql://u:pw@h/db") == "postgresql://u:***@h/db"


def test_sweeps_raises_the_stores_url_errors_again_under_its_root(tmp_path: Path) -> None:
    """storage keeps its own StorageURLError (it imports nothing from sweeps); sweeps' store
    access raises it as sweeps.StorageError with the same message and the cause kept."""
    from sweeps.errors import StorageError
    from sweeps.store_access import normalized_url, open_store

    assert normalized_url(str(tmp_path / "a.db")) == f"sqlite:///{tmp_path / 'a.db'}"
    for bad in ("://nothing", "/no/such/dir/x.db", str(tmp_path)):
        for open_it in (normalized_url, open_store):
            with pytest.raises(StorageError) as caught:
                open_it(bad)
            assert type(caught.value.__cause__) is StorageURLError, (bad, open_it)
            with pytest.raises(StorageURLError) as lower:
                normalize_url(bad)
            assert str(caught.value) == str(lower.value)
    not_a_database = tmp_path / "notes.db"
    not_a_database.write_text("not SQLite")
    with pytest.raises(StorageError, match="cannot open storage") as caught:
        open_store(str(not_a_database), must_exist=True)
    assert type(caught.value.__cause__) is StorageURLError


def _claimer(url: str, study_id: int, workers: list[int], start, results) -> None:
    """Claim a trial of the budget for each of ``workers`` (a process's worth) as fast as it can."""
    engine = create_engine(url)
    start.wait()
    results.put([w for w in workers if claim_trial(engine, study_id, w)])


def _finished_study(url: str, budget: int, finished: int) -> tuple[object, int]:
    """A study with ``finished`` trials told COMPLETE and our sweep row for it."""
    import optuna

    engine = create_engine(url)
    upgrade_schema(engine)
    storage = optuna.storages.RDBStorage(url)
    study = optuna.create_study(storage=storage, study_name="race", direction="maximize")
    for _ in range(finished):
        study.tell(study.ask(), 0.5)
    study_id = storage.get_study_id_from_name("race")
    storage.engine.dispose()
    create_sweep(engine, study_id, "race", "{}", budget)
    return engine, study_id


def _race(url: str, processes: int, budget: int, finished: int) -> list[int]:
    """``processes`` processes of 3 workers each claim at once; the workers that got one."""
    engine, study_id = _finished_study(url, budget, finished)
    workers = [register_worker(engine, study_id, "host", i, "cpu") for i in range(3 * processes)]
    context = mp.get_context("spawn")
    start, results = context.Event(), context.Queue()
    procs = [
        context.Process(
            target=_claimer, args=(url, study_id, workers[i::processes], start, results)
        )
        for i in range(processes)
    ]
    for p in procs:
        p.start()
    start.set()
    taken = [w for _ in procs for w in results.get(timeout=120)]
    for p in procs:
        p.join(timeout=60)
    with session_scope(engine) as session:  # what the store says matches what was answered
        holders = session.query(WorkerRecord.id).filter(WorkerRecord.holds_claim.is_(True))
        assert sorted(w for (w,) in holders) == sorted(taken)
    return taken


def test_eight_processes_racing_for_claims_on_sqlite_take_exactly_the_budget(tmp_path) -> None:
    """24 workers in 8 processes for the 13 - 2 trials that 2 finished trials leave."""
    taken = _race(f"sqlite:///{tmp_path / 'race.db'}", processes=8, budget=13, finished=2)
    assert len(taken) == 11


def test_processes_racing_on_postgresql_take_exactly_the_budget(postgres_url) -> None:
    taken = _race(postgres_url, processes=6, budget=7, finished=1)
    assert len(taken) == 6


def test_a_claim_is_free_once_its_trial_failed_or_its_worker_is_gone(tmp_path) -> None:
    """Nothing counts the claims: Optuna's finished trials and the claims held are read."""
    engine, study_id = _finished_study(f"sqlite:///{tmp_path / 'c.db'}", budget=3, finished=1)
    a = register_worker(engine, study_id, "h", 1, "cpu")
    b = register_worker(engine, study_id, "h", 2, "cpu")
    c = register_worker(engine, study_id, "h", 3, "cpu")
    assert claim_trial(engine, study_id, a) and claim_trial(engine, study_id, b)
    assert claim_trial(engine, study_id, a)  # a holds one already: still one
    assert not claim_trial(engine, study_id, c)  # 1 finished + 2 held
    release_claim(engine, b)  # b's trial failed: its claim is free again
    assert claim_trial(engine, study_id, c)
    # a is reaped: its claim is free at once, nothing to repair.
    with session_scope(engine) as session:
        session.get(WorkerRecord, a).holds_claim = False
    assert claim_trial(engine, study_id, b)
    assert not claim_trial(engine, study_id, a)


def test_ranking_uses_validation_only(tmp_path) -> None:
    """Scripted results: the best test accuracy must not lift a trial's rank."""
    from sweeps.config import SweepConfig, SweepSpec
    from sweeps.optuna_study import create_study
    from tests.scripted_trials import add_trial

    handle = create_study(
        SweepConfig(SweepSpec(trials=5)), f"sqlite:///{tmp_path / 'r.db'}", "s", None
    )
    scripted = [  # status, val, test
        ("complete", 0.90, 0.99),
        ("complete", 0.95, 0.80),
        ("pruned", 0.95, 0.70),
        ("failed", None, None),
        ("complete", 0.85, 1.00),
    ]
    for status, val, test in scripted:
        add_trial(handle, status, val_accuracy=val, test_accuracy=test, val_loss=0.1)
    engine, sweep = handle.engine, handle.sweep
    frame = ranked_trials(engine, sweep)
    assert list(frame["trial"]) == [1, 2, 0, 4]  # ties: complete before pruned
    assert list(frame["rank"]) == [1, 2, 3, 4]


def test_a_raised_budget_and_measured_learning_rates_do_not_overwrite_each_other(
    tmp_path,
) -> None:
    """A worker loaded the study's config, then `resume --trials 9` raised the budget in
    another process, then the worker saved the learning rates it measured: the saved config
    keeps both (each writer changes its own part inside one write transaction)."""
    from storage.queries import find_sweep
    from sweeps.config import SweepConfig, SweepSpec, SweepState
    from sweeps.optuna_study import create_study, open_handle, raise_budget
    from sweeps.protocol import WorkerOptions
    from sweeps.worker.trial_loop import TrialLoop

    url = f"sqlite:///{tmp_path / 's.db'}"
    config = SweepConfig(SweepSpec(trials=4), SweepState(artifacts=str(tmp_path / "art")))
    create_study(config, url, "s", None)
    options = WorkerOptions(study_name="s", storage_url=url, artifacts=config.artifacts)
    worker = TrialLoop(options, should_stop=lambda: False, emit=lambda _: None, host="h", pid=1)
    raise_budget(open_handle("s", url), 9)  # after the worker loaded the config
    worker._save_learning_rates({"adam": [1e-4, 1e-3]}, None)
    saved = SweepConfig.from_json(find_sweep(worker.engine, "s").config_json)
    assert saved.trials == 9 and saved.spec.trials == 4  # the spec stays as asked
    assert saved.learning_rates == {"adam": [1e-4, 1e-3]}
    raise_budget(open_handle("s", url), 12)  # and the other way round
    saved = SweepConfig.from_json(find_sweep(worker.engine, "s").config_json)
    assert (saved.trials, saved.learning_rates) == (12, {"adam": [1e-4, 1e-3]})
    worker.close()

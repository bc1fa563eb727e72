"""The store: URLs, exact budget claims under real concurrency, reconciliation, ranking."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import pytest

from storage import StorageURLError, create_engine, mask_url, normalize_url
from storage.engine import session_scope
from storage.models import Sweep, TrialResult, WorkerRecord
from storage.queries import ranked_trials
from storage.records import (
    claim_slot,
    create_sweep,
    reconcile_claims,
    register_worker,
    release_slot,
)
from storage.schema import upgrade_schema


def test_paths_become_sqlite_urls_and_bad_urls_are_named(tmp_path: Path) -> None:
    assert normalize_url(str(tmp_path / "a.db")) == f"sqlite:///{tmp_path / 'a.db'}"
    assert normalize_url("postgresql://u:pw@h/db") == "postgresql://u:pw@h/db"
    with pytest.raises(StorageURLError, match="not a database URL"):
        normalize_url("://nothing")
    with pytest.raises(StorageURLError, match="does not exist"):
        normalize_url("/no/such/dir/x.db")
    assert mask_url("postgresql://u:pw@h/db") == "postgresql://u:***@h/db"


def _claimer(url: str, study_id: int, worker_id: int, start, results) -> None:
    engine = create_engine(url)
    start.wait()
    taken = 0
    for _ in range(5):
        taken += claim_slot(engine, study_id, worker_id)
    results.put(taken)


def _race(url: str, processes: int, budget: int) -> list[int]:
    engine = create_engine(url)
    upgrade_schema(engine)
    create_sweep(engine, 1, "race", "{}", budget)
    workers = [register_worker(engine, 1, "host", 1000 + i, "cpu") for i in range(processes)]
    context = mp.get_context("spawn")
    start, results = context.Event(), context.Queue()
    procs = [context.Process(target=_claimer, args=(url, 1, w, start, results)) for w in workers]
    for p in procs:
        p.start()
    start.set()
    taken = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    return taken


def test_eight_processes_racing_for_slots_on_sqlite_take_exactly_the_budget(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'race.db'}"
    taken = _race(url, processes=8, budget=13)
    assert sum(taken) == 13
    with session_scope(create_engine(url)) as session:
        assert session.get(Sweep, 1).claimed == 13


def test_processes_racing_on_postgresql_take_exactly_the_budget(postgres_url) -> None:
    taken = _race(postgres_url, processes=6, budget=7)
    assert sum(taken) == 7


def test_release_and_reconcile_keep_the_counter_honest(tmp_path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'c.db'}")
    upgrade_schema(engine)
    create_sweep(engine, 1, "s", "{}", 2)
    a = register_worker(engine, 1, "h", 1, "cpu")
    b = register_worker(engine, 1, "h", 2, "cpu")
    assert claim_slot(engine, 1, a) and claim_slot(engine, 1, b)
    assert not claim_slot(engine, 1, a)
    release_slot(engine, 1, b)  # b's trial failed: its slot is free again
    assert claim_slot(engine, 1, b)
    # a dies: once it no longer holds a slot, reconciling frees it.
    with session_scope(engine) as session:
        session.get(WorkerRecord, a).holds_claim = False
    # No Optuna tables here: reconcile counts finished trials from them, so create them.
    import optuna

    optuna.storages.RDBStorage(str(engine.url))
    assert reconcile_claims(engine, 1) == 1
    assert claim_slot(engine, 1, a)


def test_ranking_uses_validation_only(tmp_path) -> None:
    """Scripted results: the best test accuracy must not lift a trial's rank."""
    engine = create_engine(f"sqlite:///{tmp_path / 'r.db'}")
    upgrade_schema(engine)
    create_sweep(engine, 1, "s", "{}", 5)
    scripted = [  # number, status, val, test
        (0, "complete", 0.90, 0.99),
        (1, "complete", 0.95, 0.80),
        (2, "pruned", 0.95, 0.70),
        (3, "failed", None, None),
        (4, "complete", 0.85, 1.00),
    ]
    with session_scope(engine) as session:
        for number, status, val, test in scripted:
            session.add(
                TrialResult(
                    trial_id=100 + number,
                    study_id=1,
                    number=number,
                    status=status,
                    space="x",
                    dataset="digits",
                    val_accuracy=val,
                    test_accuracy=test,
                    val_loss=0.1,
                )
            )
        sweep = session.get(Sweep, 1)
    frame = ranked_trials(engine, sweep)
    assert list(frame["trial"]) == [1, 2, 0, 4]  # ties: complete before pruned
    assert list(frame["rank"]) == [1, 2, 3, 4]

"""Store transactions: on SQLite a read takes no lock, so polls and queries never make a worker
wait (nor wait for one)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from storage import records
from storage.queries import find_sweep, ranked_rows, trial_counts, workers_of
from sweeps.config import SweepConfig
from sweeps.optuna_study import create_study


class _InThread(threading.Thread):
    """Runs ``work`` at once in a daemon thread; ``result`` once it returned."""

    def __init__(self, work: Callable[[], Any]):
        super().__init__(daemon=True)
        self.work, self.result = work, None
        self.start()

    def run(self) -> None:
        self.result = self.work()


def _hold_the_write_lock(path: Path) -> sqlite3.Connection:
    """Another connection inside a write transaction, as a worker in the middle of a write."""
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    connection.execute("BEGIN IMMEDIATE")
    return connection


def test_reads_proceed_while_another_connection_holds_the_write_lock(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'sweeps.db'}"
    handle = create_study(SweepConfig(trials=2), url, "locked", baseline=None)
    engine, study_id = handle.engine, handle.study_id
    worker = records.register_worker(engine, study_id, "host", 1, "cpu")
    handle.study.enqueue_trial({})
    lock = _hold_the_write_lock(tmp_path / "sweeps.db")
    try:
        # Ours (the dispatcher's and the queries') and Optuna's (its sampler's) reads.
        reads = _InThread(
            lambda: (
                trial_counts(engine, study_id).waiting,
                find_sweep(engine, "locked").budget,
                len(workers_of(engine, study_id)),
                ranked_rows(engine, handle.sweep),
                len(handle.study.get_trials()),
            )
        )
        reads.join(timeout=10)
        assert not reads.is_alive(), "a read waited for another connection's write lock"
        assert reads.result == (1, 2, 1, [], 1)
        # The lock is real: a write waits for it.
        claim = _InThread(lambda: records.claim_slot(engine, study_id, worker))
        claim.join(timeout=1)
        assert claim.is_alive(), "a write went through another connection's write lock"
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    claim.join(timeout=30)
    assert claim.result is True

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
from sweeps.config import SweepConfig, SweepSpec, SweepState
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
    handle = create_study(SweepConfig(SweepSpec(trials=2)), url, "locked", baseline=None)
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
        claim = _InThread(lambda: records.claim_trial(engine, study_id, worker))
        claim.join(timeout=1)
        assert claim.is_alive(), "a write went through another connection's write lock"
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    claim.join(timeout=30)
    assert claim.result is True


def test_a_trial_writes_five_transactions_besides_one_per_epoch(tmp_path: Path) -> None:
    """One worker's loop over a study of one 2-epoch trial, run in this process and counted
    (benchmarks/bench_orchestration.py prints the same figures), Optuna's writes included:
    the worker's storage holds them to ride with ours (sweeps.held_writes). Its rows say what
    they said when each was written in a transaction of its own."""
    from optuna.trial import TrialState

    from storage.engine import session_scope
    from storage.queries import trial_detail
    from storage.tables import EpochMetric, TrialResult, WorkerRecord
    from storage.transaction_log import TransactionLog
    from sweeps.protocol import WorkerExit, WorkerOptions
    from sweeps.worker.trial_loop import TrialLoop

    url, epochs = f"sqlite:///{tmp_path / 'sweeps.db'}", 2
    spec = SweepSpec(
        space="mnist_cnn", dataset="digits", trials=1, epochs=epochs, workers=1, pruner="none",
        patience=0, val_fraction=0.1, lr_range_test=False,
    )  # fmt: skip
    config = SweepConfig(spec, SweepState(artifacts=str(tmp_path / "art")))
    handle = create_study(config, url, "counted", baseline=None)  # every parameter sampled
    options = WorkerOptions(study_name="counted", storage_url=url, artifacts=config.artifacts)
    loop = TrialLoop(options, should_stop=lambda: False, emit=lambda _: None, host="h", pid=1)
    with TransactionLog() as log:
        assert loop.run() == WorkerExit.DONE
    log.name(loop.engine, "sweeps")
    log.name(loop.handle.storage.engine, "optuna")
    loop.close()
    counts = log.counts()

    (trial,) = handle.study.trials
    assert trial.state == TrialState.COMPLETE and len(trial.params) > 5
    # The claim, Optuna's ask, the start, the built model's facts with every parameter it
    # asked, the end with Optuna's tell and the result attributes; and one per epoch, with the
    # value reported to Optuna for it.
    assert counts["sweeps write"] + counts["optuna write"] == 5 + epochs, counts
    assert set(counts) <= {"sweeps write", "sweeps read", "optuna write", "optuna read"}, counts
    assert sorted(trial.intermediate_values) == list(range(1, epochs + 1))
    assert {"test_accuracy", "status", "seconds_per_epoch", "param_count"} <= set(trial.user_attrs)
    assert trial.user_attrs["status"] == "complete" and trial.user_attrs["epochs_run"] == epochs
    detail = trial_detail(handle.engine, handle.sweep, trial.number)
    assert (detail.status, detail.params) == ("complete", trial.params)
    with session_scope(handle.engine) as session:
        result = session.get(TrialResult, handle.trial_id(trial.number))
        assert result.epochs_run == epochs and result.best_epoch
        assert result.param_count == trial.user_attrs["param_count"] and result.input_shape
        assert result.wall_seconds > result.fit_seconds > 0 and result.finished_at
        assert len(EpochMetric.for_trial(session, result.trial_id)) == epochs
        (worker,) = session.query(WorkerRecord).all()
        assert (worker.trials_done, worker.holds_claim, worker.trial_id) == (1, False, None)

"""The write side of our tables: sweeps, budget slots, workers, trial results, epochs."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from storage.engine import reader, session_scope
from storage.models import (
    ClassMetric,
    Ensemble,
    EnsembleMember,
    EpochMetric,
    Evaluation,
    Refit,
    Sweep,
    TrialResult,
    TrialStatus,
    WorkerRecord,
    WorkerState,
    utcnow,
)
from storage.optuna_schema import check_optuna_schema
from storage.optuna_tables import FINISHED_STATES, trials

__all__ = [
    "claim_slot",
    "create_sweep",
    "delete_sweep",
    "finish_result",
    "heartbeat",
    "reconcile_claims",
    "record_ensemble",
    "record_epoch",
    "restore_epochs",
    "record_evaluation",
    "record_refit",
    "register_worker",
    "release_slot",
    "set_worker",
    "stale_workers",
    "start_result",
    "update_config",
    "update_result",
]


def update_config(engine: Engine, study_id: int, config_json: str) -> None:
    """Replace a sweep's saved configuration (a measurement made for it, a raised budget)."""
    with session_scope(engine) as session:
        session.execute(
            sa.update(Sweep).where(Sweep.study_id == study_id).values(config_json=config_json)
        )


def delete_sweep(engine: Engine, study_id: int) -> None:
    """Remove our rows of a study (Optuna's own are removed through optuna.delete_study)."""
    with session_scope(engine) as session:
        trial_ids = sa.select(TrialResult.trial_id).where(TrialResult.study_id == study_id)
        session.execute(sa.delete(EpochMetric).where(EpochMetric.trial_id.in_(trial_ids)))
        for table in (TrialResult, WorkerRecord, Sweep):
            session.execute(sa.delete(table).where(table.study_id == study_id))


def create_sweep(
    engine: Engine, study_id: int, study_name: str, config_json: str, budget: int
) -> None:
    with session_scope(engine) as session:
        session.add(
            Sweep(
                study_id=study_id,
                study_name=study_name,
                config_json=config_json,
                budget=budget,
                claimed=0,
            )
        )


def _finished_count(connection: Any, study_id: int) -> int:
    query = sa.select(sa.func.count()).where(
        trials.c.study_id == study_id, trials.c.state.in_(FINISHED_STATES)
    )
    return int(connection.scalar(query))


def claim_slot(engine: Engine, study_id: int, worker_id: int) -> bool:
    """Take one budget slot for ``worker_id``; False when all slots are finished or in flight."""
    with session_scope(engine) as session:
        taken = session.execute(
            sa.update(Sweep)
            .where(Sweep.study_id == study_id, Sweep.claimed < Sweep.budget)
            .values(claimed=Sweep.claimed + 1)
        ).rowcount
        if taken:
            session.execute(
                sa.update(WorkerRecord)
                .where(WorkerRecord.id == worker_id)
                .values(holds_claim=True, last_seen=utcnow())
            )
        return bool(taken)


def release_slot(engine: Engine, study_id: int, worker_id: int) -> None:
    """Give a slot back (the trial failed or never started), so another trial can take it."""
    with session_scope(engine) as session:
        holds = session.scalar(
            sa.select(WorkerRecord.holds_claim).where(WorkerRecord.id == worker_id)
        )
        if holds:
            session.execute(
                sa.update(Sweep)
                .where(Sweep.study_id == study_id, Sweep.claimed > 0)
                .values(claimed=Sweep.claimed - 1)
            )
        session.execute(
            sa.update(WorkerRecord).where(WorkerRecord.id == worker_id).values(holds_claim=False)
        )


def reconcile_claims(engine: Engine, study_id: int) -> int:
    """Reset the counter to finished trials plus slots held by live workers; returns it.

    Run after reaping dead workers, whose slots would otherwise stay taken for good.
    """
    check_optuna_schema(engine)  # before the transaction: its first call opens a connection
    with session_scope(engine) as session:
        connection = session.connection()
        held = session.scalar(
            sa.select(sa.func.count()).where(
                WorkerRecord.study_id == study_id, WorkerRecord.holds_claim.is_(True)
            )
        )
        budget = session.scalar(sa.select(Sweep.budget).where(Sweep.study_id == study_id))
        claimed = min(int(budget), _finished_count(connection, study_id) + int(held))
        session.execute(sa.update(Sweep).where(Sweep.study_id == study_id).values(claimed=claimed))
        return claimed


def register_worker(engine: Engine, study_id: int, host: str, pid: int, device: str) -> int:
    with session_scope(engine) as session:
        worker = WorkerRecord(study_id=study_id, host=host, pid=pid, device=device)
        session.add(worker)
        session.flush()
        return worker.id


def set_worker(engine: Engine, worker_id: int, **values: Any) -> None:
    """Update a worker's row (state, current trial, epoch...) and mark it alive."""
    with session_scope(engine) as session:
        session.execute(
            sa.update(WorkerRecord)
            .where(WorkerRecord.id == worker_id)
            .values(last_seen=utcnow(), **values)
        )


def heartbeat(engine: Engine, worker_id: int) -> None:
    set_worker(engine, worker_id)


def stale_workers(engine: Engine, study_id: int, grace_seconds: float) -> list[WorkerRecord]:
    """Workers that still claim to be alive but have not been seen for ``grace_seconds``."""
    cutoff = utcnow() - timedelta(seconds=grace_seconds)
    with session_scope(reader(engine)) as session:
        query = sa.select(WorkerRecord).where(
            WorkerRecord.study_id == study_id,
            WorkerRecord.state.in_(WorkerState.alive()),
            WorkerRecord.last_seen < cutoff,
        )
        return list(session.scalars(query))


def start_result(engine: Engine, **values: Any) -> None:
    with session_scope(engine) as session:
        session.add(TrialResult(status=TrialStatus.RUNNING, **values))


def record_epoch(
    engine: Engine, trial_id: int, epoch: int, *, worker_id: int | None = None, **metrics: Any
) -> None:
    """Record one epoch's metrics; with ``worker_id``, that worker's epoch and liveness in the
    same transaction (one commit an epoch, not two)."""
    with session_scope(engine) as session:
        session.merge(EpochMetric(trial_id=trial_id, epoch=epoch, **metrics))
        session.execute(
            sa.update(TrialResult).where(TrialResult.trial_id == trial_id).values(epochs_run=epoch)
        )
        if worker_id is not None:
            session.execute(
                sa.update(WorkerRecord)
                .where(WorkerRecord.id == worker_id)
                .values(last_seen=utcnow(), epoch=epoch)
            )


def restore_epochs(engine: Engine, trial_id: int, epochs: list[dict[str, Any]]) -> None:
    """Give a retry the curve of the checkpoint it continues from, marked as restored."""
    with session_scope(engine) as session:
        for values in epochs:
            session.merge(EpochMetric(trial_id=trial_id, restored=True, **values))
        if epochs:
            session.execute(
                sa.update(TrialResult)
                .where(TrialResult.trial_id == trial_id)
                .values(epochs_run=max(v["epoch"] for v in epochs))
            )


def update_result(engine: Engine, trial_id: int, **values: Any) -> None:
    with session_scope(engine) as session:
        session.execute(
            sa.update(TrialResult).where(TrialResult.trial_id == trial_id).values(**values)
        )


def finish_result(engine: Engine, trial_id: int, status: TrialStatus, **values: Any) -> None:
    update_result(engine, trial_id, status=status, finished_at=utcnow(), **values)


# After the sweep: evaluations, ensembles, refits. -----------------------------------------
# Their tables are part of schema 1. The releases before versioning created them only when
# first written; a store of theirs that lacks them gets them from its upgrade through revision
# 1 (storage/migrations), which every writer runs when it opens the store
# (storage.schema.upgrade_schema), so none is created here on the way: one place says which
# tables a store has, and the version it records stays true.


def record_evaluation(
    engine: Engine,
    *,
    study_id: int,
    trial_id: int,
    split: str,
    accuracy: float,
    confusion: list[list[int]],
    classes: list[dict[str, Any]],
) -> None:
    """Store one trial's evaluation on ``split``, replacing an earlier one.

    ``classes`` holds one dict per class in label order: class_name, support, correct,
    precision, recall.
    """
    with session_scope(engine) as session:
        old = session.scalar(
            sa.select(Evaluation.id).where(
                Evaluation.trial_id == trial_id, Evaluation.split == split
            )
        )
        if old is not None:
            session.execute(sa.delete(ClassMetric).where(ClassMetric.evaluation_id == old))
            session.execute(sa.delete(Evaluation).where(Evaluation.id == old))
        evaluation = Evaluation(
            study_id=study_id,
            trial_id=trial_id,
            split=split,
            images=int(sum(map(sum, confusion))),
            accuracy=accuracy,
            confusion_json=json.dumps(confusion),
        )
        session.add(evaluation)
        session.flush()
        session.add_all(
            ClassMetric(evaluation_id=evaluation.id, class_index=index, **values)
            for index, values in enumerate(classes)
        )


def record_ensemble(
    engine: Engine,
    *,
    study_id: int,
    val_accuracy: float,
    test_accuracy: float,
    members: list[dict[str, Any]],
    model_path: str | None = None,
) -> None:
    """Store an ensemble of ``len(members)`` trials, replacing the study's earlier one of that
    size. ``members`` are dicts of trial_id, number, val_accuracy, test_accuracy, best first."""
    with session_scope(engine) as session:
        old = session.scalar(
            sa.select(Ensemble.id).where(
                Ensemble.study_id == study_id, Ensemble.size == len(members)
            )
        )
        if old is not None:
            session.execute(sa.delete(EnsembleMember).where(EnsembleMember.ensemble_id == old))
            session.execute(sa.delete(Ensemble).where(Ensemble.id == old))
        ensemble = Ensemble(
            study_id=study_id,
            size=len(members),
            val_accuracy=val_accuracy,
            test_accuracy=test_accuracy,
            model_path=model_path,
        )
        session.add(ensemble)
        session.flush()
        session.add_all(
            EnsembleMember(ensemble_id=ensemble.id, rank=rank, **member)
            for rank, member in enumerate(members, start=1)
        )


def record_refit(engine: Engine, *, trial_id: int, **values: Any) -> None:
    """Store a trial's refit (see :class:`storage.models.Refit`), replacing an earlier one."""
    with session_scope(engine) as session:
        session.merge(Refit(trial_id=trial_id, created_at=utcnow(), **values))

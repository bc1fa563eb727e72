"""The write side of our tables: sweeps, claims on the budget, workers, trial results, epochs; and a
trial's result attributes in Optuna's table, the one write we make there.

A worker's trial costs the store five write transactions besides one per epoch, Optuna's
included: its claim on the budget (:func:`claim_trial`), Optuna's ask, its start
(:func:`start_trial`), its model's facts with the parameters the build asked
(:func:`update_result`), each epoch with the value Optuna was told (:func:`record_epoch`), and
its end (:func:`end_trial`) with its result attributes (:func:`write_result_attrs`), in Optuna's
tell. The worker's storage holds Optuna's own writes of the trial to ride along
(sweeps.held_writes).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from storage.engine import reader, session_scope
from storage.optuna_schema import check_optuna_schema
from storage.optuna_tables import FINISHED_STATES, OptunaState, trial_user_attributes, trials
from storage.tables import (
    ClassMetric,
    Ensemble,
    EnsembleMember,
    EpochMetric,
    Evaluation,
    Refit,
    Sweep,
    TrialResult,
    WorkerRecord,
    WorkerState,
    utcnow,
)

__all__ = [
    "claim_trial",
    "create_sweep",
    "delete_sweep",
    "end_trial",
    "finish_result",
    "heartbeat",
    "record_ensemble",
    "record_epoch",
    "record_evaluation",
    "record_refit",
    "register_worker",
    "release_claim",
    "set_result_attrs",
    "set_worker",
    "stale_workers",
    "start_result",
    "start_trial",
    "update_config",
    "update_result",
    "write_result_attrs",
]


def update_config(
    engine: Engine, study_id: int, change: Callable[[str], str], **columns: Any
) -> str:
    """Change a sweep's saved configuration (a measurement made for it, a raised budget) and
    return the new one: ``change`` maps the saved JSON to the new JSON inside one write
    transaction, so two processes changing different parts of it (a worker saving the
    learning rates it measured, ``resume --trials`` raising the budget) never overwrite each
    other's. ``columns`` are other columns of the sweep's row to set with it."""
    with session_scope(engine) as session:
        # The row is locked before it is read: SQLite's write transactions begin IMMEDIATE,
        # and PostgreSQL takes the row lock of FOR UPDATE.
        saved = session.scalar(
            sa.select(Sweep.config_json).where(Sweep.study_id == study_id).with_for_update()
        )
        changed = change(saved)
        session.execute(
            sa.update(Sweep)
            .where(Sweep.study_id == study_id)
            .values(config_json=changed, **columns)
        )
    return changed


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
            )
        )


def claim_trial(engine: Engine, study_id: int, worker_id: int) -> bool:
    """Claim one trial of the budget for ``worker_id``'s next trial; False when the budget is
    used up by finished trials and other workers' claims (True at once when this worker holds
    a claim already).

    Nothing counts the claims: the budget's use is read where it is true, Optuna's finished
    trials plus the claims workers hold, so it cannot drift. A worker holds its claim until its
    trial is told (then the trial counts), or until the trial fails or the worker is reaped
    (then it is free again). Claims queue on the sweep's row (SQLite's BEGIN IMMEDIATE; FOR
    UPDATE elsewhere), so however many workers claim at once, the budget is never overshot.
    """
    check_optuna_schema(engine)  # before the transaction: its first call opens a connection
    with session_scope(engine) as session:
        budget = session.scalar(
            sa.select(Sweep.budget).where(Sweep.study_id == study_id).with_for_update()
        )
        holds = session.scalar(
            sa.select(WorkerRecord.holds_claim).where(WorkerRecord.id == worker_id)
        )
        if budget is None or holds:
            return bool(holds)
        held = session.scalar(
            sa.select(sa.func.count()).where(
                WorkerRecord.study_id == study_id, WorkerRecord.holds_claim.is_(True)
            )
        )
        finished = session.scalar(
            sa.select(sa.func.count()).where(
                trials.c.study_id == study_id, trials.c.state.in_(FINISHED_STATES)
            )
        )
        if int(finished) + int(held) >= budget:
            return False
        session.execute(
            sa.update(WorkerRecord)
            .where(WorkerRecord.id == worker_id)
            .values(holds_claim=True, last_seen=utcnow())
        )
        return True


def release_claim(engine: Engine, worker_id: int) -> None:
    """Give a claim back (the trial failed or never started), so another trial can take it."""
    set_worker(engine, worker_id, holds_claim=False)


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
        session.add(TrialResult(**values))


def start_trial(
    engine: Engine,
    *,
    worker_id: int,
    restored: Sequence[dict[str, Any]] | None = None,
    **values: Any,
) -> None:
    """A worker started a trial, in one transaction: the trial's result row and the worker's
    state. ``restored``: the epochs a retry continues from (its checkpoint's curve), recorded
    as restored, and counted as ``resumed_from_epoch``."""
    if restored is not None:
        values["resumed_from_epoch"] = len(restored)
        values["epochs_run"] = max((e["epoch"] for e in restored), default=0)
    with session_scope(engine) as session:
        session.add(TrialResult(**values))
        for epoch in restored or ():
            session.merge(EpochMetric(trial_id=values["trial_id"], restored=True, **epoch))
        session.execute(
            sa.update(WorkerRecord)
            .where(WorkerRecord.id == worker_id)
            .values(
                state=WorkerState.TRAINING,
                trial_id=values["trial_id"],
                trial_number=values["number"],
                epoch=0,
                last_seen=utcnow(),
            )
        )


def record_epoch(
    engine: Engine,
    trial_id: int,
    epoch: int,
    *,
    worker_id: int | None = None,
    result: dict[str, Any] | None = None,
    also: Callable[[Session], None] | None = None,
    **metrics: Any,
) -> None:
    """Record one epoch's metrics, in one transaction with ``result`` (more of the trial's
    result row), with ``worker_id`` that worker's epoch and liveness, and with ``also`` more
    writes of the caller's (the value Optuna was told for the epoch)."""
    with session_scope(engine) as session:
        if also is not None:
            also(session)
        session.merge(EpochMetric(trial_id=trial_id, epoch=epoch, **metrics))
        session.execute(
            sa.update(TrialResult)
            .where(TrialResult.trial_id == trial_id)
            .values(epochs_run=epoch, **(result or {}))
        )
        if worker_id is not None:
            session.execute(
                sa.update(WorkerRecord)
                .where(WorkerRecord.id == worker_id)
                .values(last_seen=utcnow(), epoch=epoch)
            )


def set_result_attrs(engine: Engine, trial_id: int, attrs: dict[str, Any]) -> bool:
    """Write a running trial's result attributes (what Optuna's tools show beside its value)
    into Optuna's table, in one transaction; False, writing nothing, once the trial finished.

    Optuna writes each attribute in a transaction of its own. These rows are written as
    Optuna writes them (one row per key, the value as JSON), under the rule Optuna keeps (a
    finished trial is never changed): the trial's row is locked, so nobody finishes it
    meanwhile (SQLite's BEGIN IMMEDIATE; FOR UPDATE elsewhere, as Optuna's own tell does).
    Before the trial is told: Optuna caches a finished trial, in every process that read it.
    """
    check_optuna_schema(engine)  # before the transaction: its first call opens a connection
    with session_scope(engine) as session:
        state = session.scalar(
            sa.select(trials.c.state).where(trials.c.trial_id == trial_id).with_for_update()
        )
        if state != OptunaState.RUNNING:
            return False
        write_result_attrs(session, trial_id, attrs)
        return True


def write_result_attrs(session: Session, trial_id: int, attrs: dict[str, Any]) -> None:
    """:func:`set_result_attrs`'s rows, in the caller's transaction, which has checked that the
    trial still runs (the worker's tell: sweeps.held_writes)."""
    table = trial_user_attributes
    session.execute(
        sa.delete(table).where(table.c.trial_id == trial_id, table.c.key.in_(list(attrs)))
    )
    if attrs:
        session.execute(
            sa.insert(table),
            [
                {"trial_id": trial_id, "key": key, "value_json": json.dumps(value)}
                for key, value in attrs.items()
            ],
        )


def update_result(
    engine: Engine,
    trial_id: int,
    *,
    also: Callable[[Session], None] | None = None,
    **values: Any,
) -> None:
    """Update a trial's result row, in one transaction with ``also``, more writes of the
    caller's (the parameters its model's build asked, written with the model's facts)."""
    with session_scope(engine) as session:
        if also is not None:
            also(session)
        session.execute(
            sa.update(TrialResult).where(TrialResult.trial_id == trial_id).values(**values)
        )


def finish_result(engine: Engine, trial_id: int, **values: Any) -> None:
    """End a trial's result row whose outcome Optuna was told (a reaped trial's)."""
    update_result(engine, trial_id, finished_at=utcnow(), **values)


def end_trial(
    session: Session,
    *,
    trial_id: int,
    worker_id: int,
    trials_done: int,
    **values: Any,
) -> None:
    """A worker's trial ended, in the transaction that tells Optuna so (sweeps.held_writes):
    the trial's result row, and the worker idle again, its claim given back (a trial that
    counts against the budget is counted by Optuna from now on)."""
    session.execute(
        sa.update(TrialResult)
        .where(TrialResult.trial_id == trial_id)
        .values(finished_at=utcnow(), **values)
    )
    session.execute(
        sa.update(WorkerRecord)
        .where(WorkerRecord.id == worker_id)
        .values(
            state=WorkerState.IDLE,
            holds_claim=False,
            trial_id=None,
            trial_number=None,
            epoch=None,
            trials_done=trials_done,
            last_seen=utcnow(),
        )
    )


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
    """Store a trial's refit (see :class:`storage.tables.Refit`), replacing an earlier one."""
    with session_scope(engine) as session:
        session.merge(Refit(trial_id=trial_id, created_at=utcnow(), **values))

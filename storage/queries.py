"""The queries behind ``sweeps best / show / studies / status``: SQL and pandas, no TensorFlow.

Selection is by validation accuracy only; test metrics ride along for reporting.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from storage.engine import session_scope
from storage.models import (
    FINISHED,
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
)
from storage.optuna_tables import OptunaState, decode_param, trial_params, trials
from storage.optuna_tables import studies as optuna_studies

__all__ = [
    "ResultRow",
    "StoredEvaluation",
    "TrialCounts",
    "TrialDetail",
    "all_trials",
    "ensembles_of",
    "epochs_of",
    "evaluations_of",
    "find_sweep",
    "latest_study_name",
    "list_studies",
    "optuna_study_names",
    "ranked_trials",
    "recent_statuses",
    "results_recorded",
    "refit_of",
    "result_rows",
    "trial_counts",
    "trial_detail",
    "trial_params_of",
    "workers_of",
]


def _has_tables(engine: Engine) -> bool:
    return sa.inspect(engine).has_table(Sweep.__tablename__)


def latest_study_name(engine: Engine) -> str | None:
    if not _has_tables(engine):
        return None
    with session_scope(engine) as session:
        query = sa.select(Sweep.study_name).order_by(Sweep.created_at.desc(), Sweep.study_id.desc())
        return session.scalar(query.limit(1))


def results_recorded(engine: Engine, study_id: int) -> int:
    """How many trials of the study a worker has started (each has a result row)."""
    query = sa.select(sa.func.count()).where(TrialResult.study_id == study_id)
    with engine.connect() as connection:
        return int(connection.scalar(query))


def optuna_study_names(engine: Engine) -> list[str]:
    """Names of Optuna studies in the store that sweeps did not make (no sweep row)."""
    inspector = sa.inspect(engine)
    if not inspector.has_table(optuna_studies.name):
        return []
    query = sa.select(optuna_studies.c.study_name).order_by(optuna_studies.c.study_id)
    if inspector.has_table(Sweep.__tablename__):
        query = query.where(optuna_studies.c.study_id.not_in(sa.select(Sweep.study_id)))
    with engine.connect() as connection:
        return [str(name) for name in connection.scalars(query)]


def find_sweep(engine: Engine, study_name: str) -> Sweep | None:
    if not _has_tables(engine):
        return None
    with session_scope(engine) as session:
        return Sweep.find(session, study_name)


@dataclass(frozen=True)
class TrialCounts:
    """A study's trials counted by Optuna state; ``finished`` is what counts against the budget."""

    complete: int = 0
    pruned: int = 0
    failed: int = 0
    running: int = 0
    waiting: int = 0

    @property
    def finished(self) -> int:
        return self.complete + self.pruned


def trial_counts(engine: Engine, study_id: int) -> TrialCounts:
    """Count a study's trials by Optuna state (read from Optuna's table, without Optuna)."""
    query = (
        sa.select(trials.c.state, sa.func.count())
        .where(trials.c.study_id == study_id)
        .group_by(trials.c.state)
    )
    with engine.connect() as connection:
        counts = {OptunaState(str(state)): int(n) for state, n in connection.execute(query)}
    return TrialCounts(
        complete=counts.get(OptunaState.COMPLETE, 0),
        pruned=counts.get(OptunaState.PRUNED, 0),
        failed=counts.get(OptunaState.FAIL, 0),
        running=counts.get(OptunaState.RUNNING, 0),
        waiting=counts.get(OptunaState.WAITING, 0),
    )


def list_studies(engine: Engine) -> pd.DataFrame:
    """One row per sweep: what it searched, its budget and progress, its best trial."""
    columns = [
        "study",
        "space",
        "dataset",
        "finished",
        "budget",
        "failed",
        "running",
        "best_val_accuracy",
        "test_accuracy",
        "created",
    ]
    if not _has_tables(engine):
        return pd.DataFrame(columns=columns)
    rows = []
    with session_scope(engine) as session:
        sweeps = list(session.scalars(sa.select(Sweep).order_by(Sweep.created_at)))
    for sweep in sweeps:
        config = json.loads(sweep.config_json)
        counts = trial_counts(engine, sweep.study_id)
        best = ranked_trials(engine, sweep, limit=1)
        rows.append(
            {
                "study": sweep.study_name,
                "space": config.get("space"),
                "dataset": config.get("dataset"),
                "finished": counts.finished,
                "budget": sweep.budget,
                "failed": counts.failed,
                "running": counts.running,
                "best_val_accuracy": None if best.empty else best.iloc[0]["val_accuracy"],
                "test_accuracy": None if best.empty else best.iloc[0]["test_accuracy"],
                "created": sweep.created_at.strftime("%Y-%m-%d %H:%M"),
            }
        )
    return pd.DataFrame(rows, columns=columns)


def trial_params_of(engine: Engine, trial_ids: list[int]) -> dict[int, dict[str, Any]]:
    """Decoded Optuna parameters of the given trials, by trial id."""
    if not trial_ids:
        return {}
    query = (
        sa.select(
            trial_params.c.trial_id,
            trial_params.c.param_name,
            trial_params.c.param_value,
            trial_params.c.distribution_json,
        )
        .where(trial_params.c.trial_id.in_(trial_ids))
        .order_by(trial_params.c.param_id)
    )
    params: dict[int, dict[str, Any]] = {trial_id: {} for trial_id in trial_ids}
    with engine.connect() as connection:
        for trial_id, name, value, distribution in connection.execute(query):
            params[trial_id][name] = decode_param(value, distribution)
    return params


def ranked_trials(
    engine: Engine, sweep: Sweep, limit: int | None = None, with_params: bool = False
) -> pd.DataFrame:
    """Finished trials (complete or pruned), best validation accuracy first."""
    status_order = sa.case((TrialResult.status == TrialStatus.COMPLETE, 0), else_=1)
    query = (
        sa.select(TrialResult)
        .where(TrialResult.study_id == sweep.study_id)
        .where(TrialResult.status.in_(FINISHED))
        .where(TrialResult.val_accuracy.is_not(None))
        .order_by(
            TrialResult.val_accuracy.desc(), status_order, TrialResult.val_loss, TrialResult.number
        )
    )
    if limit is not None:
        query = query.limit(limit)
    with session_scope(engine) as session:
        results = list(session.scalars(query))
    frame = pd.DataFrame(
        [
            {
                "rank": rank,
                "trial": r.number,
                "status": r.status,
                "baseline": r.is_baseline,
                "val_accuracy": r.val_accuracy,
                "test_accuracy": r.test_accuracy,
                "val_loss": r.val_loss,
                "test_loss": r.test_loss,
                "best_epoch": r.best_epoch,
                "epochs": r.epochs_run,
                "params_count": r.param_count,
                "seconds": r.wall_seconds,
                "trial_id": r.trial_id,
            }
            for rank, r in enumerate(results, start=1)
        ]
    )
    if with_params and not frame.empty:
        params = trial_params_of(engine, [int(t) for t in frame["trial_id"]])
        frame["params"] = [params[int(t)] for t in frame["trial_id"]]
    return frame


@dataclass
class TrialDetail:
    result: TrialResult
    state: str
    params: dict[str, Any]
    epochs: list[EpochMetric]


def trial_detail(engine: Engine, sweep: Sweep, number: int) -> TrialDetail | None:
    with session_scope(engine) as session:
        query = sa.select(TrialResult).where(
            TrialResult.study_id == sweep.study_id, TrialResult.number == number
        )
        result = session.scalar(query)
        if result is None:
            return None
        epochs = EpochMetric.for_trial(session, result.trial_id)
    with engine.connect() as connection:
        state = connection.scalar(
            sa.select(trials.c.state).where(trials.c.trial_id == result.trial_id)
        )
    params = trial_params_of(engine, [result.trial_id])[result.trial_id]
    return TrialDetail(result=result, state=str(state), params=params, epochs=epochs)


def workers_of(engine: Engine, study_id: int) -> list[WorkerRecord]:
    with session_scope(engine) as session:
        query = (
            sa.select(WorkerRecord)
            .where(WorkerRecord.study_id == study_id)
            .order_by(WorkerRecord.id)
        )
        return list(session.scalars(query))


def recent_statuses(
    engine: Engine, study_id: int, count: int, since: datetime | None = None
) -> list[str]:
    """Statuses of the ``count`` most recently finished trials (after ``since``), newest first."""
    query = (
        sa.select(TrialResult.status)
        .where(TrialResult.study_id == study_id, TrialResult.finished_at.is_not(None))
        .where(TrialResult.finished_at >= (since or datetime.min))
        .order_by(TrialResult.finished_at.desc(), TrialResult.number.desc())
        .limit(count)
    )
    with engine.connect() as connection:
        return [str(s) for s in connection.scalars(query)]


def epochs_of(engine: Engine, sweep: Sweep) -> pd.DataFrame:
    """Every recorded epoch of every trial of a sweep, with the trial's number and status."""
    query = (
        sa.select(
            TrialResult.number.label("trial"),
            TrialResult.status,
            EpochMetric.epoch,
            EpochMetric.loss,
            EpochMetric.accuracy,
            EpochMetric.val_loss,
            EpochMetric.val_accuracy,
            EpochMetric.learning_rate,
            EpochMetric.seconds,
            EpochMetric.images_per_second,
            EpochMetric.restored,
        )
        .join(EpochMetric, EpochMetric.trial_id == TrialResult.trial_id)
        .where(TrialResult.study_id == sweep.study_id)
        .order_by(TrialResult.number, EpochMetric.epoch)
    )
    with engine.connect() as connection:
        return pd.DataFrame(connection.execute(query).mappings().all())


def all_trials(engine: Engine, sweep: Sweep) -> pd.DataFrame:
    """Every trial a worker started, whatever became of it, with its parameters as columns."""
    with session_scope(engine) as session:
        results = list(
            session.scalars(
                sa.select(TrialResult)
                .where(TrialResult.study_id == sweep.study_id)
                .order_by(TrialResult.number)
            )
        )
    columns = [c.name for c in TrialResult.__table__.columns]
    params = trial_params_of(engine, [r.trial_id for r in results])
    rows = [
        {
            **{c: getattr(r, c) for c in columns},
            **{f"hp_{name}": value for name, value in params[r.trial_id].items()},
        }
        for r in results
    ]
    return pd.DataFrame(rows, columns=columns) if not rows else pd.DataFrame(rows)


# After the sweep: evaluations, ensembles, refits, and which checkpoints are still needed. ----


@dataclass
class StoredEvaluation:
    """One recorded evaluation of a trial on a split, with its per-class rows."""

    split: str
    images: int
    accuracy: float
    confusion: list[list[int]]
    classes: list[ClassMetric]


def evaluations_of(engine: Engine, trial_id: int) -> dict[str, StoredEvaluation]:
    """A trial's recorded evaluations by split (``val``, ``test``); empty when never evaluated."""
    if not sa.inspect(engine).has_table(Evaluation.__tablename__):
        return {}
    with session_scope(engine) as session:
        rows = session.scalars(sa.select(Evaluation).where(Evaluation.trial_id == trial_id))
        return {
            row.split: StoredEvaluation(
                split=row.split,
                images=row.images,
                accuracy=row.accuracy,
                confusion=json.loads(row.confusion_json),
                classes=ClassMetric.for_evaluation(session, row.id),
            )
            for row in rows
        }


def ensembles_of(engine: Engine, study_id: int | None = None) -> pd.DataFrame:
    """Recorded ensembles (of one study, or of all), smallest first, with their members."""
    columns = [
        "study",
        "size",
        "val_accuracy",
        "test_accuracy",
        "members",
        "model_path",
        "created",
    ]
    if not sa.inspect(engine).has_table(Ensemble.__tablename__):
        return pd.DataFrame(columns=columns)
    query = (
        sa.select(Ensemble, Sweep.study_name)
        .join(Sweep, Sweep.study_id == Ensemble.study_id)
        .order_by(Sweep.created_at, Ensemble.size)
    )
    if study_id is not None:
        query = query.where(Ensemble.study_id == study_id)
    with session_scope(engine) as session:
        rows = [
            {
                "study": name,
                "size": ensemble.size,
                "val_accuracy": ensemble.val_accuracy,
                "test_accuracy": ensemble.test_accuracy,
                "members": [m.number for m in EnsembleMember.for_ensemble(session, ensemble.id)],
                "model_path": ensemble.model_path,
                "created": ensemble.created_at.strftime("%Y-%m-%d %H:%M"),
            }
            for ensemble, name in session.execute(query)
        ]
    return pd.DataFrame(rows, columns=columns)


def refit_of(engine: Engine, trial_id: int) -> Refit | None:
    """A trial's recorded refit, if it has one."""
    if not sa.inspect(engine).has_table(Refit.__tablename__):
        return None
    with session_scope(engine) as session:
        return session.get(Refit, trial_id)


@dataclass(frozen=True)
class ResultRow:
    """What the keep policy needs of a trial: how it ended, which trial it continues, and the
    checkpoint folder it wrote."""

    number: int
    status: str
    retry_of: int | None
    checkpoint_dir: str | None


def result_rows(engine: Engine, study_id: int) -> list[ResultRow]:
    """Every trial a worker started in a study, in number order."""
    query = (
        sa.select(
            TrialResult.number,
            TrialResult.status,
            TrialResult.retry_of,
            TrialResult.checkpoint_dir,
        )
        .where(TrialResult.study_id == study_id)
        .order_by(TrialResult.number)
    )
    with engine.connect() as connection:
        return [ResultRow(int(n), str(s), r, d) for n, s, r, d in connection.execute(query)]

"""The queries behind ``sweeps best / show / studies / status``: SQL and pandas, no TensorFlow.

Selection is by validation accuracy only; test metrics ride along for reporting. Every read
of Optuna's tables checks first that they are at a version this SQL was written for
(storage.optuna_schema, once per engine). Every query runs in a transaction that only reads
(storage.engine.reader): on SQLite it takes no lock, so polling never makes a worker wait.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from storage.engine import reader, session_scope
from storage.optuna_schema import check_optuna_schema
from storage.optuna_tables import (
    BATCH_SIZE_ATTR,
    OptunaState,
    decode_param,
    trial_params,
    trial_user_attributes,
    trials,
)
from storage.optuna_tables import studies as optuna_studies
from storage.tables import (
    FINISHED,
    TRAINED,
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
from storage.trial_status import status_column, with_status

if TYPE_CHECKING:  # pandas costs half a second to import: only the frame builders load it
    import pandas as pd

__all__ = [
    "ResultRow",
    "StoredEvaluation",
    "TrialCounts",
    "TrialDetail",
    "all_trials",
    "baseline_row",
    "ensemble_rows",
    "ensembles_of",
    "epoch_rows",
    "epochs_of",
    "evaluations_of",
    "find_sweep",
    "latest_study_name",
    "list_studies",
    "optuna_study_names",
    "ranked_rows",
    "ranked_trials",
    "recent_statuses",
    "refit_of",
    "result_rows",
    "results_recorded",
    "study_params",
    "trial_counts",
    "trial_counts_of",
    "trial_detail",
    "trial_details",
    "trial_params_of",
    "trial_rows",
    "workers_of",
]


def _has_tables(engine: Engine) -> bool:
    return sa.inspect(reader(engine)).has_table(Sweep.__tablename__)


def latest_study_name(engine: Engine) -> str | None:
    if not _has_tables(engine):
        return None
    with session_scope(reader(engine)) as session:
        query = sa.select(Sweep.study_name).order_by(Sweep.created_at.desc(), Sweep.study_id.desc())
        return session.scalar(query.limit(1))


def results_recorded(engine: Engine, study_id: int) -> int:
    """How many trials of the study a worker has started (each has a result row)."""
    query = sa.select(sa.func.count()).where(TrialResult.study_id == study_id)
    with reader(engine).connect() as connection:
        return int(connection.scalar(query))


def optuna_study_names(engine: Engine) -> list[str]:
    """Names of Optuna studies in the store that sweeps did not make (no sweep row)."""
    inspector = sa.inspect(reader(engine))
    if not inspector.has_table(optuna_studies.name):
        return []
    check_optuna_schema(engine)
    query = sa.select(optuna_studies.c.study_name).order_by(optuna_studies.c.study_id)
    if inspector.has_table(Sweep.__tablename__):
        query = query.where(optuna_studies.c.study_id.not_in(sa.select(Sweep.study_id)))
    with reader(engine).connect() as connection:
        return [str(name) for name in connection.scalars(query)]


def find_sweep(engine: Engine, study_name: str) -> Sweep | None:
    if not _has_tables(engine):
        return None
    with session_scope(reader(engine)) as session:
        return Sweep.find(session, study_name)


@dataclass(frozen=True)
class TrialCounts:
    """A study's trials by outcome. ``finished`` is Optuna's count of COMPLETE and PRUNED
    trials, what the budget is measured in; ``waiting`` is Optuna's queue (the baseline, retries
    not yet started). The outcomes count our result rows, one per trial a worker started: a
    retry is a trial of its own, so two Ctrl-Cs are two interrupted trials, none failed."""

    finished: int = 0
    waiting: int = 0
    complete: int = 0
    pruned: int = 0
    diverged: int = 0
    failed: int = 0
    out_of_memory: int = 0
    lost: int = 0
    interrupted: int = 0
    running: int = 0

    def outcomes(self) -> dict[str, int]:
        """Every outcome's count, in TrialStatus order (running included)."""
        return {status.value: getattr(self, status.name.lower()) for status in TrialStatus}


def trial_counts(engine: Engine, study_id: int) -> TrialCounts:
    """Count a study's trials: the budget and the queue from Optuna's table (without Optuna),
    the outcomes from the statuses of our result rows."""
    return trial_counts_of(engine, [study_id])[study_id]


def trial_counts_of(engine: Engine, study_ids: list[int]) -> dict[int, TrialCounts]:
    """:func:`trial_counts` of several studies, by id: two queries however many."""
    check_optuna_schema(engine)
    by_state = (
        sa.select(trials.c.study_id, trials.c.state, sa.func.count())
        .where(trials.c.study_id.in_(study_ids))
        .group_by(trials.c.study_id, trials.c.state)
    )
    status = status_column()
    by_outcome = with_status(
        sa.select(TrialResult.study_id, status, sa.func.count()).select_from(TrialResult),
        TrialResult.trial_id,
    )
    by_outcome = by_outcome.where(TrialResult.study_id.in_(study_ids))
    by_outcome = by_outcome.group_by(TrialResult.study_id, status)
    states: dict[int, dict[OptunaState, int]] = {study_id: {} for study_id in study_ids}
    outcomes: dict[int, dict[str, int]] = {study_id: {} for study_id in study_ids}
    with reader(engine).connect() as connection:
        for study_id, state, n in connection.execute(by_state):
            states[study_id][OptunaState(str(state))] = int(n)
        for study_id, status_value, n in connection.execute(by_outcome):
            outcomes[study_id][str(status_value)] = int(n)
    return {
        study_id: TrialCounts(
            finished=states[study_id].get(OptunaState.COMPLETE, 0)
            + states[study_id].get(OptunaState.PRUNED, 0),
            waiting=states[study_id].get(OptunaState.WAITING, 0),
            **{
                status.name.lower(): outcomes[study_id][status.value]
                for status in TrialStatus
                if status.value in outcomes[study_id]
            },
        )
        for study_id in study_ids
    }


def _best_of(engine: Engine, study_ids: list[int]) -> dict[int, tuple[float, float | None]]:
    """The best trained trial's val and test accuracy of each study that has one, by id: one
    query however many studies."""
    rank = sa.func.row_number().over(partition_by=TrialResult.study_id, order_by=_ranking_order())
    ranked = with_status(
        sa.select(
            TrialResult.study_id,
            TrialResult.val_accuracy,
            TrialResult.test_accuracy,
            rank.label("rank"),
        ),
        TrialResult.trial_id,
    )
    ranked = ranked.where(
        TrialResult.study_id.in_(study_ids),
        status_column().in_(TRAINED),
        TrialResult.val_accuracy.is_not(None),
    ).subquery()
    query = sa.select(ranked.c.study_id, ranked.c.val_accuracy, ranked.c.test_accuracy)
    with reader(engine).connect() as connection:
        return {
            study_id: (val, test)
            for study_id, val, test in connection.execute(query.where(ranked.c.rank == 1))
        }


def list_studies(engine: Engine) -> pd.DataFrame:
    """One row per sweep: what it searched, its budget and progress, its best trial."""
    columns = [
        "study",
        "space",
        "dataset",
        "finished",
        "budget",
        "running",
        "diverged",
        "failed",
        "lost",
        "interrupted",
        "best_val_accuracy",
        "test_accuracy",
        "created",
    ]
    import pandas as pd

    if not _has_tables(engine):
        return pd.DataFrame(columns=columns)
    rows = []
    with session_scope(reader(engine)) as session:
        sweeps = list(session.scalars(sa.select(Sweep).order_by(Sweep.created_at)))
    ids = [sweep.study_id for sweep in sweeps]
    counts_of, best_of = trial_counts_of(engine, ids), _best_of(engine, ids)
    for sweep in sweeps:
        saved = json.loads(sweep.config_json)
        config = saved.get("spec", saved)  # the saved forms: sweeps.config.upgrade_saved
        counts, (best_val, best_test) = (
            counts_of[sweep.study_id],
            best_of.get(sweep.study_id, (None, None)),
        )
        rows.append(
            {
                "study": sweep.study_name,
                "space": config.get("space"),
                "dataset": config.get("dataset"),
                "finished": counts.finished,
                "budget": sweep.budget,
                "running": counts.running,
                "diverged": counts.diverged,
                # Faults only: an out-of-memory trial is retried smaller, an interrupt is not
                # a failure.
                "failed": counts.failed,
                "lost": counts.lost,
                "interrupted": counts.interrupted,
                "best_val_accuracy": best_val,
                "test_accuracy": best_test,
                "created": sweep.created_at.strftime("%Y-%m-%d %H:%M"),
            }
        )
    return pd.DataFrame(rows, columns=columns)


def trial_params_of(engine: Engine, trial_ids: list[int]) -> dict[int, dict[str, Any]]:
    """Decoded Optuna parameters of the given trials, by trial id."""
    if not trial_ids:
        return {}
    check_optuna_schema(engine)
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
    with reader(engine).connect() as connection:
        for trial_id, name, value, distribution in connection.execute(query):
            params[trial_id][name] = _decoder(distribution)(value)
    return params


@functools.lru_cache(maxsize=4096)
def _decoder(distribution_json: str) -> Callable[[float], Any]:
    """Decode Optuna's stored value for one distribution. A study repeats the same dozen
    distributions on every trial: each JSON text is parsed once, not once per row."""
    distribution = json.loads(distribution_json)
    if distribution["name"] == "CategoricalDistribution":
        choices = distribution["attributes"]["choices"]
        return lambda internal: choices[int(internal)]
    # Numbers need no table: decode_param's own rule (int or float by kind) on a sample.
    kind = type(decode_param(0.0, distribution_json))
    return kind


def study_params(engine: Engine, study_id: int) -> dict[int, dict[str, Any]]:
    """Decoded parameters of every trial of a study, by trial id (one query, no id list)."""
    check_optuna_schema(engine)
    query = (
        sa.select(
            trial_params.c.trial_id,
            trial_params.c.param_name,
            trial_params.c.param_value,
            trial_params.c.distribution_json,
        )
        .join(trials, trials.c.trial_id == trial_params.c.trial_id)
        .where(trials.c.study_id == study_id)
        .order_by(trial_params.c.trial_id, trial_params.c.param_id)
    )
    params: dict[int, dict[str, Any]] = {}
    with reader(engine).connect() as connection:
        for trial_id, name, value, distribution in connection.execute(query):
            params.setdefault(trial_id, {})[name] = _decoder(distribution)(value)
    return params


def ranked_trials(
    engine: Engine,
    sweep: Sweep,
    limit: int | None = None,
    with_params: bool = False,
    trained_only: bool = False,
) -> pd.DataFrame:
    """:func:`ranked_rows` as a frame."""
    import pandas as pd

    return pd.DataFrame(ranked_rows(engine, sweep, limit, with_params, trained_only))


def _ranking_order() -> tuple[Any, ...]:
    """The ranking of ``sweeps best``: trained before diverged, then validation accuracy, then
    complete before pruned, then validation loss, then trial number."""
    status = status_column()
    diverged_last = sa.case((status == TrialStatus.DIVERGED, 1), else_=0)
    status_order = sa.case((status == TrialStatus.COMPLETE, 0), else_=1)
    return (
        diverged_last,
        TrialResult.val_accuracy.desc(),
        status_order,
        TrialResult.val_loss,
        TrialResult.number,
    )


def _ranked(sweep: Sweep, statuses: tuple[TrialStatus, ...]) -> Any:
    """The condition a trial meets to be ranked (over :func:`with_status`'s join)."""
    return sa.and_(
        TrialResult.study_id == sweep.study_id,
        status_column().in_(statuses),
        TrialResult.val_accuracy.is_not(None),
    )


def _row(rank: int, r: TrialResult, status: str) -> dict[str, Any]:
    return {
        "rank": rank,
        "trial": r.number,
        "status": status,
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


def _with_params(engine: Engine, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if rows:
        params = trial_params_of(engine, [row["trial_id"] for row in rows])
        for row in rows:
            row["params"] = params[row["trial_id"]]
    return rows


def ranked_rows(
    engine: Engine,
    sweep: Sweep,
    limit: int | None = None,
    with_params: bool = False,
    trained_only: bool = False,
) -> list[dict[str, Any]]:
    """Finished trials, best validation accuracy first, as plain rows.

    Diverged trials come after every trained one whatever their last finite epoch scored (their
    weights went to NaN); ``trained_only`` leaves them out, for what needs a usable model.
    """
    statuses = TRAINED if trained_only else FINISHED
    query = with_status(sa.select(TrialResult, status_column()), TrialResult.trial_id)
    query = query.where(_ranked(sweep, statuses)).order_by(*_ranking_order())
    if limit is not None:
        query = query.limit(limit)
    check_optuna_schema(engine)
    with session_scope(reader(engine)) as session:
        results = list(session.execute(query))
    rows = [_row(rank, r, status) for rank, (r, status) in enumerate(results, start=1)]
    return _with_params(engine, rows) if with_params else rows


def baseline_row(engine: Engine, sweep: Sweep, with_params: bool = False) -> dict[str, Any] | None:
    """The baseline trial's row of :func:`ranked_rows`, at its rank among all finished trials
    (one query, whatever the study's size); None when it has not finished or the study has
    none."""
    rank = sa.func.row_number().over(order_by=_ranking_order()).label("rank")
    ranked = with_status(
        sa.select(TrialResult.trial_id, TrialResult.is_baseline, status_column(), rank),
        TrialResult.trial_id,
    )
    ranked = ranked.where(_ranked(sweep, FINISHED)).subquery()
    query = (
        sa.select(TrialResult, ranked.c.status, ranked.c.rank)
        .join(ranked, ranked.c.trial_id == TrialResult.trial_id)
        .where(ranked.c.is_baseline)
        .order_by(ranked.c.rank)
        .limit(1)
    )
    check_optuna_schema(engine)
    with session_scope(reader(engine)) as session:
        found = session.execute(query).first()
        row = None if found is None else _row(int(found.rank), found[0], found.status)
    if row is None:
        return None
    return _with_params(engine, [row])[0] if with_params else row


@dataclass
class TrialDetail:
    result: TrialResult
    state: str  # Optuna's
    status: str  # a TrialStatus value, derived from the state and the outcome
    params: dict[str, Any]
    epochs: list[EpochMetric]
    batch_size: int | None = None  # the batch a retry after running out of memory trained with


def trial_detail(engine: Engine, sweep: Sweep, number: int) -> TrialDetail | None:
    """One trial's row, state, status, parameters and curve; None when it has no row."""
    return trial_details(engine, sweep, [number]).get(number)


def trial_details(engine: Engine, sweep: Sweep, numbers: list[int]) -> dict[int, TrialDetail]:
    """:func:`trial_detail` of several trials, by number: three queries however many (rows with
    their state and status, curves, parameters)."""
    if not numbers:
        return {}
    check_optuna_schema(engine)
    halved = (
        sa.select(trial_user_attributes.c.value_json)
        .where(
            trial_user_attributes.c.trial_id == TrialResult.trial_id,
            trial_user_attributes.c.key == BATCH_SIZE_ATTR,
        )
        .scalar_subquery()
    )
    query = with_status(
        sa.select(TrialResult, trials.c.state, status_column(), halved.label("halved")),
        TrialResult.trial_id,
    ).where(TrialResult.study_id == sweep.study_id, TrialResult.number.in_(numbers))
    with session_scope(reader(engine)) as session:
        found = list(session.execute(query))
        ids = [row[0].trial_id for row in found]
        epochs: dict[int, list[EpochMetric]] = {trial_id: [] for trial_id in ids}
        curves = sa.select(EpochMetric).where(EpochMetric.trial_id.in_(ids))
        for epoch in session.scalars(curves.order_by(EpochMetric.trial_id, EpochMetric.epoch)):
            epochs[epoch.trial_id].append(epoch)
    params = trial_params_of(engine, ids)
    return {
        row[0].number: TrialDetail(
            result=row[0],
            state=str(row.state),
            status=str(row.status),
            params=params[row[0].trial_id],
            epochs=epochs[row[0].trial_id],
            batch_size=json.loads(row.halved) if row.halved else None,
        )
        for row in found
    }


def workers_of(engine: Engine, study_id: int) -> list[WorkerRecord]:
    with session_scope(reader(engine)) as session:
        query = (
            sa.select(WorkerRecord)
            .where(WorkerRecord.study_id == study_id)
            .order_by(WorkerRecord.id)
        )
        return list(session.scalars(query))


def recent_statuses(
    engine: Engine, study_id: int, count: int, since: datetime | None = None
) -> list[str]:
    """Outcomes of the ``count`` most recently ended trials (after ``since``), newest first.

    Interrupted trials are left out: a user's Ctrl-C neither counts towards the failures-in-a-row
    stop nor breaks a run of failures.
    """
    status = status_column()
    query = (
        with_status(sa.select(status).select_from(TrialResult), TrialResult.trial_id)
        .where(TrialResult.study_id == study_id, TrialResult.finished_at.is_not(None))
        .where(TrialResult.finished_at >= (since or datetime.min))
        .where(status != TrialStatus.INTERRUPTED)
        .order_by(TrialResult.finished_at.desc(), TrialResult.number.desc())
        .limit(count)
    )
    check_optuna_schema(engine)
    with reader(engine).connect() as connection:
        return [str(s) for s in connection.scalars(query)]


def epoch_rows(engine: Engine, sweep: Sweep) -> tuple[list[str], list[tuple]]:
    """Every recorded epoch of every trial of a sweep, with the trial's number and status:
    the column names and plain rows (what ``export`` writes without pandas)."""
    query = (
        sa.select(
            TrialResult.number.label("trial"),
            status_column(),
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
    query = with_status(query, TrialResult.trial_id)
    check_optuna_schema(engine)
    with reader(engine).connect() as connection:
        result = connection.execute(query)
        return list(result.keys()), [tuple(row) for row in result]


def epochs_of(engine: Engine, sweep: Sweep) -> pd.DataFrame:
    """:func:`epoch_rows` as a frame."""
    import pandas as pd

    columns, rows = epoch_rows(engine, sweep)
    return pd.DataFrame(rows, columns=columns)


def trial_rows(engine: Engine, sweep: Sweep) -> tuple[list[str], list[dict[str, Any]]]:
    """Every trial a worker started, whatever became of it, with its parameters as ``hp_``
    columns: the column names (parameters in order of first appearance) and one dict a row."""
    table = TrialResult.__table__
    # The status where schema 2 stored it: after the number.
    first, rest = list(table.c)[:3], list(table.c)[3:]
    query = with_status(sa.select(*first, status_column(), *rest), table.c.trial_id)
    query = query.where(table.c.study_id == sweep.study_id).order_by(table.c.number)
    check_optuna_schema(engine)
    with reader(engine).connect() as connection:  # plain rows: 10,000 ORM objects cost a second
        result = connection.execute(query)
        columns = list(result.keys())
        results = result.fetchall()
    params = study_params(engine, sweep.study_id)
    rows = []
    names: dict[str, None] = {}  # ordered set
    for r in results:
        row = dict(zip(columns, r, strict=True))
        for name, value in params.get(r.trial_id, {}).items():
            row[f"hp_{name}"] = value
            names.setdefault(f"hp_{name}")
        rows.append(row)
    return [*columns, *names], rows


def all_trials(engine: Engine, sweep: Sweep) -> pd.DataFrame:
    """:func:`trial_rows` as a frame."""
    import pandas as pd

    columns, rows = trial_rows(engine, sweep)
    return pd.DataFrame(rows, columns=columns)


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
    if not sa.inspect(reader(engine)).has_table(Evaluation.__tablename__):
        return {}
    with session_scope(reader(engine)) as session:
        rows = list(session.scalars(sa.select(Evaluation).where(Evaluation.trial_id == trial_id)))
        classes: dict[int, list[ClassMetric]] = {row.id: [] for row in rows}
        query = sa.select(ClassMetric).where(ClassMetric.evaluation_id.in_(list(classes)))
        for metric in session.scalars(query.order_by(ClassMetric.class_index)):
            classes[metric.evaluation_id].append(metric)
        return {
            row.split: StoredEvaluation(
                split=row.split,
                images=row.images,
                accuracy=row.accuracy,
                confusion=json.loads(row.confusion_json),
                classes=classes[row.id],
            )
            for row in rows
        }


ENSEMBLE_COLUMNS = [
    "study",
    "size",
    "val_accuracy",
    "test_accuracy",
    "members",
    "model_path",
    "created",
]


def ensemble_rows(engine: Engine, study_id: int | None = None) -> list[dict[str, Any]]:
    """Recorded ensembles (of one study, or of all), smallest first, with their members, as
    plain dicts (the ``best`` table skips pandas' import)."""
    if not sa.inspect(reader(engine)).has_table(Ensemble.__tablename__):
        return []
    query = (
        sa.select(Ensemble, Sweep.study_name)
        .join(Sweep, Sweep.study_id == Ensemble.study_id)
        .order_by(Sweep.created_at, Ensemble.size)
    )
    if study_id is not None:
        query = query.where(Ensemble.study_id == study_id)
    with session_scope(reader(engine)) as session:
        ensembles = list(session.execute(query))
        members: dict[int, list[int]] = {ensemble.id: [] for ensemble, _ in ensembles}
        ranked = sa.select(EnsembleMember.ensemble_id, EnsembleMember.number)
        ranked = ranked.where(EnsembleMember.ensemble_id.in_(list(members)))
        for ensemble_id, number in session.execute(ranked.order_by(EnsembleMember.rank)):
            members[ensemble_id].append(number)
        return [
            {
                "study": name,
                "size": ensemble.size,
                "val_accuracy": ensemble.val_accuracy,
                "test_accuracy": ensemble.test_accuracy,
                "members": members[ensemble.id],
                "model_path": ensemble.model_path,
                "created": ensemble.created_at.strftime("%Y-%m-%d %H:%M"),
            }
            for ensemble, name in ensembles
        ]


def ensembles_of(engine: Engine, study_id: int | None = None) -> pd.DataFrame:
    """:func:`ensemble_rows` as a frame."""
    import pandas as pd

    return pd.DataFrame(ensemble_rows(engine, study_id), columns=ENSEMBLE_COLUMNS)


def refit_of(engine: Engine, trial_id: int) -> Refit | None:
    """A trial's recorded refit, if it has one."""
    if not sa.inspect(reader(engine)).has_table(Refit.__tablename__):
        return None
    with session_scope(reader(engine)) as session:
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
            status_column(),
            TrialResult.retry_of,
            TrialResult.checkpoint_dir,
        )
        .where(TrialResult.study_id == study_id)
        .order_by(TrialResult.number)
    )
    query = with_status(query, TrialResult.trial_id)
    check_optuna_schema(engine)
    with reader(engine).connect() as connection:
        return [ResultRow(int(n), str(s), r, d) for n, s, r, d in connection.execute(query)]

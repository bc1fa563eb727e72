"""Our tables: what Optuna's own tables do not hold. They join Optuna's by study and trial id.

Optuna owns ``studies``, ``trials``, ``trial_params`` and the rest; we never write those by
hand, but for one thing: a trial's result attributes, written in one transaction as Optuna would
write them one by one (storage.records.set_result_attrs). One class per table, constraints in
``__table_args__``, lookups as classmethods.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

__all__ = [
    "FAULTS",
    "FINISHED",
    "TRAINED",
    "Base",
    "ClassMetric",
    "Ensemble",
    "EnsembleMember",
    "EpochMetric",
    "Evaluation",
    "Refit",
    "Sweep",
    "TrialResult",
    "TrialStatus",
    "WorkerRecord",
    "WorkerState",
    "utcnow",
]


class TrialStatus(enum.StrEnum):
    """How a trial ended, in our words: each one is told to Optuna as the state that teaches
    its sampler the right thing (sweeps.worker.trial_loop says which and why), and recorded
    beside it as the trial's outcome (storage.trial_status derives a trial's status from both).
    """

    RUNNING = "running"
    COMPLETE = "complete"  # trained to its end
    PRUNED = "pruned"  # stopped by the pruner or by early stopping
    DIVERGED = "diverged"  # loss or metrics became NaN or inf: a result, never retried
    FAILED = "failed"  # its code raised; retried only when the error is not deterministic
    OUT_OF_MEMORY = "out_of_memory"  # the device ran out of memory; retried at half the batch
    LOST = "lost"  # its worker died; continued from its checkpoint
    INTERRUPTED = "interrupted"  # Ctrl-C or SIGTERM; continued from its checkpoint


# The statuses that count against a sweep's budget (Optuna's COMPLETE and PRUNED).
FINISHED = (TrialStatus.COMPLETE, TrialStatus.PRUNED, TrialStatus.DIVERGED)
# Finished with a usable model: what `best` ranks first, and what models, ensembles and refits
# are made from.
TRAINED = (TrialStatus.COMPLETE, TrialStatus.PRUNED)
# What the failures-in-a-row stop counts: faults, not results, and never a user's interrupt.
FAULTS = (TrialStatus.FAILED, TrialStatus.LOST)


class WorkerState(enum.StrEnum):
    IDLE = "idle"
    TRAINING = "training"
    EXITED = "exited"
    DEAD = "dead"

    @classmethod
    def alive(cls) -> tuple[WorkerState, ...]:
        return (cls.IDLE, cls.TRAINING)


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class Sweep(Base):
    """One per Optuna study: the saved configuration and the budget.

    How much of the budget is used is not stored: Optuna's finished trials plus the claims
    workers hold (``WorkerRecord.holds_claim``), read when a worker claims one
    (storage.records.claim_trial). Schema 1 kept a counter beside them that could drift.
    """

    __tablename__ = "sweeps_sweep"
    __table_args__ = (sa.CheckConstraint("budget > 0", name="ck_sweep_budget_positive"),)

    study_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    study_name: Mapped[str] = mapped_column(sa.String(512), unique=True)
    config_json: Mapped[str] = mapped_column(sa.Text)
    budget: Mapped[int]  # trials that finish (Optuna's COMPLETE and PRUNED) before it stops
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @classmethod
    def find(cls, session: Session, study_name: str) -> Sweep | None:
        return session.scalar(sa.select(cls).where(cls.study_name == study_name))


class TrialResult(Base):
    """One per Optuna trial that a worker started: metrics, timings and what happened.

    How it ended is not stored here: Optuna's state and the outcome recorded with it say so
    (storage.trial_status). Schema 2 kept a copy, ``status``, that revision 3 dropped.
    """

    __tablename__ = "sweeps_trial_result"
    __table_args__ = (
        sa.Index("ix_trial_result_rank", "study_id", "val_accuracy"),
        sa.Index("ix_trial_result_number", "study_id", "number", unique=True),
    )

    trial_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    study_id: Mapped[int] = mapped_column(index=True)
    number: Mapped[int]
    space: Mapped[str] = mapped_column(sa.String(256))
    dataset: Mapped[str] = mapped_column(sa.String(1024))
    is_baseline: Mapped[bool] = mapped_column(default=False)
    retry_of: Mapped[int | None]  # number of the trial this one retries
    resumed_from_epoch: Mapped[int | None]  # epochs restored from that trial's checkpoint
    val_accuracy: Mapped[float | None]
    val_loss: Mapped[float | None]
    test_accuracy: Mapped[float | None]
    test_loss: Mapped[float | None]
    best_epoch: Mapped[int | None]
    epochs_run: Mapped[int] = mapped_column(default=0)
    param_count: Mapped[int | None]
    input_shape: Mapped[str | None] = mapped_column(sa.String(64))
    resized_from: Mapped[str | None] = mapped_column(sa.String(64))  # dataset shape, if resized
    wall_seconds: Mapped[float | None]
    fit_seconds: Mapped[float | None]
    failure_reason: Mapped[str | None] = mapped_column(sa.Text)
    checkpoint_dir: Mapped[str | None] = mapped_column(sa.Text)
    worker: Mapped[str | None] = mapped_column(sa.String(256))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]

    @classmethod
    def get(cls, session: Session, trial_id: int) -> TrialResult | None:
        return session.get(cls, trial_id)


class EpochMetric(Base):
    """One row per trial and epoch: the learning curve, with speed."""

    __tablename__ = "sweeps_epoch_metric"

    trial_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    epoch: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)  # 1-based
    loss: Mapped[float | None]
    accuracy: Mapped[float | None]
    val_loss: Mapped[float | None]
    val_accuracy: Mapped[float | None]
    learning_rate: Mapped[float | None]
    seconds: Mapped[float | None]
    images_per_second: Mapped[float | None]
    restored: Mapped[bool] = mapped_column(default=False)  # copied from a checkpointed trial

    @classmethod
    def for_trial(cls, session: Session, trial_id: int) -> list[EpochMetric]:
        query = sa.select(cls).where(cls.trial_id == trial_id).order_by(cls.epoch)
        return list(session.scalars(query))


class WorkerRecord(Base):
    """One per worker process that joined a study: liveness, and the slot it holds."""

    __tablename__ = "sweeps_worker"
    __table_args__ = (sa.Index("ix_worker_study_state", "study_id", "state"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int]
    host: Mapped[str] = mapped_column(sa.String(256))
    pid: Mapped[int]
    device: Mapped[str] = mapped_column(sa.String(64))
    state: Mapped[str] = mapped_column(sa.String(16), default=WorkerState.IDLE)
    # Holds a claim on the budget: for its trial from before the ask until the trial is told.
    holds_claim: Mapped[bool] = mapped_column(default=False)
    trial_id: Mapped[int | None]
    trial_number: Mapped[int | None]
    epoch: Mapped[int | None]
    trials_done: Mapped[int] = mapped_column(default=0)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def name(self) -> str:
        return f"{self.host}:{self.pid}"


# What comes after a sweep: evaluations, ensembles and refits of its trials. ---------------


class Evaluation(Base):
    """One trial's predictions scored on one split (``val`` or ``test``) by ``sweeps evaluate``.

    The confusion matrix is a JSON list of rows: row ``i`` counts the images of class ``i`` by
    the class predicted. Evaluating again replaces the row.
    """

    __tablename__ = "sweeps_evaluation"
    __table_args__ = (
        sa.UniqueConstraint("trial_id", "split", name="uq_evaluation_trial_split"),
        sa.CheckConstraint("split IN ('val', 'test')", name="ck_evaluation_split"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(index=True)
    trial_id: Mapped[int]
    split: Mapped[str] = mapped_column(sa.String(8))
    images: Mapped[int]
    accuracy: Mapped[float]
    confusion_json: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ClassMetric(Base):
    """Per-class numbers of one evaluation. ``recall`` is the class's accuracy: the share of its
    images that were classified correctly."""

    __tablename__ = "sweeps_class_metric"

    evaluation_id: Mapped[int] = mapped_column(
        sa.ForeignKey("sweeps_evaluation.id", ondelete="CASCADE"), primary_key=True
    )
    class_index: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    class_name: Mapped[str] = mapped_column(sa.String(256))
    support: Mapped[int]  # images of this class in the split
    correct: Mapped[int]
    precision: Mapped[float]
    recall: Mapped[float]


class Ensemble(Base):
    """The top ``size`` trials of a study by validation accuracy, their logits averaged.

    One per study and size: building it again (after more trials) replaces it. Its members are
    chosen on validation only; its test accuracy is reported, never used to choose.
    """

    __tablename__ = "sweeps_ensemble"
    __table_args__ = (
        sa.UniqueConstraint("study_id", "size", name="uq_ensemble_study_size"),
        sa.CheckConstraint("size > 0", name="ck_ensemble_size_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(index=True)
    size: Mapped[int]
    val_accuracy: Mapped[float]
    test_accuracy: Mapped[float]
    model_path: Mapped[str | None] = mapped_column(sa.Text)  # the exported .keras, if any
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class EnsembleMember(Base):
    """One trial of an ensemble, with its rank by validation accuracy when it was chosen."""

    __tablename__ = "sweeps_ensemble_member"

    ensemble_id: Mapped[int] = mapped_column(
        sa.ForeignKey("sweeps_ensemble.id", ondelete="CASCADE"), primary_key=True
    )
    rank: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)  # 1-based
    trial_id: Mapped[int]
    number: Mapped[int]
    val_accuracy: Mapped[float | None]
    test_accuracy: Mapped[float | None]


class Refit(Base):
    """A trial's configuration retrained on train+val for its best epoch count, scored once on
    test. One per trial: refitting again replaces it."""

    __tablename__ = "sweeps_refit"

    trial_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    study_id: Mapped[int] = mapped_column(index=True)
    number: Mapped[int]
    epochs: Mapped[int]
    train_images: Mapped[int]  # the trial's train and validation images together
    test_accuracy: Mapped[float]
    test_loss: Mapped[float]
    seconds: Mapped[float]
    model_path: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

"""What the dispatcher and its worker processes say to each other, declared once.

Both sides import this module; it imports neither TensorFlow nor the worker package, so the
dispatcher stays light. Events travel through one pipe per worker (pickled; the worker holds
the only writing end, so the dispatcher reads EOF once it exits), exit codes through the
process's exit status. The events are how the dispatcher learns its own workers' progress; it
reads the store only every few seconds, for the trials of workers on other machines, which send
it nothing.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

__all__ = [
    "EpochEnded",
    "Event",
    "TrialEnded",
    "TrialStarted",
    "WorkerExit",
    "WorkerFatal",
    "WorkerMessage",
    "WorkerOptions",
]


class WorkerExit(enum.IntEnum):
    """Exit codes of a worker process; any other code means it was killed or crashed."""

    DONE = 0  # the budget is met, or a graceful stop was asked
    RECYCLE = 3  # asks to be replaced by a fresh process (trial count or memory bound)
    FATAL = 4  # a fault that dooms every trial


@dataclass(frozen=True)
class WorkerOptions:
    """How the dispatcher starts one worker process."""

    study_name: str
    storage_url: str
    slot: int = 0
    slot_count: int = 1  # workers the dispatcher runs beside this one, itself included
    device: str = "cpu"  # "cpu" or "gpu:N"
    threads: int = 0  # 0: TensorFlow's default
    memory_limit_mb: int = 0  # per-process GPU memory cap; 0: memory growth
    artifacts: str = "sweeps-artifacts"
    # Failures before this moment (UTC) do not count towards stopping the sweep: a resumed
    # sweep whose cause was fixed must not stop at once on the failures that stopped it.
    failures_since: datetime | None = None
    # Why the worker trains elsewhere than asked ("gpu:0 not visible to TensorFlow"), set by
    # the worker itself; and the Ray node it runs on ("NODE@IP"), set by its actor.
    device_note: str = ""
    ray_node: str = ""


@dataclass(frozen=True)
class Event:
    """Something a worker tells the dispatcher; ``slot`` says which worker."""

    slot: int


@dataclass(frozen=True)
class TrialStarted(Event):
    number: int
    baseline: bool = False
    retry_of: int | None = None


@dataclass(frozen=True)
class EpochEnded(Event):
    number: int
    epoch: int
    epochs: int
    val_accuracy: float


@dataclass(frozen=True)
class TrialEnded(Event):
    """Sent once the trial's end is in the store (Optuna told, our rows written)."""

    number: int
    status: str  # a storage.TrialStatus value
    val_accuracy: float | None = None
    test_accuracy: float | None = None
    reason: str | None = None
    # The study's finished trials (every worker's, on any machine) as read after this one was
    # told: the progress the dispatcher shows. None: not read.
    finished: int | None = None


@dataclass(frozen=True)
class WorkerFatal(Event):
    reason: str


@dataclass(frozen=True)
class WorkerMessage(Event):
    text: str

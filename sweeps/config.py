"""One dataclass for a whole sweep; it is saved with the study so ``resume`` needs no flags."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from sweeps.errors import ConfigError

__all__ = ["PRUNERS", "SAMPLERS", "SweepConfig"]

SAMPLERS = ("tpe", "random", "gp", "cmaes", "qmc")
PRUNERS = ("none", "median", "hyperband")


@dataclass
class SweepConfig:
    """What to search, on what, for how long, and with what machinery.

    Defaults give a real sweep on the bundled ``digits`` dataset that finishes in about two
    minutes on two CPU cores.
    """

    space: str = "mnist_cnn"
    dataset: str = "digits"
    trials: int = 16  # finished (complete or pruned) trials across all workers and resumes
    epochs: int = 20
    sampler: str = "tpe"
    pruner: str = "median"
    seed: int = 0
    val_fraction: float = 0.1
    patience: int = 5  # early stopping on val accuracy; 0 turns it off
    baseline: bool = True  # the space's notebook recipe is the first trial
    weights: str | None = None  # pretrained weights for spaces that take them
    # Orchestration.
    workers: int = 1
    gpus: list[int] = field(default_factory=list)
    trials_per_gpu: int = 1
    max_trials_per_worker: int = 0  # recycle a worker process after this many trials; 0 = never
    max_worker_memory_mb: int = 0  # recycle when resident memory passes this; 0 = never
    max_retries: int = 2  # retries of a trial that failed or whose worker died
    max_consecutive_failures: int = 5  # this many failures in a row stop the sweep
    artifacts: str | None = None  # checkpoint folder; default: beside the SQLite file
    tensorboard: bool = True  # per-trial TensorBoard logs beside the checkpoints
    # Narrowed ranges, fixed values or dropped choices of the space's parameters, from a sweep
    # file: name -> {"value": v} | {"values": [...]} | {"min": a, "max": b}. The hp adapter
    # applies them to every trial; saved here, so resume needs no file.
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    sweep_file: str | None = None  # the sweep file's path, and its text as it was read
    sweep_file_text: str | None = None

    def validate(self) -> SweepConfig:
        """Check every value; raise ConfigError naming the first bad one and its fix."""
        positive = {
            "trials": self.trials,
            "epochs": self.epochs,
            "workers": self.workers,
            "trials_per_gpu": self.trials_per_gpu,
        }
        for name, value in positive.items():
            if not isinstance(value, int) or value < 1:
                raise ConfigError(
                    f"--{name.replace('_', '-')} must be a positive integer, but got {value!r}."
                )
        non_negative = {
            "patience": self.patience,
            "max_retries": self.max_retries,
            "max_trials_per_worker": self.max_trials_per_worker,
            "max_worker_memory_mb": self.max_worker_memory_mb,
        }
        for name, value in non_negative.items():
            if not isinstance(value, int) or value < 0:
                raise ConfigError(
                    f"--{name.replace('_', '-')} must be 0 or more, but got {value!r}."
                )
        if self.max_consecutive_failures < 1:
            raise ConfigError(
                "--max-consecutive-failures must be at least 1, but got "
                f"{self.max_consecutive_failures!r}."
            )
        if self.sampler not in SAMPLERS:
            raise ConfigError(
                f"--sampler must be one of {', '.join(SAMPLERS)}, but got {self.sampler!r}."
            )
        if self.pruner not in PRUNERS:
            raise ConfigError(
                f"--pruner must be one of {', '.join(PRUNERS)}, but got {self.pruner!r}."
            )
        if not 0.0 < self.val_fraction < 0.5:
            raise ConfigError(
                f"--val-fraction must be between 0 and 0.5, but got {self.val_fraction!r}."
            )
        if any(g < 0 for g in self.gpus):
            raise ConfigError(f"--gpus must list GPU indices (0, 1, ...), but got {self.gpus!r}.")
        return self

    @property
    def slots(self) -> int:
        """How many trials run at once."""
        return len(self.gpus) * self.trials_per_gpu if self.gpus else self.workers

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> SweepConfig:
        data: dict[str, Any] = json.loads(text)
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

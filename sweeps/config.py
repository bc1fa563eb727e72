"""One dataclass for a whole sweep; it is saved with the study so ``resume`` needs no flags."""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from typing import Any

from sweeps.errors import ConfigError
from sweeps.phrasing import option

__all__ = ["PRUNERS", "SAMPLERS", "SweepConfig", "auto_workers", "keep_count"]

SAMPLERS = ("tpe", "random", "gp", "cmaes", "qmc")
PRUNERS = ("none", "median", "hyperband")


# Inclusive bounds of every integer setting. The upper bounds keep values inside what SQLite,
# NumPy seeds and a sane sweep can hold, so a typo fails here instead of deep in a worker.
_INT_RANGES = {
    "trials": (1, 1_000_000),
    "epochs": (1, 100_000),
    "seed": (0, 2**31 - 1),
    "patience": (0, 100_000),
    "workers": (1, 1024),
    "trials_per_gpu": (1, 64),
    "worker_cpus": (1, 1024),
    "max_trials_per_worker": (0, 1_000_000),
    "max_worker_memory_mb": (0, 1_000_000_000),
    "max_retries": (0, 1000),
    "max_consecutive_failures": (1, 1_000_000),
}
_MAX_GPU_INDEX = 1023
_OPTIONAL_INTS = {"workers"}  # None means: choose (see auto_workers)
TRIALS_PER_WORKER = 4  # auto_workers leaves the sampler this many trials per worker, at least


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # macOS and Windows have no affinity masks
        return os.cpu_count() or 1


def auto_workers(trials: int) -> int:
    """CPU workers when none are asked: one per core, as Ray Tune runs one trial per CPU.

    Two one-thread workers on two cores finish small-network trials 1.3-1.5x faster than one
    two-thread worker (tracing a network is single-threaded). At most a quarter of the
    trials, so the sampler still learns from finished trials before it proposes the rest.
    """
    return max(1, min(usable_cores(), trials // TRIALS_PER_WORKER))


def keep_count(policy: str) -> int | None:
    """How many finished trials' checkpoints ``--keep-models`` keeps, best by validation first:
    K for ``top-K``, None for ``all`` (every one), 0 for ``none``.

    Raises:
        ConfigError: the policy is not ``top-K`` with K a positive integer, ``all`` or ``none``.
    """
    if policy == "all":
        return None
    if policy == "none":
        return 0
    prefix, _, count = str(policy).partition("-")
    if prefix == "top" and count.isdigit() and int(count) > 0:
        return int(count)
    raise ConfigError(
        f"{option('--keep-models')} must be top-K (K a positive integer, e.g. top-5), all or none, "
        f"but got {policy!r}."
    )


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
    # None: 0.1, raised for small datasets (sweeps.data.auto_val_fraction); saved resolved.
    val_fraction: float | None = None
    patience: int = 5  # early stopping on val accuracy; 0 turns it off
    baseline: bool = True  # the space's notebook recipe is the first trial
    weights: str | None = None  # pretrained weights for spaces that take them
    # Measure each optimizer family's learning-rate range on this space and dataset before the
    # first trial (sweeps.worker.lr_finder); the result is saved here, family -> [low, high].
    lr_range_test: bool = True
    # Ranges fitted to each trial's budget (search_spaces.tunables.TrainingBudget). Studies saved
    # before they existed load with False, so their trials rebuild with the ranges they had.
    fitted_ranges: bool = True
    learning_rates: dict[str, list[float]] | None = None
    keep_models: str = "top-5"  # checkpoints kept after trials end: top-K, all or none
    # Orchestration.
    workers: int | None = None  # CPU workers; None: auto_workers, resolved when created
    gpus: list[int] = field(default_factory=list)
    trials_per_gpu: int = 1
    worker_cpus: int = 1  # CPUs each Ray actor asks of the cluster (--ray); its TF threads
    max_trials_per_worker: int = 0  # recycle a worker process after this many trials; 0 = never
    max_worker_memory_mb: int = 0  # recycle when resident memory passes this; 0 = never
    max_retries: int = 2  # retries of a trial that failed or whose worker died
    max_consecutive_failures: int = 5  # this many failures in a row stop the sweep
    artifacts: str | None = None  # checkpoint root; default: beside the SQLite file
    study_folder: str | None = None  # this study's own folder under the root (set at creation)
    tensorboard: bool = True  # per-trial TensorBoard logs beside the checkpoints
    # Narrowed ranges, fixed values or dropped choices of the space's parameters, from a sweep
    # file: name -> {"value": v} | {"values": [...]} | {"min": a, "max": b}. The hp adapter
    # applies them to every trial; saved here, so resume needs no file.
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    sweep_file: str | None = None  # the sweep file's path, and its text as it was read
    sweep_file_text: str | None = None

    def validate(self) -> SweepConfig:
        """Check every value; raise ConfigError naming the first bad one and its fix."""
        for name, (low, high) in _INT_RANGES.items():
            value = getattr(self, name)
            if value is None and name in _OPTIONAL_INTS:
                continue
            flag = option(f"--{name.replace('_', '-')}")
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                kind = "a positive integer" if low == 1 else f"an integer of {low} or more"
                raise ConfigError(f"{flag} must be {kind} (at most {high}), but got {value!r}.")
        if self.sampler not in SAMPLERS:
            raise ConfigError(
                f"{option('--sampler')} must be one of {', '.join(SAMPLERS)}, "
                f"but got {self.sampler!r}."
            )
        keep_count(self.keep_models)  # raises on a malformed policy
        if self.pruner not in PRUNERS:
            raise ConfigError(
                f"{option('--pruner')} must be one of {', '.join(PRUNERS)}, "
                f"but got {self.pruner!r}."
            )
        if self.val_fraction is not None and (
            isinstance(self.val_fraction, bool)
            or not isinstance(self.val_fraction, int | float)
            or not 0.0 < self.val_fraction < 0.5
        ):
            raise ConfigError(
                f"{option('--val-fraction')} must be between 0 and 0.5, "
                f"but got {self.val_fraction!r}."
            )
        if not all(isinstance(g, int) and 0 <= g <= _MAX_GPU_INDEX for g in self.gpus):
            raise ConfigError(
                f"{option('--gpus')} must list GPU indices (0, 1, ...), but got {self.gpus!r}."
            )
        return self

    @property
    def slots(self) -> int:
        """How many trials run at once."""
        if self.gpus:
            return len(self.gpus) * self.trials_per_gpu
        return self.workers or auto_workers(self.trials)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> SweepConfig:
        data: dict[str, Any] = json.loads(text)
        known = {f.name for f in dataclasses.fields(cls)}
        data.setdefault("fitted_ranges", False)  # saved before ranges were fitted
        return cls(**{k: v for k, v in data.items() if k in known})

"""A sweep's settings, each declared once; and what its study worked out since, kept apart.

Three records:

- :class:`SweepSpec`: what the user asked for, frozen. Every setting is one field declared
  with :func:`~sweeps.settings.declare`: its type, default and help text, the range or
  choices its value must take, and where a user gives it. From that one declaration come the
  ``sweeps run`` options (:mod:`sweeps.cli.sweep_commands`), the sweep-file keys and their types
  (:mod:`sweeps.sweep_file`) and the keywords :func:`sweeps.run` accepts (:mod:`sweeps.api`).
  **Adding a setting is one field here**, plus the code that uses it; tests/test_settings.py
  checks that the three surfaces offer exactly the declared settings.
- :class:`SweepState`: what the sweep worked out or changed after it was asked (the
  checkpoint root and the study's own folder, the workers and the validation share it chose,
  the learning-rate ranges its workers measured, a budget raised by ``resume``). No user sets
  it; the code that works a value out writes a new state, never the spec.
- :class:`SweepConfig`: what a study runs by, its spec and its state. ``config.X`` reads the
  state's value where the state has one, else the spec's: ``config.trials`` is the budget
  as raised, ``config.val_fraction`` the share chosen.

A study saves its config as one versioned JSON document (:meth:`SweepConfig.to_json`, in the
``sweeps_sweep`` row); :func:`upgrade_saved` reads the forms earlier releases wrote.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import typing
from dataclasses import dataclass, field
from typing import Any

from sweeps.errors import ConfigError, StorageError
from sweeps.phrasing import option
from sweeps.settings import Setting, declare

__all__ = [
    "PLACE_KEYS",
    "PRUNERS",
    "SAMPLERS",
    "SAVED_VERSION",
    "Setting",
    "SweepConfig",
    "SweepSpec",
    "SweepState",
    "auto_workers",
    "declare",
    "declared",
    "declared_setting",
    "gpu_indices",
    "keep_count",
    "upgrade_saved",
]

SAMPLERS = ("tpe", "random", "gp", "cmaes", "qmc")
PRUNERS = ("none", "median", "hyperband")
# Where a sweep is recorded, not what it does: sweeps.run's own arguments and sweep-file keys,
# and options every command shares (sweeps/cli/app.py). They are never saved in the spec.
PLACE_KEYS = ("storage", "study")
_MAX_GPU_INDEX = 1023
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


def keep_count(policy: str, name: str | None = None) -> int | None:
    """How many finished trials' checkpoints ``--keep-models`` keeps, best by validation first:
    K for ``top-K``, None for ``all`` (every one), 0 for ``none``. ``name`` is the setting's
    name in the message (default: the flag, or the keyword from Python).

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
        f"{name or option('--keep-models')} must be top-K (K a positive integer, e.g. top-5), "
        f"all or none, but got {policy!r}."
    )


def gpu_indices(text: str | None) -> list[int]:
    """``--gpus`` as typed (``0,1``): the GPU indices it lists.

    Raises:
        ConfigError: a part is not an integer.
    """
    if not text:
        return []
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ConfigError(
            f"--gpus must be a comma-separated list of GPU indices such as 0,1, but got {text!r}."
        ) from None


def _check_gpus(value: Any, name: str) -> None:
    if not all(isinstance(g, int) and 0 <= g <= _MAX_GPU_INDEX for g in value):
        raise ConfigError(f"{name} must list GPU indices (0, 1, ...), but got {value!r}.")


def _check_keep(value: Any, name: str) -> None:
    keep_count(value, name)


def _listed(words: tuple[str, ...]) -> str:
    return f"{', '.join(words[:-1])} or {words[-1]}"


# The declaration ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepSpec:
    """What a sweep is asked to do: what to search, on what, for how long, with what machinery.

    Frozen: derive another with ``dataclasses.replace``. Defaults give a real sweep on the
    bundled ``digits`` dataset that finishes in about two minutes on two CPU cores.
    """

    space: str = declare(
        "mnist_cnn",
        help="Search space: a name from `sweeps spaces`, pkg.module:attr or path/to/space.py.",
    )
    dataset: str = declare(
        "digits",
        help="Dataset: a name from `sweeps datasets`, cifar10-bin:DIR or folder:DIR.",
    )
    trials: int = declare(
        16,
        help="Finished trials to reach, across all workers and resumes.",
        at_least=1,
        at_most=1_000_000,
    )
    epochs: int = declare(20, help="Maximum epochs per trial.", at_least=1, at_most=100_000)
    sampler: str = declare("tpe", help=f"{_listed(SAMPLERS)}.", choices=SAMPLERS)
    pruner: str = declare("median", help=f"{_listed(PRUNERS)}.", choices=PRUNERS)
    seed: int = declare(
        0, help="Seed of the sampler, splits and initialisation.", at_least=0, at_most=2**31 - 1
    )
    patience: int = declare(
        5,
        help="Early-stopping patience in epochs; 0 turns it off.",
        at_least=0,
        at_most=100_000,
    )
    baseline: bool = declare(True, help="Run the notebook's recipe as the first trial.")
    # None: sweeps chooses (sweeps.data.auto_val_fraction) and records it in the state.
    val_fraction: float | None = declare(
        None,
        help="Share of the training split held out for validation (selection); default 0.1, "
        "raised up to 0.2 for small datasets so it holds about 300 images.",
        between=(0.0, 0.5),
    )
    lr_range_test: bool = declare(
        True,
        help="Measure each optimizer family's learning-rate range on this space and dataset "
        "before the first trial, and search that range.",
    )
    weights: str | None = declare(None, help="Pretrained weights file for spaces that take one.")
    keep_models: str = declare(
        "top-5",
        help="Checkpoints kept once trials end: top-K (the K best by validation), all or none.",
        check=_check_keep,
    )
    # Orchestration. None: one per core (auto_workers), chosen at creation, kept in the state.
    workers: int | None = declare(
        None,
        help="CPU worker processes (ignored with --gpus); default: one per core, at most "
        "a quarter of --trials.",
        at_least=1,
        at_most=1024,
    )
    gpus: list[int] = declare(
        help="GPU indices, e.g. 0,1,2,3.",
        default_factory=list,
        check=_check_gpus,
        from_text=gpu_indices,
        described="a list of GPU indices such as [0, 1]",
    )
    trials_per_gpu: int = declare(1, help="Workers sharing each GPU.", at_least=1, at_most=64)
    worker_cpus: int = declare(
        1,
        help="CPUs each Ray worker asks for and trains with (with --ray).",
        at_least=1,
        at_most=1024,
    )
    max_trials_per_worker: int = declare(
        0,
        help="Recycle a worker process after this many trials; 0 = never.",
        at_least=0,
        at_most=1_000_000,
    )
    max_worker_memory_mb: int = declare(
        0,
        help="Recycle a worker whose resident memory passes this; 0 = never.",
        at_least=0,
        at_most=1_000_000_000,
    )
    max_retries: int = declare(
        2, help="Retries of a failed or lost trial.", at_least=0, at_most=1000
    )
    max_consecutive_failures: int = declare(
        5,
        help="Stop the sweep after this many failures in a row.",
        at_least=1,
        at_most=1_000_000,
    )
    # As given; the root it resolves to (default: beside the SQLite file) is in the state.
    artifacts: str | None = declare(
        None,
        help="Checkpoint folder (default: beside the SQLite file; shared across machines).",
    )
    tensorboard: bool = declare(
        True, help="Write TensorBoard logs of every trial beside its checkpoints."
    )
    # Narrowed ranges, fixed values or dropped choices of the space's parameters:
    # name -> {"value": v} | {"values": [...]} | {"min": a, "max": b}. The hp adapter applies
    # them to every trial; saved with the study, so resume needs no file.
    overrides: dict[str, dict[str, Any]] = declare(
        help="The space's parameters narrowed, fixed or with choices dropped (a sweep file's "
        "parameters).",
        default_factory=dict,
        file="parameters",
        cli=False,
    )
    # The sweep file the sweep was started from (sweeps.run's config=): its path, and its text
    # as saved (sweeps.sweep_file.saved_text).
    sweep_file: str | None = declare(
        None, help="The sweep file's path.", cli=False, file=False, keyword=False
    )
    sweep_file_text: str | None = declare(
        None, help="The sweep file's text.", cli=False, file=False, keyword=False
    )

    def validate(self) -> SweepSpec:
        """Check every value; raise ConfigError naming the first bad one and its fix."""
        for setting in declared():
            setting.check_value(getattr(self, setting.name))
        return self


@functools.cache
def declared() -> tuple[Setting, ...]:
    """Every setting of :class:`SweepSpec`, in declaration order, name, type and default filled
    in (types read with ``typing.get_type_hints``, as real types)."""
    hints = typing.get_type_hints(SweepSpec)
    found = []
    for spec_field in dataclasses.fields(SweepSpec):
        setting: Setting = spec_field.metadata["setting"]
        default = (
            spec_field.default
            if spec_field.default is not dataclasses.MISSING
            else spec_field.default_factory()
        )
        found.append(
            dataclasses.replace(
                setting, name=spec_field.name, hint=hints[spec_field.name], default=default
            )
        )
    return tuple(found)


def declared_setting(name: str) -> Setting:
    """The declared setting ``name``."""
    return next(s for s in declared() if s.name == name)


# What the study worked out, and the two together ---------------------------------------------


@dataclass(frozen=True)
class SweepState:
    """What a study worked out or changed after it was asked; no user sets it.

    A value here, when set, is what the study runs by in place of the spec's (see
    :class:`SweepConfig`).
    """

    artifacts: str | None = None  # the checkpoint root, resolved when the study was made
    # The study's own folder under the root (made with it). None: a study made before study
    # folders, whose folder is its name.
    study_folder: str | None = None
    workers: int | None = None  # the CPU workers chosen (auto_workers); None with --gpus
    val_fraction: float | None = None  # the validation share chosen (auto_val_fraction)
    # Each optimizer family's learning-rate range, measured by the first worker
    # (sweeps.worker.lr_finder): family -> [low, high]. None: not measured (yet); {}: the
    # range test ran and found none.
    learning_rates: dict[str, list[float]] | None = None
    trials: int | None = None  # the budget, once `resume --trials` raised it
    # Trial ranges fitted to each trial's budget (search_spaces.tunables.TrainingBudget).
    # False: a study saved before they existed; its trials keep the ranges they had.
    fitted_ranges: bool = True


_SPEC_FIELDS = frozenset(f.name for f in dataclasses.fields(SweepSpec))
_STATE_FIELDS = frozenset(f.name for f in dataclasses.fields(SweepState))


@dataclass(frozen=True)
class SweepConfig:
    """What a study runs by: what was asked (``spec``) and what was worked out (``state``).

    ``config.X`` reads ``state.X`` where the state has a value, else ``spec.X``: the budget
    as raised, the workers and validation share chosen, the checkpoint root resolved. Change a
    study's state with :meth:`with_state`; the spec stays as asked.
    """

    spec: SweepSpec = field(default_factory=SweepSpec)
    state: SweepState = field(default_factory=SweepState)

    def __getattr__(self, name: str) -> Any:
        # Only fields: a dunder (pickle's, copy's) or a method of the spec is not ours.
        if name in _STATE_FIELDS:
            value = getattr(self.state, name)
            if value is not None or name not in _SPEC_FIELDS:
                return value
        if name in _SPEC_FIELDS:
            return getattr(self.spec, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def with_state(self, **changes: Any) -> SweepConfig:
        """This config with its state's ``changes`` (a budget raised, ranges measured)."""
        return dataclasses.replace(self, state=dataclasses.replace(self.state, **changes))

    @property
    def slots(self) -> int:
        """How many trials run at once."""
        if self.gpus:
            return len(self.gpus) * self.trials_per_gpu
        return self.workers or auto_workers(self.trials)

    def to_json(self) -> str:
        """The saved form, as :func:`upgrade_saved` reads it."""
        saved = {
            "version": SAVED_VERSION,
            "spec": dataclasses.asdict(self.spec),
            "state": dataclasses.asdict(self.state),
        }
        return json.dumps(saved, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> SweepConfig:
        """A saved config of any release (see :func:`upgrade_saved`).

        Raises:
            StorageError: it was saved by a newer sweeps, in a form this one cannot read.
        """
        saved = upgrade_saved(json.loads(text))
        # A key this release does not know (a setting a later release added) is left out.
        spec = {k: v for k, v in saved["spec"].items() if k in _SPEC_FIELDS}
        state = {k: v for k, v in saved["state"].items() if k in _STATE_FIELDS}
        return cls(SweepSpec(**spec), SweepState(**state))


# The saved form and its upgrade ------------------------------------------------------------

SAVED_VERSION = 2


def upgrade_saved(saved: dict[str, Any]) -> dict[str, Any]:
    """A study's saved config, of any release, in the form this one writes.

    The forms:

    1. Every release before the spec and the state were apart: one flat mapping of the old
       ``SweepConfig``'s fields, with no ``"version"`` key. The values it held were those the
       study ran by (the workers and validation share chosen, the checkpoint root, the budget
       as raised), so they become the state's and, for the spec's own fields, the spec's too.
       Releases before fitted trial ranges saved no ``fitted_ranges``: those studies read as
       ``False``, so their trials rebuild with the ranges they had.
    2. ``{"version": 2, "spec": {...}, "state": {...}}``.

    A setting added since needs no upgrade: a saved spec without it reads with its default.
    Bump :data:`SAVED_VERSION` and add a step here only when a saved study must read otherwise.

    Raises:
        StorageError: ``saved`` is of a form newer than this release reads.
    """
    version = saved.get("version", 1)
    if not isinstance(version, int) or version > SAVED_VERSION:
        raise StorageError(
            f"this study's settings were saved by a newer sweeps (form {version!r}; this one "
            f"reads up to {SAVED_VERSION}); upgrade sweeps to open it."
        )
    if version == 1:
        saved = _version_2_from_1(saved)
    return saved


def _version_2_from_1(flat: dict[str, Any]) -> dict[str, Any]:
    resolved = ("artifacts", "study_folder", "workers", "val_fraction", "learning_rates", "trials")
    state = {name: flat[name] for name in resolved if name in flat}
    state["fitted_ranges"] = flat.get("fitted_ranges", False)
    spec = {k: v for k, v in flat.items() if k in _SPEC_FIELDS}
    return {"version": 2, "spec": spec, "state": state}

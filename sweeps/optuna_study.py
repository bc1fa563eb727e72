"""Optuna studies in the store: create one with its config, load one, its sampler and pruner.

Optuna's RDB storage keeps the study in the same database as our tables, so Optuna's own CLI
and optuna-dashboard read the same file.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import optuna
import sqlalchemy.exc
from sqlalchemy.engine import Engine

from storage import mask_url
from storage.optuna_tables import BASELINE_ATTR, BASELINE_RECIPE_ATTR
from storage.queries import find_sweep
from storage.records import create_sweep
from storage.tables import Sweep
from sweeps.config import SweepConfig, declared_setting
from sweeps.errors import ConfigError
from sweeps.optuna_storage import open_optuna_storage
from sweeps.phrasing import either, next_step, option, python_call, setting, sweeps_command
from sweeps.pruners import ChanceLevelPruner, PacedMedianPruner, SparesRisingPruner
from sweeps.store_access import load_sweep, missing_study, open_store
from sweeps.tf_logs import quiet_optuna

__all__ = [
    "StudyHandle",
    "create_study",
    "delete_study",
    "enqueue_retry",
    "open_handle",
    "make_pruner",
    "make_sampler",
    "raise_budget",
    "retries_left",
]

quiet_optuna()  # in the CLI's process and in every worker: sweeps reports what Optuna did

# Trial user attributes (public in Optuna's API and shown by its tools).
RETRY_OF_ATTR = "sweeps:retry_of"
LINEAGE_ATTR = "sweeps:lineage"  # number of the first trial of a retry chain: its checkpoints
RESUME_ATTR = "sweeps:resume"  # True: continue from the lineage's checkpoint
RETRIES_ATTR = "sweeps:retries"
# The objective's name in Optuna's tools: selection is on validation accuracy only.
METRIC_NAME = "val_accuracy"


@dataclass
class StudyHandle:
    """An open sweep: the Optuna study and its storage, our engine, the saved config."""

    study: optuna.Study
    storage: optuna.storages.RDBStorage  # kept: Optuna's study exposes no public accessor
    engine: Engine
    sweep: Sweep
    config: SweepConfig
    url: str

    @property
    def name(self) -> str:
        return self.sweep.study_name

    @property
    def study_id(self) -> int:
        return self.sweep.study_id

    def trial_id(self, number: int) -> int:
        """The storage id of this study's trial ``number`` (our tables key on it)."""
        return self.storage.get_trial_id_from_study_id_trial_number(self.study_id, number)


def make_sampler(
    name: str, seed: int, classes: int | None = None, val_size: int | None = None
) -> optuna.samplers.BaseSampler:
    """The sampler named ``name``; ``classes`` (when known) tells ``tpe`` which trials learned
    anything, ``val_size`` which of them are tied on validation (see IncumbentTPESampler)."""
    if name == "tpe":
        from sweeps.pruners import left_chance_at
        from sweeps.samplers import IncumbentTPESampler

        # constant_liar keeps parallel workers from proposing the same point; every trial is a
        # short move from the best recipe so far, the baseline's at first (IncumbentTPESampler).
        return IncumbentTPESampler(
            seed=seed, multivariate=True, group=True, constant_liar=True, n_startup_trials=5,
            learned=left_chance_at(1.0 / classes) if classes and classes > 1 else 0.0,
            val_size=val_size,
        )  # fmt: skip
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "qmc":
        return optuna.samplers.QMCSampler(seed=seed, warn_independent_sampling=False)
    if name == "cmaes":
        try:
            import cmaes  # noqa: F401
        except ImportError:
            raise ConfigError(
                f"{setting('--sampler', 'cmaes')} needs the cmaes package: pip install cmaes."
            ) from None
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    if name == "gp":
        try:
            import torch  # noqa: F401
        except ImportError:
            raise ConfigError(
                f"{setting('--sampler', 'gp')} needs PyTorch: pip install 'sweeps[gp]' (or pip "
                "install torch)."
            ) from None
        return optuna.samplers.GPSampler(seed=seed)
    raise ConfigError(f"unknown sampler {name!r}.")


def _dataset_sizes(config: SweepConfig) -> tuple[int | None, int | None]:
    """The dataset's class count (the chance-level rule) and the size of the sweep's
    validation split (which trials are tied); None where it cannot be told."""
    from sweeps.data import auto_val_fraction, dataset_info
    from sweeps.data.splits import carved_size
    from sweeps.errors import SweepsError

    try:
        info = dataset_info(config.dataset)
    except SweepsError:
        return None, None
    if not info.train_size:
        return info.num_classes, None
    fraction = config.val_fraction or auto_val_fraction(info.train_size)
    return info.num_classes, carved_size(info.train_size, fraction)


def median_warmup(epochs: int) -> int:
    """Epochs before the median pruner judges a trial: a fifth of the run, at least 2."""
    return max(2, epochs // 5)


def make_pruner(
    name: str, epochs: int, classes: int | None = None, val_size: int | None = None
) -> optuna.pruners.BasePruner:
    """The pruner named ``name``; ``median`` also stops trials stuck at chance level (1 /
    ``classes``) after two epochs, when ``classes`` is known, and with ``val_size`` spares
    trials within noise of the median (see PacedMedianPruner)."""
    if name == "none":
        return optuna.pruners.NopPruner()
    if name == "median":
        # n_min_trials: early-stopped trials report no late epochs, and a median of one trial
        # would prune everything that is not yet as good as the best. The warm-up is a fifth of
        # the run, or longer where the baseline starts slowly: a slow starter (a low rate,
        # batch norm, heavy dropout) is judged once it got going; hopeless trials are cut at
        # epoch 2 by the chance-level rule below.
        chance = 1.0 / classes if classes and classes > 1 else None
        median = PacedMedianPruner(
            n_startup_trials=4, n_warmup_steps=median_warmup(epochs), n_min_trials=3,
            val_size=val_size, chance=chance,
        )  # fmt: skip
        # ... and only once it stopped rising (see SparesRisingPruner).
        rising = SparesRisingPruner(median)
        return ChanceLevelPruner(rising, chance) if chance else rising
    # Hyperband stays unwrapped: TPE recognises it by type to sample per bracket.
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=1, max_resource=epochs, reduction_factor=3
        )
    raise ConfigError(f"unknown pruner {name!r}.")


def create_study(
    config: SweepConfig, storage: str, study_name: str, baseline: dict[str, Any] | None
) -> StudyHandle:
    """Create the schema, the Optuna study and our sweep row, before any worker starts.

    Creating the schema here, once, avoids the crash of several processes creating a fresh
    SQLite schema at the same moment (optuna#820).
    """
    url, engine = open_store(storage)  # our tables, created or upgraded: one process at a time
    # Two runs that create a fresh store at once race on Optuna's tables and its schema stamp
    # (optuna#820): the loser's CREATE TABLE or stamp meets the winner's; a second try finds
    # them all and creates nothing.
    for attempt in range(3):
        try:
            optuna_storage = open_optuna_storage(url)
            break
        except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.IntegrityError):
            if attempt == 2:
                raise
            time.sleep(0.5)
    if find_sweep(engine, study_name) is not None:
        raise _exists(study_name, url)
    # An Optuna study of that name with no sweep row is someone else's, unless another run
    # created it a moment ago and has not written its row yet.
    try:
        optuna_storage.get_study_id_from_name(study_name)
        foreign = True
    except KeyError:
        foreign = False
    classes, val_size = _dataset_sizes(config)  # an image folder's are read from its files: once
    try:
        study = optuna.create_study(
            study_name=study_name,
            storage=optuna_storage,
            direction="maximize",
            sampler=make_sampler(config.sampler, config.seed, classes, val_size),
            pruner=make_pruner(config.pruner, config.epochs, classes, val_size),
        )
    except optuna.exceptions.DuplicatedStudyError:
        foreign = foreign and not _sweep_appears(engine, study_name)
        if not foreign:  # created between our look-up and our create
            follow = next_step(
                sweeps_command("status", study_name, mask_url(url)),
                f"{python_call('sweeps.load_study', study_name, storage=mask_url(url))}.status()",
            )
            raise ConfigError(
                f"study {study_name!r} was just created in {mask_url(url)!r} by another run "
                f"started at the same time; {_another_name()}, or follow that run with "
                f"{follow}."
            ) from None
        raise ConfigError(
            f"an Optuna study named {study_name!r} already exists in {mask_url(url)!r} but was "
            f"not made by sweeps; {_another_name()}."
        ) from None
    study.set_metric_names([METRIC_NAME])  # Optuna's tools label the objective by it
    if baseline is not None:
        study.enqueue_trial(baseline, user_attrs={BASELINE_ATTR: True})
        study.set_user_attr(BASELINE_RECIPE_ATTR, baseline)
    # The config lives in our sweep row only: a copy in Optuna's attributes would go stale.
    study_id = optuna_storage.get_study_id_from_name(study_name)
    create_sweep(engine, study_id, study_name, config.to_json(), config.trials)
    return open_handle(study_name, storage, engine=engine, url=url)


def _another_name() -> str:
    return either("pass another --study", "give another name as study=")


def _exists(study_name: str, url: str) -> ConfigError:
    again = next_step(
        sweeps_command("resume", study_name, mask_url(url)),
        python_call("sweeps.resume", study_name, storage=mask_url(url)),
    )
    return ConfigError(
        f"study {study_name!r} already exists in {mask_url(url)!r}; continue it with {again} "
        f"or {_another_name()}."
    )


def _sweep_appears(engine: Engine, study_name: str, seconds: float = 5.0) -> bool:
    """Whether a sweep row for ``study_name`` exists or appears within ``seconds`` (a run that
    created the Optuna study writes its row right after)."""
    deadline = time.monotonic() + seconds
    while find_sweep(engine, study_name) is None:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def delete_study(handle: StudyHandle) -> None:
    """Remove a study entirely: Optuna's study, our rows and its checkpoint folder."""
    import shutil

    from storage.records import delete_sweep
    from sweeps.artifacts import study_path

    optuna.delete_study(study_name=handle.name, storage=handle.storage)
    delete_sweep(handle.engine, handle.study_id)
    config = handle.config
    if config.artifacts and config.study_folder:
        shutil.rmtree(study_path(config.artifacts, config.study_folder), ignore_errors=True)


def open_handle(
    study_name: str,
    storage: str,
    *,
    engine: Engine | None = None,
    url: str | None = None,
    sampler_seed_offset: int = 0,
) -> StudyHandle:
    """Open an existing sweep; an unknown name raises StorageError listing the known ones."""
    if engine is None or url is None:
        # Look the study up read-only first: a store without it, foreign or missing, is
        # refused before anything (SQLite's journal mode included) is changed.
        load_sweep(study_name, storage)
        url, engine = open_store(storage)
    sweep = find_sweep(engine, study_name)
    if sweep is None:
        raise missing_study(engine, url, study_name)
    config = SweepConfig.from_json(sweep.config_json)
    optuna_storage = open_optuna_storage(url)
    classes, val_size = _dataset_sizes(config)  # an image folder's are read from its files: once
    study = optuna.load_study(
        study_name=study_name,
        storage=optuna_storage,
        sampler=make_sampler(config.sampler, config.seed + sampler_seed_offset, classes, val_size),
        pruner=make_pruner(config.pruner, config.epochs, classes, val_size),
    )
    return StudyHandle(
        study=study, storage=optuna_storage, engine=engine, sweep=sweep, config=config, url=url
    )


def retries_left(user_attrs: dict[str, Any], *, counts_as_retry: bool, max_retries: int) -> bool:
    """Whether a trial with ``user_attrs`` may be retried once more (:func:`enqueue_retry`)."""
    retries = int(user_attrs.get(RETRIES_ATTR, 0)) + (1 if counts_as_retry else 0)
    return retries <= max_retries


def enqueue_retry(
    study: optuna.Study,
    trial: optuna.trial.FrozenTrial,
    *,
    resume: bool,
    counts_as_retry: bool,
    max_retries: int,
    attrs: dict[str, Any] | None = None,
) -> bool:
    """Queue a copy of ``trial`` with the same parameters; False when retries are used up.

    With ``resume`` the copy continues from the checkpoints of the trial's lineage and inherits
    its reported values, so the pruner sees the same history (Optuna's own
    RetryFailedTrialCallback restarts from epoch 0 and cannot find our checkpoints). ``attrs``
    adds bookkeeping of the retry's own (a smaller batch size).
    """
    # Only our bookkeeping carries over; the result attributes belong to the failed trial.
    given = attrs or {}
    attrs = {k: v for k, v in trial.user_attrs.items() if k.startswith("sweeps:")}
    if not retries_left(attrs, counts_as_retry=counts_as_retry, max_retries=max_retries):
        return False
    retries = int(attrs.get(RETRIES_ATTR, 0)) + (1 if counts_as_retry else 0)
    attrs.update(
        {
            RETRY_OF_ATTR: trial.number,
            LINEAGE_ATTR: int(attrs.get(LINEAGE_ATTR, trial.number)),
            RESUME_ATTR: resume,
            RETRIES_ATTR: retries,
            **given,
        }
    )
    study.add_trial(
        optuna.trial.create_trial(
            state=optuna.trial.TrialState.WAITING,
            params=trial.params,
            distributions=trial.distributions,
            user_attrs=attrs,
            intermediate_values=trial.intermediate_values if resume else None,
        )
    )
    return True


def raise_budget(handle: StudyHandle, trials: int) -> StudyHandle:
    """Raise a study's trial budget to ``trials`` finished trials.

    Raises:
        ConfigError: ``trials`` is below the current budget (lowering it would discard what
            was asked; start a new study for a smaller sweep).
    """
    from storage import records

    if trials < handle.config.trials:
        raise ConfigError(
            f"{option('--trials')} can only raise the budget of {handle.name!r} "
            f"({handle.config.trials}), but got {trials!r}; give {handle.config.trials} or more."
        )
    declared_setting("trials").check_value(trials)  # in its range
    handle.config = handle.config.with_state(trials=trials)  # the spec stays as asked
    records.update_config(
        handle.engine, handle.study_id,
        lambda text: SweepConfig.from_json(text).with_state(trials=trials).to_json(),
        budget=trials,
    )  # fmt: skip
    handle.sweep.budget = trials
    return handle

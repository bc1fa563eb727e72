"""Train one trial, top to bottom: build, compile, restore, fit epoch by epoch, evaluate.

Worker-side only: imports TensorFlow. Each epoch is one ``fit`` call so that reporting to the
pruner, early stopping, checkpointing and recording read as a plain loop. Selection uses
validation only: the test split is evaluated once, at the end, for the record.
"""

from __future__ import annotations

import dataclasses
import math
import os
import signal
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import optuna

from search_spaces import InputSpec, SearchSpace, tunables
from storage import TrialStatus
from storage.optuna_tables import BATCH_SIZE_ATTR
from sweeps.config import SweepConfig
from sweeps.data import Augmentation, PipelineOptions, Splits, make_pipelines
from sweeps.data.splits import carved_size
from sweeps.pruners import ChanceLevelPruner
from sweeps.worker import checkpoint
from sweeps.worker.hp_adapter import OptunaHyperParameters

__all__ = [
    "EpochRecord",
    "TrialOutcome",
    "TrialRun",
    "ask_recipe",
    "input_plan",
    "train_trial",
    "training_budget",
    "update_patience",
]


@dataclass
class EpochRecord:
    epoch: int  # 1-based
    loss: float
    accuracy: float
    val_loss: float
    val_accuracy: float
    learning_rate: float
    seconds: float
    images_per_second: float


@dataclass
class TrialRun:
    """Everything one trial needs from its worker."""

    trial: optuna.Trial
    config: SweepConfig
    space: SearchSpace
    splits: Splits
    checkpoint_dir: Path
    resume: bool  # continue from checkpoint_dir's last epoch
    should_stop: Callable[[], bool] = lambda: False
    on_epoch: Callable[[EpochRecord], None] = lambda record: None
    on_start: Callable[[dict[str, Any]], None] = lambda facts: None


@dataclass
class TrialOutcome:
    status: TrialStatus
    val_accuracy: float | None = None
    val_loss: float | None = None
    test_accuracy: float | None = None
    test_loss: float | None = None
    best_epoch: int | None = None
    epochs_run: int = 0
    resumed_from_epoch: int | None = None
    fit_seconds: float = 0.0
    # The median epoch after this run's first (which also traces the step): what an epoch of
    # this recipe costs, for the sampler to prefer the cheaper of recipes tied on val.
    seconds_per_epoch: float | None = None
    failure_reason: str | None = None  # why it ended, for every outcome but complete
    early_stopped: bool = False
    retryable: bool = False  # a failure that may not happen again (see trial_loop.is_transient)
    facts: dict[str, Any] = field(default_factory=dict)


class _BatchGuard(keras.callbacks.Callback):
    """Stops fit at the next batch on a non-finite loss or a stop request."""

    def __init__(self, should_stop: Callable[[], bool]):
        super().__init__()
        self.should_stop = should_stop
        self.bad_loss: float | None = None
        self.stopped = False

    def on_train_batch_end(self, batch, logs=None):
        loss = float((logs or {}).get("loss", 0.0))
        if not math.isfinite(loss):
            self.bad_loss = loss
            self.model.stop_training = True
        elif self.should_stop():
            self.stopped = True
            self.model.stop_training = True


def input_plan(
    space: SearchSpace, splits: Splits, weights: str | None = None
) -> tuple[InputSpec, PipelineOptions, dict[str, Any]]:
    """The model's input and how the pipeline gets the dataset's images there."""
    shape = tuple(int(d) for d in splits.x_train.shape[1:])
    target = space.input_size_for(shape)
    channels = space.channels_for(shape[2])
    model_shape = (*(target or shape[:2]), channels or shape[2])
    facts = {"input_shape": "x".join(map(str, model_shape))}
    if target or channels:
        facts["resized_from"] = "x".join(map(str, shape))
    spec = InputSpec(model_shape, splits.info.num_classes, weights=weights)
    return spec, PipelineOptions(batch_size=1, target_size=target, channels=channels), facts


def training_budget(config: SweepConfig, splits: Splits) -> tunables.TrainingBudget | None:
    """The images and epochs each trial of ``config`` trains on, which bound its ranges (None
    for a study saved before ranges were fitted).

    Counted from the dataset's training pool and the study's validation share, not from
    ``splits``: a refit's merged splits must ask the same questions its trial was asked.
    """
    if not config.fitted_ranges:
        return None
    pool = splits.info.train_size or len(splits.y_train) + len(splits.y_val)
    val = carved_size(pool, config.val_fraction) if config.val_fraction else len(splits.y_val)
    return tunables.TrainingBudget(train_size=pool - val, epochs=config.epochs)


def ask_recipe(
    hp: OptunaHyperParameters, space: SearchSpace, config: SweepConfig, splits: Splits
) -> tunables.TrainingRecipe:
    """The training questions of a trial of ``config``, asked as every trial asks them (the
    trainer, the export and refit rebuild, the preflight): one place, so they never drift."""
    return tunables.ask_training(
        hp,
        space.baseline,
        normalization=space.info.normalization,
        augmentations=space.info.augmentations,
        learning_rates=config.learning_rates,
        budget=training_budget(config, splits),
    )


PATIENCE_MIN_IMAGES = 2  # the validation rise, in images, that restarts early stopping's wait


def update_patience(state: checkpoint.LoopState, val_accuracy: float, min_rise: float) -> None:
    """Count an epoch towards early stopping unless val accuracy rose ``min_rise`` above the
    last rise: on a small split one image back and forth is noise, and kept converged trials
    training to the epoch cap."""
    if val_accuracy >= state.patience_mark + min_rise:
        state.patience_mark, state.wait = val_accuracy, 0
    else:
        state.wait += 1


# Tests kill a worker at an exact instant through this variable: its value is the epoch after
# whose checkpoint (and before whose record in the store) the process kills itself.
CRASH_AFTER_CHECKPOINT_ENV = "SWEEPS_TEST_CRASH_AFTER_CHECKPOINT"


def _fault_point(variable: str, epoch: int) -> None:
    if os.environ.get(variable) == str(epoch):
        os.kill(os.getpid(), signal.SIGKILL)


# Tests signal or kill a worker on an event, not after a guessed duration: with
# PAUSE_AFTER_EPOCH_ENV=N and PAUSE_FILE_ENV=PATH, a trial that has checkpointed and recorded
# epoch N writes "PID TRIAL EPOCH" to PATH and waits until PATH.release exists. Only a release
# ends the wait (a SIGTERM received meanwhile is acted on afterwards, at the next batch), so a
# test can send one Ctrl-C, then another, to a worker that is still inside its trial.
PAUSE_AFTER_EPOCH_ENV = "SWEEPS_TEST_PAUSE_AFTER_EPOCH"
PAUSE_FILE_ENV = "SWEEPS_TEST_PAUSE_FILE"


def _pause_point(trial_number: int, epoch: int) -> None:
    marker = os.environ.get(PAUSE_FILE_ENV)
    if not marker or os.environ.get(PAUSE_AFTER_EPOCH_ENV) != str(epoch):
        return
    release = Path(f"{marker}.release")
    if release.exists():
        return  # released already: later trials run through
    # Written whole, then linked into place: a reader never sees half a line, and the first
    # worker to pause owns the marker (the others wait for the same release).
    written = Path(f"{marker}.{os.getpid()}")
    written.write_text(f"{os.getpid()} {trial_number} {epoch}")
    try:
        os.link(written, marker)
    except FileExistsError:
        pass
    finally:
        written.unlink()
    while not release.exists():
        time.sleep(0.02)


# Tests make a trial run out of memory through this variable: a trial whose batch size is
# above its value raises TensorFlow's ResourceExhaustedError, as a GPU that is too small does.
OOM_ABOVE_BATCH_ENV = "SWEEPS_TEST_OOM_ABOVE_BATCH"


def _simulated_oom(batch_size: int) -> None:
    limit = os.environ.get(OOM_ABOVE_BATCH_ENV)
    if limit and batch_size > int(limit):
        import tensorflow as tf

        raise tf.errors.ResourceExhaustedError(
            None, None, f"OOM when allocating a batch of {batch_size} (test hook)"
        )


def train_trial(run: TrialRun, device: str = "cpu") -> TrialOutcome:
    """Train ``run``'s trial to its outcome. Running out of memory is an outcome (the
    configuration may fit at a smaller batch); any other exception is the trial's failure and
    propagates to the trial loop."""
    import tensorflow as tf

    try:
        return _train(run)
    except tf.errors.ResourceExhaustedError:
        batch_size = _batch_size(run)
        where = "GPU memory" if device.startswith("gpu") else "memory"
        return TrialOutcome(
            status=TrialStatus.OUT_OF_MEMORY,
            failure_reason=f"out of {where} at batch size {batch_size}",
            facts={"batch_size": batch_size},
        )


def _batch_size(run: TrialRun) -> int | None:
    """The batch size the trial trains with: a retry's halved one, else the sampled one."""
    override = run.trial.user_attrs.get(BATCH_SIZE_ATTR)
    return int(override) if override else run.trial.params.get("batch_size")


def _train(run: TrialRun) -> TrialOutcome:
    config, space, trial = run.config, run.space, run.trial
    keras.utils.set_random_seed(config.seed + trial.number)

    # Ask the questions: training recipe first, then the architecture's own.
    hp = OptunaHyperParameters(trial, overrides=config.overrides)
    recipe = ask_recipe(hp, space, config, run.splits)
    if trial.user_attrs.get(BATCH_SIZE_ATTR):
        recipe = dataclasses.replace(recipe, batch_size=int(trial.user_attrs[BATCH_SIZE_ATTR]))
    spec, options, facts = input_plan(run.space, run.splits, config.weights)
    model = space.build(hp, spec)
    facts["param_count"] = int(model.count_params())
    run.on_start(facts)

    # Data: train stream shuffled and augmented; val and test untouched.
    options = PipelineOptions(
        batch_size=recipe.batch_size,
        normalization=recipe.normalization,
        target_size=options.target_size,
        channels=options.channels,
        augmentation=Augmentation(
            flip=recipe.flip, translation=recipe.translation, rotation=recipe.rotation
        ),
        shuffle_seed=config.seed + trial.number,
        drop_remainder=True,
    )
    train_ds, val_ds, test_ds = make_pipelines(run.splits, options)
    n_train = len(run.splits.y_train)
    steps_per_epoch = options.train_steps(n_train)
    tunables.compile_model(model, recipe, steps_per_epoch, config.epochs)
    _simulated_oom(recipe.batch_size)

    # Continue a checkpointed lineage where it stopped: weights, optimizer (and with it the
    # schedule's position), best-so-far and early-stopping patience.
    state = checkpoint.load_state(run.checkpoint_dir) if run.resume else None
    outcome = TrialOutcome(status=TrialStatus.COMPLETE, facts=facts)
    if state is not None and state.last is not None:
        checkpoint.restore(run.checkpoint_dir, model, state)
        outcome.resumed_from_epoch = state.epoch
    else:
        state = checkpoint.LoopState()

    guard = _BatchGuard(run.should_stop)
    min_rise = PATIENCE_MIN_IMAGES / max(1, len(run.splits.y_val)) - 1e-9
    fit_started = time.perf_counter()
    epoch_seconds: list[float] = []
    for epoch in range(state.epoch, config.epochs):
        learning_rate = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
        started = time.perf_counter()
        history = model.fit(
            train_ds,
            epochs=epoch + 1,
            initial_epoch=epoch,
            validation_data=val_ds,
            callbacks=[guard],
            verbose=0,
            shuffle=False,
        )  # the train stream shuffles itself
        seconds = time.perf_counter() - started
        epoch_seconds.append(seconds)
        if guard.bad_loss is not None:
            outcome.status = TrialStatus.DIVERGED
            outcome.failure_reason = f"loss became {guard.bad_loss} in epoch {epoch + 1}"
            break
        if guard.stopped:
            outcome.status = TrialStatus.INTERRUPTED
            break
        logs = {k: float(v[-1]) for k, v in history.history.items()}
        bad = [
            k
            for k in ("loss", "val_loss", "accuracy", "val_accuracy")
            if not math.isfinite(logs[k])
        ]
        if bad:
            outcome.status = TrialStatus.DIVERGED
            outcome.failure_reason = (
                f"{bad[0].replace('_', ' ')} became {logs[bad[0]]} in epoch {epoch + 1}"
            )
            break
        val_accuracy = logs["val_accuracy"]

        improved = val_accuracy > state.best_val_accuracy
        state.epoch = epoch + 1
        if improved:
            state.best_val_accuracy, state.best_epoch = val_accuracy, epoch + 1
        update_patience(state, val_accuracy, min_rise)
        record = EpochRecord(
            epoch=epoch + 1,
            loss=logs["loss"],
            accuracy=logs["accuracy"],
            val_loss=logs["val_loss"],
            val_accuracy=val_accuracy,
            learning_rate=learning_rate,
            seconds=seconds,
            images_per_second=min(n_train, steps_per_epoch * recipe.batch_size) / seconds,
        )
        # The checkpoint carries the curve up to its epoch: a retry restores its rows from
        # there, so a kill between this save and the store's record leaves no hole.
        state.history.append(dataclasses.asdict(record))
        checkpoint.save(run.checkpoint_dir, model, state, improved)
        _fault_point(CRASH_AFTER_CHECKPOINT_ENV, epoch + 1)
        run.on_epoch(record)
        _pause_point(trial.number, epoch + 1)

        trial.report(val_accuracy, epoch + 1)
        if trial.should_prune():
            outcome.status = TrialStatus.PRUNED
            outcome.failure_reason = _pruned_reason(trial, config, state, epoch + 1)
            break
        if config.patience and state.wait >= config.patience:
            # Early stopping: pruned in our words, but its value (the best epoch's) is a full
            # result, which the trial loop tells Optuna as COMPLETE.
            outcome.status, outcome.early_stopped = TrialStatus.PRUNED, True
            outcome.failure_reason = (
                f"early stopping after epoch {epoch + 1}: val accuracy did not rise for "
                f"{config.patience} epochs"
            )
            break
    outcome.fit_seconds = time.perf_counter() - fit_started
    if epoch_seconds:
        outcome.seconds_per_epoch = statistics.median(epoch_seconds[1:] or epoch_seconds)
    outcome.epochs_run = state.epoch
    if outcome.status == TrialStatus.INTERRUPTED:
        return outcome
    if outcome.status == TrialStatus.DIVERGED:
        # A diverged trial keeps the metrics of its last finite epoch (none if it diverged in
        # its first); its weights are not a model worth testing.
        if state.history:
            last = state.history[-1]
            outcome.best_epoch = last["epoch"]
            outcome.val_loss, outcome.val_accuracy = last["val_loss"], last["val_accuracy"]
        return outcome

    # Report the best-validation weights: their val metrics are the best epoch's (the same
    # weights on the same deterministic split), and test is evaluated once, for the record
    # only, never to select.
    if checkpoint.restore_best(run.checkpoint_dir, model, state):
        best = next(e for e in state.history if e["epoch"] == state.best_epoch)
        outcome.best_epoch = state.best_epoch
        outcome.val_loss, outcome.val_accuracy = best["val_loss"], best["val_accuracy"]
        outcome.test_loss, outcome.test_accuracy = model.evaluate(test_ds, verbose=0)
    elif outcome.status == TrialStatus.COMPLETE:
        outcome.status = TrialStatus.FAILED
        outcome.failure_reason = "no epoch finished"
    return outcome


def _pruned_reason(trial: optuna.Trial, config: SweepConfig, state: Any, epoch: int) -> str:
    """Which rule stopped the trial: the chance-level rule or the pruner the user named."""
    pruner = trial.study.pruner
    if isinstance(pruner, ChanceLevelPruner) and state.best_val_accuracy < pruner.threshold:
        return (
            f"pruned after epoch {epoch}: val accuracy still at chance level (best "
            f"{state.best_val_accuracy:.4f}, chance {pruner.chance:.4f})"
        )
    return f"pruned by the {config.pruner} pruner after epoch {epoch}"

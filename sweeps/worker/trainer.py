"""Train one trial, top to bottom: build (:mod:`sweeps.worker.recipe`), restore, fit epoch by
epoch, evaluate.

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

from search_spaces import SearchSpace
from storage import TrialStatus
from storage.optuna_tables import BATCH_SIZE_ATTR
from sweeps.config import SweepConfig
from sweeps.data import Splits
from sweeps.pruners import ChanceLevelPruner, baseline_curve, rising_trend
from sweeps.samplers import tied
from sweeps.trial_questions import settings_for_trial
from sweeps.worker import checkpoint
from sweeps.worker.hp_adapter import OptunaHyperParameters
from sweeps.worker.recipe import build_trial

__all__ = [
    "EpochRecord",
    "TrialOutcome",
    "TrialRun",
    "train_trial",
    "early_stopping_due",
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
    # The notebook's recipe: the reference the pruners and the "beats the baseline" check read,
    # so early stopping leaves it to its full epochs, as the notebook trained it.
    baseline: bool = False
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


PATIENCE_MIN_IMAGES = 2  # the validation rise, in images, that restarts early stopping's wait


def update_patience(state: checkpoint.LoopState, val_accuracy: float, min_rise: float) -> None:
    """Count an epoch towards early stopping unless val accuracy rose ``min_rise`` above the
    last rise: on a small split one image back and forth is noise, and kept converged trials
    training to the epoch cap."""
    if val_accuracy >= state.patience_mark + min_rise:
        state.patience_mark, state.wait = val_accuracy, 0
    else:
        state.wait += 1


def early_stopping_due(
    state: checkpoint.LoopState,
    patience: int | None,
    val_size: int,
    baseline: Callable[[], dict[int, float]] = dict,
) -> bool:
    """Whether early stopping ends the trial now: ``patience`` epochs passed without a clear
    rise (:func:`update_patience`), those epochs do not climb as a trend, and the trial's
    plateau is not one the notebook's own recipe climbed out of.

    - A slow learner on a small split bounces by more than it gains in an epoch, so no single
      epoch rises clearly while its curve climbs: it is spared until the curve flattens (see
      :func:`sweeps.pruners.rising_trend`). The epoch that set the mark is left out of the
      fit: it was picked for being high, and a lucky one would hide the climb after it.
    - ``baseline`` reads the baseline's curve (epoch -> val accuracy); it is called only when
      the first two tests would stop the trial, since it reads the study. A trial whose best
      so far is level with the baseline's best by the same epoch (or above it, or tied within
      noise) is spared where the baseline later rose clearly above that level: on the shapes
      folder, all_cnn recipes sat at 0.4-0.5 for five epochs around epoch 10 and then climbed
      to 0.9-1.0, as the baseline did (0.42 by epoch 12, 0.88 at 20), and early stopping cut
      a near-twin of the baseline at 0.49 after epoch 10. Where the baseline learns at once
      and then only creeps (mnist_cnn on digits), its later epochs are tied with its early
      best, and this spares nothing.
    """
    if not patience or state.wait < patience:
        return False
    recent = [epoch["val_accuracy"] for epoch in state.history[-patience:]]
    if rising_trend(recent, val_size):
        return False
    return not _level_with_a_rising_baseline(state, baseline(), val_size)


def _level_with_a_rising_baseline(
    state: checkpoint.LoopState, baseline: dict[int, float], val_size: int
) -> bool:
    epoch = state.epoch
    before = [v for e, v in baseline.items() if e <= epoch and math.isfinite(v)]
    after = [v for e, v in baseline.items() if e > epoch and math.isfinite(v)]
    if not before or not after:
        return False
    level, later = max(before), max(after)
    best = max(record["val_accuracy"] for record in state.history)
    rose = later > level and not tied(later, level, val_size)
    return rose and (best >= level or tied(level, best, val_size))


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
    return _retry_batch_size(run.trial) or run.trial.params.get("batch_size")


def _retry_batch_size(trial: optuna.Trial) -> int | None:
    """The halved batch size a retry after running out of memory trains with (None: the
    trial's own)."""
    override = trial.user_attrs.get(BATCH_SIZE_ATTR)
    return int(override) if override else None


def _train(run: TrialRun) -> TrialOutcome:
    config, space, trial = run.config, run.space, run.trial
    # Training questions first, then the architecture's own; the train stream shuffled and
    # augmented, val and test untouched (sweeps.worker.recipe).
    settings = settings_for_trial(config, run.splits, trial.number, _retry_batch_size(trial))
    hp = OptunaHyperParameters(trial, overrides=config.overrides)
    built = build_trial(space, hp, run.splits, settings)
    model, recipe, steps_per_epoch = built.model, built.recipe, built.steps_per_epoch
    facts = {**built.network.plan.facts, "param_count": int(model.count_params())}
    run.on_start(facts)
    n_train = len(run.splits.y_train)
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
            built.train,
            epochs=epoch + 1,
            initial_epoch=epoch,
            validation_data=built.val,
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
        # Reported before it is recorded: the value rides in the epoch's transaction (the
        # worker's storage holds it until then: sweeps.held_writes).
        trial.report(val_accuracy, epoch + 1)
        run.on_epoch(record)
        _pause_point(trial.number, epoch + 1)

        if trial.should_prune():
            outcome.status = TrialStatus.PRUNED
            outcome.failure_reason = _pruned_reason(trial, config, state, epoch + 1)
            break
        if not run.baseline and early_stopping_due(
            state, config.patience, len(run.splits.y_val), lambda: baseline_curve(trial.study)[0]
        ):
            # Early stopping: pruned in our words, but its value (the best epoch's) is a full
            # result, which the trial loop tells Optuna as COMPLETE.
            outcome.status, outcome.early_stopped = TrialStatus.PRUNED, True
            outcome.failure_reason = (
                f"early stopping after epoch {epoch + 1}: val accuracy did not rise for "
                f"{config.patience} epochs, nor climb as a trend"
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
        outcome.test_loss, outcome.test_accuracy = model.evaluate(built.test, verbose=0)
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

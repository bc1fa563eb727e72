"""``sweeps refit``: a trial's exact configuration retrained on train+val, scored once on test.

The standard last step of a sweep: validation chose the configuration and its epoch count, so
its images can now train the final model too. The refit runs the trial's recipe (same seed,
parameters, augmentation, input block) for the number of epochs at which the trial was best.
With more images an epoch has more steps; every epoch-based schedule is defined through
``steps_per_epoch`` (:mod:`search_spaces.schedules`), so it keeps its per-epoch rates and is
stretched in steps, and ``cosine`` still anneals over the sweep's epoch budget. The cyclical
schedule is defined in optimizer steps and keeps its step size. Nothing is selected here:
there is no validation split left to look at, and the test split is evaluated once, at the end.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import keras
import numpy as np

from sweeps.data import Splits
from sweeps.errors import ConfigError, TrialFailedError
from sweeps.model_tasks import RefitResult, TrialSpec
from sweeps.worker.export import (
    input_contract,
    raw_image_model,
    save_with_metadata,
    trial_answers,
    trial_splits,
    uncompiled_copy,
    use_gpu_memory_growth,
)
from sweeps.worker.recipe import Trial, build_trial

__all__ = ["Retrained", "merged_splits", "refit_trial", "retrain"]


def merged_splits(splits: Splits) -> Splits:
    """Train and validation together as the training part, no validation part, the same test."""
    return Splits(
        x_train=np.concatenate([splits.x_train, splits.x_val]),
        y_train=np.concatenate([splits.y_train, splits.y_val]),
        x_val=splits.x_val[:0],
        y_val=splits.y_val[:0],
        x_test=splits.x_test,
        y_test=splits.y_test,
        class_names=splits.class_names,
        info=splits.info,
    )


@dataclass
class Retrained:
    """A trial's configuration trained afresh: the trial as its recipe built it, how it went."""

    trial: Trial
    test_loss: float
    test_accuracy: float
    iterations: int  # optimizer steps taken
    seconds: float
    history: dict[str, list[float]]


def retrain(spec: TrialSpec, splits: Splits) -> Retrained:
    """Train ``spec``'s configuration on ``splits``' training part for its best epoch count,
    as its trial trained (same seed, recipe, augmentation, shuffling), then evaluate on test.

    Given the trial's own splits it repeats the trial's training up to its best epoch; given
    :func:`merged_splits` it is the refit.

    Raises:
        ConfigError: the trial has no best epoch (it never finished one).
        TrialFailedError: the loss became NaN or infinite.
    """
    if not spec.best_epoch:
        raise ConfigError(
            f"trial {spec.number} of {spec.study!r} has no best epoch to refit for; "
            "refit a finished trial (`sweeps best` lists them)."
        )
    space, hp, settings = trial_answers(spec, splits)
    trial = build_trial(space, hp, splits, settings)  # as the trial's own: same seed, shuffling
    network = trial.model

    started = time.perf_counter()
    history = network.fit(
        trial.train,
        epochs=spec.best_epoch,
        verbose=0,
        shuffle=False,  # the train stream shuffles itself
        callbacks=[keras.callbacks.TerminateOnNaN()],
    ).history
    seconds = time.perf_counter() - started
    losses = history.get("loss", [])
    if len(losses) < spec.best_epoch or not all(map(math.isfinite, losses)):
        raise TrialFailedError(
            f"the refit of trial {spec.number} diverged: loss became "
            f"{losses[-1] if losses else 'nan'} in epoch {max(len(losses), 1)}"
        )
    test_loss, test_accuracy = network.evaluate(trial.test, verbose=0)
    return Retrained(
        trial=trial,
        test_loss=float(test_loss),
        test_accuracy=float(test_accuracy),
        iterations=int(keras.ops.convert_to_numpy(network.optimizer.iterations)),
        seconds=seconds,
        history={k: [float(v) for v in values] for k, values in history.items()},
    )


def refit_trial(spec: TrialSpec, out: str) -> RefitResult:
    """Retrain ``spec``'s configuration on train+val for its best epoch count, evaluate it
    once on test and save it (raw images in, logits out) to ``out``.

    Runs in a spawned child (:func:`sweeps.spawn.run_in_child`).

    Raises:
        ConfigError: the trial has no best epoch (it never finished one).
        TrialFailedError: the loss became NaN or infinite.
    """
    use_gpu_memory_growth()
    splits = merged_splits(trial_splits(spec))
    done = retrain(spec, splits)
    block = done.trial.network.block  # the one its pipelines ran (train_stats: of train+val)
    network = uncompiled_copy(spec, splits, done.trial.model)  # no optimizer in the file
    model = raw_image_model(network, block, splits.x_train.shape[1:], f"refit_{spec.number}")
    metadata = {
        **spec.metadata(list(splits.class_names)),
        "refit": {
            "trained_on": "train+val",
            "images": len(splits.y_train),
            "epochs": spec.best_epoch,
            "test_accuracy": done.test_accuracy,
        },
    }
    return RefitResult(
        epochs=int(spec.best_epoch or 0),
        train_images=len(splits.y_train),
        iterations=done.iterations,
        test_accuracy=done.test_accuracy,
        test_loss=done.test_loss,
        seconds=done.seconds,
        export=save_with_metadata(model, out, metadata, input_contract(block.steps(), splits)),
        history=done.history,
    )

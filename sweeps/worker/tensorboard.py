"""TensorBoard logs of one trial: per-epoch scalars, then an HParams summary of its parameters.

Each trial writes into its own folder (``ARTIFACTS/STUDY/tensorboard/trial-NNNNN``), so
``tensorboard --logdir ARTIFACTS/STUDY/tensorboard`` shows one run per trial, and the HParams
dashboard lists every finished trial with its parameters and its result (table and parallel
coordinates). A retry that continues from a checkpoint writes into the same folder and goes on
from the next epoch. Test metrics are logged for the record only, as everywhere in sweeps.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import tensorflow as tf
from tensorboard.plugins.hparams import api as hparams_api

from sweeps.worker.trainer import EpochRecord, TrialOutcome

__all__ = ["BEST_VAL_SCALARS", "EPOCH_SCALARS", "TrialBoard"]

EPOCH_SCALARS = ("loss", "accuracy", "val_loss", "val_accuracy", "learning_rate")
# The trial's result as `sweeps best` shows it: the figures of its best-validation weights,
# logged once, at the best epoch (tag: the outcome's field). The HParams dashboard lists a
# session's metrics sorted by tag and ticks the first five, and its table shows the first
# metric columns only after five parameters, so these tags sort first, best val accuracy and
# its test accuracy leading; the last epoch's figures (epoch/*) follow. An experiment config
# (hp.hparams_config) would order the metrics by hand, but it also fixes the parameter columns
# for every trial, and a trial cannot know the conditional parameters of the others.
BEST_VAL_SCALARS = {
    "best_val/accuracy": "val_accuracy",
    "best_val/test_accuracy": "test_accuracy",
    "best_val/test_loss": "test_loss",
    "best_val/val_loss": "val_loss",
}


class TrialBoard:
    """One trial's event file. ``seconds`` is the time spent writing it (its whole cost)."""

    def __init__(self, folder: Path, trial_name: str):
        started = time.perf_counter()
        self.trial_name = trial_name
        folder.mkdir(parents=True, exist_ok=True)
        self.writer = tf.summary.create_file_writer(str(folder))
        self.seconds = time.perf_counter() - started

    def epoch(self, record: EpochRecord) -> None:
        """The epoch's training and validation figures, at step = epoch (1-based)."""
        started = time.perf_counter()
        with self.writer.as_default():
            for name in EPOCH_SCALARS:
                tf.summary.scalar(f"epoch/{name}", getattr(record, name), step=record.epoch)
        self.seconds += time.perf_counter() - started

    def close(self, params: dict[str, Any], outcome: TrialOutcome) -> None:
        """The HParams summary (the trial's parameters and result), then close the file.

        Written only for a trial that finished (complete or pruned): a failed or interrupted
        one has no final metrics, and its retry writes the summary when it finishes.
        """
        started = time.perf_counter()
        results = {tag: getattr(outcome, field) for tag, field in BEST_VAL_SCALARS.items()}
        if all(value is not None for value in results.values()):
            step = outcome.best_epoch or outcome.epochs_run
            with self.writer.as_default():
                hparams_api.hparams(_loggable(params), trial_id=self.trial_name)
                for tag, value in results.items():
                    tf.summary.scalar(tag, value, step=step)
        self.writer.close()
        self.seconds += time.perf_counter() - started


def _loggable(params: dict[str, Any]) -> dict[str, bool | int | float | str]:
    """HParams takes bool, int, float and str values; anything else is logged as its text."""
    return {
        name: value if isinstance(value, bool | int | float | str) else str(value)
        for name, value in params.items()
    }

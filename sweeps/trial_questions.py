"""A trial's questions, asked the same way wherever they are asked, and the settings they take.

Every place that asks a space's questions goes through :func:`ask_trial_questions`: the
trial's recipe (:mod:`sweeps.worker.recipe`, for the trainer, the range test, export, refit,
the preflight and the KerasTuner adapter), and :mod:`sweeps.worker.questions`, which reads
them for the catalog (``sweeps spaces NAME``) and the sweep-file check. The sampler's seeded
draws follow the order and the ranges of the questions, so one set of arguments keeps every
rebuild on its trial.

TensorFlow-free: it says what is asked and with which settings; the asking itself (Keras,
KerasTuner) happens on the worker side, in a worker or a spawned child.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from search_spaces import SearchSpace, tunables
from sweeps.config import SweepConfig
from sweeps.data.base import Splits
from sweeps.data.splits import carved_size

__all__ = [
    "RateRamp",
    "TrialSettings",
    "ask_trial_questions",
    "settings_for_trial",
    "training_budget",
]


@dataclass(frozen=True)
class RateRamp:
    """The range test's learning rate: ``start``, times ``growth`` every optimizer step, in
    place of the recipe's own rate and schedule."""

    start: float
    growth: float


@dataclass(frozen=True)
class TrialSettings:
    """What a trial takes from its sweep, besides the space, its answers and the splits."""

    epochs: int  # the sweep's cap: ranges fit it, and cosine anneals over it
    seed: int = 0  # this trial's own: initial weights, shuffling, augmentation
    # The range test's measured [low, high] per optimizer family, in place of the generic ones.
    learning_rates: dict[str, list[float]] | None = None
    budget: tunables.TrainingBudget | None = None  # None: the generic ranges
    weights: str | None = None  # a pretrained base's weights (see InputSpec.weights)
    batch_size: int | None = None  # a retry's halved batch size, in place of the answer
    augment: bool = True  # False: the range test measures the loss on the plain images
    rate_ramp: RateRamp | None = None  # the range test's rate, in place of the schedule


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


def settings_for_trial(
    config: SweepConfig, splits: Splits, number: int, batch_size: int | None = None
) -> TrialSettings:
    """The settings of trial ``number`` of a sweep of ``config`` (its retry's ``batch_size``
    when the first try ran out of memory)."""
    return TrialSettings(
        epochs=config.epochs,
        seed=config.seed + number,
        learning_rates=config.learning_rates,
        budget=training_budget(config, splits),
        weights=config.weights,
        batch_size=batch_size,
    )


def ask_trial_questions(
    hp: Any, space: SearchSpace, settings: TrialSettings | None = None
) -> tunables.TrainingRecipe:
    """Ask ``hp`` the training questions as a trial under ``settings`` asks them (without
    settings: the generic ranges, as the space declares them). The space's own questions
    follow, in its ``build``."""
    return tunables.ask_training(
        hp,
        space.baseline,
        normalization=space.info.normalization,
        augmentations=space.info.augmentations,
        learning_rates=settings.learning_rates if settings else None,
        budget=settings.budget if settings else None,
    )

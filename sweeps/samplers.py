"""TPE whose random start explores around the notebook's recipe instead of anywhere."""

from __future__ import annotations

import random
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution
from optuna.trial import FrozenTrial, TrialState

from storage.optuna_tables import BASELINE_ATTR

__all__ = ["RecipeStartTPESampler"]

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


class RecipeStartTPESampler(optuna.samplers.TPESampler):
    """TPE, but its first ``n_startup_trials`` trials are neighbours of the baseline.

    TPE starts from purely random trials until enough have finished to model. On a deep
    network most random corners of the space (no batch norm with a large rate, the top of a
    family's range with a rising schedule) never leave chance, and a 16-trial sweep spends a
    quarter of its budget there. The baseline, the notebook's own recipe, is a strong prior:
    here each question of a start trial keeps the baseline's answer with probability ``keep``
    and is drawn at random otherwise, so the start explores along a few axes at a time from a
    recipe known to train. A baseline answer outside the question's range in this trial (its
    learning rate after the optimizer changed family) is drawn at random. The baseline's
    answers are read from the study (the trial marked ``sweeps:baseline``): any space gets it,
    and a sweep without a baseline is plain TPE. Draws are seeded by (seed, trial, question),
    so they do not depend on which worker asks.
    """

    def __init__(self, *, seed: int, n_startup_trials: int, keep: float = 0.5, **tpe: Any):
        super().__init__(seed=seed, n_startup_trials=n_startup_trials, **tpe)
        self.start_trials, self.keep, self.seed = n_startup_trials, keep, seed

    def sample_independent(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        finished = study.get_trials(deepcopy=False, states=FINISHED)
        if len(finished) < self.start_trials:
            draw = random.Random(f"{self.seed}:{trial.number}:{param_name}")
            answer = baseline_answer(study, param_name)
            if answer is not None and fits(answer, param_distribution):
                if draw.random() < self.keep:
                    return answer
        return super().sample_independent(study, trial, param_name, param_distribution)


def baseline_answer(study: optuna.Study, name: str) -> Any:
    """The baseline trial's answer to question ``name``; None while it has none (it asks its
    questions as it starts, and it is the study's first trial)."""
    for trial in study.get_trials(deepcopy=False):
        if trial.user_attrs.get(BASELINE_ATTR) and name in trial.params:
            return trial.params[name]
    return None


def fits(value: Any, distribution: BaseDistribution) -> bool:
    """Whether ``value`` is one of the answers ``distribution`` allows."""
    if isinstance(distribution, CategoricalDistribution):
        return value in distribution.choices
    low, high = getattr(distribution, "low", None), getattr(distribution, "high", None)
    if low is None or isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return low <= value <= high

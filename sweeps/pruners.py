"""Pruning rules of our own, on top of Optuna's pruners."""

from __future__ import annotations

import optuna
from optuna.trial import FrozenTrial

__all__ = ["ChanceLevelPruner"]


class ChanceLevelPruner(optuna.pruners.BasePruner):
    """Prune a trial whose best validation accuracy is still at chance after a few epochs.

    A learning rate far too low for the steps a trial gets, or one that diverged, leaves a
    trial at chance level (1 / classes) from its first epoch on, and a median of other trials
    only notices once enough of them reported. This rule needs no other trial: after
    ``after_epochs`` epochs, a best value that has not gone ``margin`` of the way from chance
    to perfect (0.19 for ten classes, 0.55 for two) stops the trial. Otherwise ``base``
    decides.
    """

    def __init__(
        self,
        base: optuna.pruners.BasePruner,
        chance: float,
        *,
        after_epochs: int = 2,
        margin: float = 0.1,
    ):
        if not 0.0 < chance < 1.0:
            raise ValueError(f"chance must be between 0 and 1, but got {chance=}.")
        self.base, self.chance = base, chance
        self.after_epochs, self.margin = after_epochs, margin

    @property
    def threshold(self) -> float:
        return self.chance + self.margin * (1.0 - self.chance)

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        values = trial.intermediate_values
        if values and max(values) >= self.after_epochs and max(values.values()) < self.threshold:
            return True
        return self.base.prune(study, trial)

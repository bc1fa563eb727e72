"""A space as a ``keras_tuner.HyperModel`` that trains as a sweep's trial trains, so KerasTuner's
own tuners search the same recipe: the same questions, network, compile and streams
(:func:`sweeps.worker.recipe.build_trial`). ``benchmarks/bench_search.py`` compares them.
"""

from __future__ import annotations

from typing import Any

import keras
import keras_tuner as kt

from search_spaces import SearchSpace
from sweeps.data import Splits
from sweeps.trial_questions import TrialSettings
from sweeps.worker.recipe import Trial, build_trial

__all__ = ["TrialHyperModel"]


class TrialHyperModel(kt.HyperModel):
    """Builds each KerasTuner trial with the trial recipe on ``splits`` under ``settings``, and
    fits it on its own train stream, validated on val."""

    def __init__(self, space: SearchSpace, splits: Splits, settings: TrialSettings):
        super().__init__(name=space.name)
        self.space, self.splits, self.settings = space, splits, settings
        self._last: Trial | None = None

    def build(self, hp: Any) -> keras.Model:
        self._last = build_trial(self.space, hp, self.splits, self.settings)
        return self._last.model

    def trial_of(self, model: keras.Model) -> Trial:
        """The trial whose model is ``model``: the one built last (KerasTuner fits, or loads
        weights into, each model right after building it)."""
        if self._last is None or self._last.model is not model:
            raise ValueError("this model was not the last one built by this hypermodel")
        return self._last

    def fit(self, hp: Any, model: keras.Model, *args: Any, **kwargs: Any) -> Any:
        """Fit on the trial's own streams (KerasTuner passes epochs and callbacks; the data are
        the trial's, so none may be given)."""
        if args or {"x", "y", "validation_data"} & set(kwargs):
            raise ValueError("a TrialHyperModel trains on its trial's own streams: pass no data")
        trial = self.trial_of(model)
        kwargs.setdefault("verbose", 0)
        return model.fit(trial.train, validation_data=trial.val, shuffle=False, **kwargs)

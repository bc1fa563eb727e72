"""A space as a ``keras_tuner.HyperModel``, so KerasTuner's own tuners can search it too."""

from __future__ import annotations

from typing import Any

from search_spaces import tunables
from search_spaces.base import InputSpec, SearchSpace

__all__ = ["as_hypermodel"]


def as_hypermodel(space: SearchSpace, spec: InputSpec, *, epochs: int, steps_per_epoch: int) -> Any:
    """Build and compile ``space`` with the shared training tunables for KerasTuner."""
    import keras_tuner as kt

    class SpaceHyperModel(kt.HyperModel):
        def build(self, hp: Any) -> Any:
            recipe = tunables.ask_training(
                hp,
                space.baseline,
                normalization=space.info.normalization,
                augmentations=space.info.augmentations,
            )
            model = space.build(hp, spec)
            return tunables.compile_model(model, recipe, steps_per_epoch, epochs)

    return SpaceHyperModel(name=space.name)

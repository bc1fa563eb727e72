"""The search-space contract: what a space module defines, and the loaded form of one.

A space module defines ``INFO`` (a :class:`SpaceInfo`), ``BASELINE`` (its notebook's recipe as
complete hyperparameter values) and ``build(hp, spec) -> keras.Model``. ``build`` asks every
question through ``hp`` so the module runs under our Optuna adapter and under KerasTuner.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["InputSpec", "SearchSpace", "SpaceInfo"]


@dataclass(frozen=True)
class InputSpec:
    """What the data pipeline feeds the model: image shape (H, W, C) and class count.

    ``weights`` is for spaces built on a pretrained network: None initialises at random,
    ``"imagenet"`` takes Keras' cached ImageNet weights, anything else is a weights file's path.
    Spaces without a pretrained part ignore it.
    """

    shape: tuple[int, int, int]
    num_classes: int
    weights: str | None = None


@dataclass(frozen=True)
class SpaceInfo:
    """Metadata of a space: where it came from and which inputs it fits."""

    name: str
    notebook: str  # seed notebook id, e.g. "002"
    title: str
    published: str  # the notebook's published result, shown beside the baseline
    min_input: tuple[int, int] = (8, 8)  # smallest (H, W) build() accepts; smaller is resized
    channels: tuple[int, ...] = (1, 3)  # channel counts accepted; others are converted
    fits: tuple[str, ...] = ()  # datasets the notebook trained it on
    normalization: str = "unit"  # the notebook's input normalisation
    augmentations: tuple[str, ...] = ()  # which of flip/translation/rotation are tunable


@dataclass(frozen=True)
class SearchSpace:
    """A loaded, validated space module."""

    info: SpaceInfo
    baseline: dict[str, Any]
    build: Callable[..., Any]
    module: types.ModuleType
    reference: str  # how the user named it (a registry name, dotted path or file path)

    @property
    def name(self) -> str:
        return self.info.name

    def input_size_for(self, shape: tuple[int, int, int]) -> tuple[int, int] | None:
        """The (H, W) to resize ``shape`` to, or None when the images fit as they are."""
        height, width = shape[0], shape[1]
        min_h, min_w = self.info.min_input
        if height >= min_h and width >= min_w:
            return None
        scale = max(min_h / height, min_w / width)
        return (max(min_h, round(height * scale)), max(min_w, round(width * scale)))

    def channels_for(self, channels: int) -> int | None:
        """The channel count to convert to, or None when ``channels`` is accepted."""
        if channels in self.info.channels:
            return None
        return max(self.info.channels)

"""tf.data input pipelines: the input block, batch, shuffle and augment (train only), prefetch.

The deterministic work is the model's own input block (:class:`search_spaces.preprocessing.
InputBlock`: cast, resize, normalise, convert channels), the one an exported model carries in
front of its network; it runs once per image, on batches, and is cached. The random work (the
shuffle and the augmentation) comes after ``.cache()`` so it is redrawn every epoch.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from search_spaces.preprocessing import NORMALIZATIONS, InputBlock
from sweeps.data.base import Splits
from sweeps.errors import DatasetError

if TYPE_CHECKING:  # tensorflow is imported lazily, in make_pipelines only
    import tensorflow as tf

__all__ = ["Augmentation", "PipelineOptions", "input_block", "make_pipelines"]

PREPARE_BATCH = 256  # images the input block takes at once, before the cache


@dataclass(frozen=True)
class _Prepared:
    """A split's images through the input block (and cached), as one trial built them."""

    images: np.ndarray  # the split it was made from: held, since an id() is reused once freed
    train_images: np.ndarray  # whose statistics the block used
    block: tuple  # what decides the block's output: normalization, size, channels, cache
    dataset: tf.data.Dataset


# The last prepared stream of each split this process built. A worker's successive trials
# share their splits and most share their input block: they then share its traced map and its
# filled cache instead of tracing and filling them again (on digits a third of the time a
# trial spends outside fit). One per split, so it holds no more than one trial's caches did.
_PREPARED: dict[str, _Prepared] = {}


@dataclass(frozen=True)
class Augmentation:
    """Random training-time transforms, as the Keras preprocessing layers of the same name."""

    flip: bool = False  # horizontal flip
    translation: float = 0.0  # fraction of height/width (RandomTranslation)
    rotation: float = 0.0  # fraction of a full turn (RandomRotation)

    def __post_init__(self) -> None:
        if not 0.0 <= self.translation < 1.0:
            raise DatasetError(
                f"augmentation translation {self.translation!r} is out of range: use a fraction "
                "of the image size in [0, 1), e.g. 0.1"
            )
        if not 0.0 <= self.rotation <= 0.5:
            raise DatasetError(
                f"augmentation rotation {self.rotation!r} is out of range: use a fraction of a "
                "full turn in [0, 0.5], e.g. 0.05 for +-18 degrees"
            )

    @property
    def active(self) -> bool:
        return bool(self.flip) or self.translation > 0.0 or self.rotation > 0.0


def _is_int(value: object) -> bool:
    # numpy integers count (values from a search space often are); bools do not.
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


@dataclass(frozen=True)
class PipelineOptions:
    """How ``make_pipelines`` turns uint8 splits into batches; validated on construction."""

    batch_size: int
    normalization: str = "unit"
    target_size: tuple[int, int] | None = None  # resize every split to (H, W)
    channels: int | None = None  # 3: grayscale -> RGB (keras.applications); None keeps them
    augmentation: Augmentation = field(default_factory=Augmentation)
    shuffle_seed: int = 0
    cache: bool = True  # the cache holds float32 images after resizing: mind big target sizes
    # Train batches all full (the shuffled remainder waits for the next epoch): one traced
    # train step per trial instead of two. Kept when the split is smaller than one batch.
    drop_remainder: bool = False

    def train_steps(self, train_size: int) -> int:
        """Batches in one epoch of a ``train_size``-image training stream."""
        if self.drop_remainder and train_size >= self.batch_size:
            return train_size // self.batch_size
        return math.ceil(train_size / self.batch_size)

    def __post_init__(self) -> None:
        if not _is_int(self.batch_size):
            raise DatasetError(f"batch_size {self.batch_size!r} is not an integer: use e.g. 64")
        if self.batch_size < 1:
            raise DatasetError(f"batch_size {self.batch_size} is not positive: use e.g. 64")
        if self.normalization not in NORMALIZATIONS:
            raise DatasetError(
                f"unknown normalization {self.normalization!r}: use one of "
                f"{', '.join(NORMALIZATIONS)}"
            )
        size = self.target_size
        if size is not None and (
            not isinstance(size, (tuple, list))
            or len(size) != 2
            or not all(_is_int(s) and s > 0 for s in size)
        ):
            raise DatasetError(
                f"target_size {self.target_size!r} is not a (height, width) pair of positive "
                "integers: use e.g. (32, 32)"
            )
        if self.channels not in (None, 1, 3):
            raise DatasetError(
                f"channels {self.channels!r} is not supported: use 1, 3 or None (keep them)"
            )


def input_block(options: PipelineOptions, x_train: np.ndarray) -> InputBlock:
    """The input block of ``options`` for images like ``x_train``, the training part (whose
    statistics ``train_stats`` uses)."""
    try:
        return InputBlock.for_images(
            x_train, options.normalization, options.target_size, options.channels
        )
    except ValueError as exc:
        raise DatasetError(str(exc)) from None


def _augmenter(aug: Augmentation, seed: int) -> Callable[[tf.Tensor, tf.Tensor], tuple]:
    import keras

    layers = []
    if aug.flip:
        layers.append(keras.layers.RandomFlip("horizontal", seed=seed))
    if aug.translation:
        layers.append(keras.layers.RandomTranslation(aug.translation, aug.translation, seed=seed))
    if aug.rotation:
        layers.append(keras.layers.RandomRotation(aug.rotation, seed=seed))

    def augment(x, y):
        for layer in layers:
            x = layer(x, training=True)
        return x, y

    return augment


def make_pipelines(
    splits: Splits, options: PipelineOptions
) -> tuple[tf.data.Dataset, tf.data.Dataset, tf.data.Dataset]:
    """``(train, val, test)`` datasets of ``(float32 images (B, H, W, C), int64 labels (B,))``.

    Only ``train`` is shuffled (afresh each epoch, seeded by ``shuffle_seed``) and augmented;
    ``val`` and ``test`` are deterministic, so every trial is scored on the same images.
    """
    import tensorflow as tf

    autotune = tf.data.AUTOTUNE
    block_key = (options.normalization, options.target_size, options.channels, options.cache)
    blocks: list[InputBlock] = []  # made when a split is prepared anew, once

    def prepare(x, y):
        return blocks[0](x), y

    def prepared(role: str, x: np.ndarray, y: np.ndarray) -> tf.data.Dataset:
        last = _PREPARED.get(role)
        if (
            last is not None
            and last.images is x
            and last.train_images is splits.x_train
            and last.block == block_key
        ):
            return last.dataset
        if not blocks:
            blocks.append(input_block(options, splits.x_train))
        ds = tf.data.Dataset.from_tensor_slices((x, y))
        # Vectorised: the block runs on batches, as it does inside a model. Unbatching loses
        # the count of images, which fit needs to end an epoch without running dry.
        ds = ds.batch(PREPARE_BATCH).map(prepare, num_parallel_calls=autotune).unbatch()
        ds = ds.apply(tf.data.experimental.assert_cardinality(len(x)))
        if options.cache:
            ds = ds.cache()
        _PREPARED[role] = _Prepared(x, splits.x_train, block_key, ds)
        return ds

    def stream(role: str, x: np.ndarray, y: np.ndarray, *, train: bool) -> tf.data.Dataset:
        ds = prepared(role, x, y)
        if train:
            ds = ds.shuffle(len(x), seed=options.shuffle_seed, reshuffle_each_iteration=True)
        drop = train and options.drop_remainder and len(x) >= options.batch_size
        ds = ds.batch(options.batch_size, drop_remainder=drop)
        if train and options.augmentation.active:
            augment = _augmenter(options.augmentation, options.shuffle_seed)
            ds = ds.map(augment, num_parallel_calls=autotune)
        return ds.prefetch(autotune)

    return (
        stream("train", splits.x_train, splits.y_train, train=True),
        stream("val", splits.x_val, splits.y_val, train=False),
        stream("test", splits.x_test, splits.y_test, train=False),
    )

"""tf.data input pipelines: normalise, resize, batch, shuffle and augment (train only), prefetch.

Per element the deterministic work runs once and is cached; the random work (the shuffle and
the augmentation) comes after ``.cache()`` so it is redrawn every epoch. The order is
cast -> resize -> normalise -> channel conversion, so ``per_image`` standardises the image the
model sees, and ``train_stats`` uses the channels the training arrays have.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from sweeps.data.base import NORMALIZATIONS, Splits
from sweeps.errors import DatasetError

if TYPE_CHECKING:  # tensorflow is imported lazily, in make_pipelines only
    import tensorflow as tf

__all__ = ["Augmentation", "PipelineOptions", "make_pipelines"]


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


def train_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std of uint8 images, in chunks (no float64 copy of the whole set)."""
    total = np.zeros(x.shape[-1])
    squares = np.zeros(x.shape[-1])
    for start in range(0, len(x), 4096):
        chunk = x[start : start + 4096].reshape(-1, x.shape[-1]).astype(np.float64)
        total += chunk.sum(axis=0)
        squares += np.square(chunk).sum(axis=0)
    count = max(x.size // x.shape[-1], 1)
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean**2, 0.0))
    std[std == 0.0] = 1.0  # a constant channel carries no signal; do not divide by zero
    return mean.astype(np.float32), std.astype(np.float32)


def _normalizer(mode: str, x_train: np.ndarray) -> Callable[[tf.Tensor], tf.Tensor]:
    import tensorflow as tf

    if mode == "unit":
        return lambda x: x / 255.0
    if mode == "centered":
        return lambda x: x / 255.0 - 0.5
    if mode == "per_image":
        return tf.image.per_image_standardization
    mean, std = train_stats(x_train)  # from the training part only: val/test must not leak in
    return lambda x: (x - mean) / std


def _channel_converter(have: int, want: int | None) -> Callable[[tf.Tensor], tf.Tensor]:
    import tensorflow as tf

    if want is None or want == have:
        return lambda x: x
    if have == 4:  # RGBA from an image folder: the alpha plane is not part of the image
        rgb = _channel_converter(3, want)
        return lambda x: rgb(x[..., :3])
    if (have, want) == (1, 3):
        return tf.image.grayscale_to_rgb
    if (have, want) == (3, 1):
        return tf.image.rgb_to_grayscale
    raise DatasetError(
        f"cannot convert {have}-channel images to {want} channels: use channels=None"
    )


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
    normalize = _normalizer(options.normalization, splits.x_train)
    convert = _channel_converter(splits.x_train.shape[-1], options.channels)
    size = tuple(int(s) for s in options.target_size) if options.target_size else None

    def prepare(x, y):
        x = tf.cast(x, tf.float32)
        if size is not None:
            x = tf.image.resize(x, size)
        return convert(normalize(x)), y

    def stream(x: np.ndarray, y: np.ndarray, *, train: bool) -> tf.data.Dataset:
        ds = tf.data.Dataset.from_tensor_slices((x, y)).map(prepare, num_parallel_calls=autotune)
        if options.cache:
            ds = ds.cache()
        if train:
            ds = ds.shuffle(len(x), seed=options.shuffle_seed, reshuffle_each_iteration=True)
        drop = train and options.drop_remainder and len(x) >= options.batch_size
        ds = ds.batch(options.batch_size, drop_remainder=drop)
        if train and options.augmentation.active:
            augment = _augmenter(options.augmentation, options.shuffle_seed)
            ds = ds.map(augment, num_parallel_calls=autotune)
        return ds.prefetch(autotune)

    return (
        stream(splits.x_train, splits.y_train, train=True),
        stream(splits.x_val, splits.y_val, train=False),
        stream(splits.x_test, splits.y_test, train=False),
    )

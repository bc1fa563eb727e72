"""The input block: what a dataset's raw images go through before the network, in Keras.

One block for both sides of a model's life: the tf.data pipeline (``sweeps.data.pipeline``)
runs it inside its ``map`` for training and evaluation, and an exported model carries it in
front of its network (``sweeps.worker.export``), so the saved model is the trained one by
construction. Built-in layers and ``keras.ops`` only: a saved model loads in plain Keras (safe
mode) where this package is not installed. The order is cast, resize, normalise, convert
channels: ``per_image`` standardises the image the model sees, and ``train_stats`` uses the
channels the training arrays have.

The normalisation modes are spelt here and nowhere else (tests/test_layout.py). The block
lives beside the spaces because a space names its normalisation (``SpaceInfo.normalization``)
and search_spaces may not import sweeps. Keras is imported only when the block is applied.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["NORMALIZATIONS", "InputBlock", "train_stats"]

# The input scalings the source notebooks use (see SEEDS.md): 003/004 divide by 255, 002 centres
# on zero, 000 standardises each image, 001 standardises by the training set's channel stats.
NORMALIZATIONS = ("unit", "centered", "per_image", "train_stats")

_GRAY_WEIGHTS = (0.2989, 0.5870, 0.1140)  # tf.image.rgb_to_grayscale's (ITU-R 601-2 luma)


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


@dataclass(frozen=True)
class InputBlock:
    """Raw uint8 images of ``channels_in`` channels to what the network takes.

    Raises ValueError on construction for a mode or a channel conversion it does not have.
    """

    channels_in: int
    normalization: str = "unit"
    target_size: tuple[int, int] | None = None  # resize to (H, W); None keeps the size
    channels: int | None = None  # 1 or 3; None keeps the images' own
    # train_stats only: the training part's per-channel mean and std, on the 0..255 scale
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if self.normalization not in NORMALIZATIONS:
            raise ValueError(
                f"unknown normalization {self.normalization!r}: use one of "
                f"{', '.join(NORMALIZATIONS)}"
            )
        have = 3 if self.channels_in == 4 else self.channels_in
        if self.channels not in (None, have) and (have, self.channels) not in ((1, 3), (3, 1)):
            raise ValueError(
                f"cannot convert {self.channels_in}-channel images to {self.channels} "
                "channels: use channels=None"
            )

    @classmethod
    def for_images(
        cls,
        x_train: np.ndarray,
        normalization: str = "unit",
        target_size: tuple[int, int] | None = None,
        channels: int | None = None,
    ) -> InputBlock:
        """The block for images like ``x_train``, the training part: ``train_stats`` takes
        its statistics from it alone, so validation and test images never leak in."""
        mean = std = ()
        if normalization == "train_stats":
            mean, std = (tuple(map(float, s)) for s in train_stats(x_train))
        size = tuple(int(s) for s in target_size) if target_size else None
        return cls(int(x_train.shape[-1]), normalization, size, channels, mean, std)

    def __call__(self, images: Any) -> Any:
        """The block on a batch of raw images ``(N, H, W, C)``: float32 ``(N, H', W', C')``."""
        from keras import layers, ops

        x = ops.cast(images, "float32")
        if self.target_size is not None:
            height, width = self.target_size
            x = layers.Resizing(height, width, interpolation="bilinear", name="resize")(x)
        mode = self.normalization
        if mode == "unit":
            x = x / 255.0
        elif mode == "centered":
            x = x / 255.0 - 0.5
        elif mode == "per_image":  # tf.image.per_image_standardization
            values = int(np.prod(x.shape[1:]))
            mean = ops.mean(x, axis=(1, 2, 3), keepdims=True)
            std = ops.std(x, axis=(1, 2, 3), keepdims=True)
            x = (x - mean) / ops.maximum(std, ops.rsqrt(float(values)))
        else:  # train_stats
            x = (x - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)
        have, want = self.channels_in, self.channels
        if want is None or want == have:
            return x
        if have == 4:  # RGBA from an image folder: the alpha plane is not part of the image
            x, have = x[..., :3], 3
        if (have, want) == (1, 3):  # tf.image.grayscale_to_rgb
            return ops.concatenate([x, x, x], axis=-1)
        if (have, want) == (3, 1):  # tf.image.rgb_to_grayscale
            weights = np.asarray(_GRAY_WEIGHTS, np.float32)
            return ops.expand_dims(ops.tensordot(x, weights, axes=[[-1], [-1]]), -1)
        return x

    def steps(self) -> list[str]:
        """The block's steps in words, in its order, for a saved model's input contract."""
        steps = ["cast to float32"]
        if self.target_size is not None:
            height, width = self.target_size
            steps.append(f"resize to {height}x{width} (bilinear, as tf.image.resize)")
        steps.append(
            {
                "unit": "divide by 255 (normalization 'unit': values 0..1)",
                "centered": (
                    "divide by 255, subtract 0.5 (normalization 'centered': values -0.5..0.5)"
                ),
                "per_image": (
                    "subtract each image's mean, divide by its standard deviation or "
                    "1/sqrt(its number of values), whichever is larger (normalization "
                    "'per_image', as tf.image.per_image_standardization)"
                ),
                "train_stats": (
                    "subtract the training images' per-channel mean "
                    f"{[round(m, 2) for m in self.mean]}, divide by their standard deviation "
                    f"{[round(s, 2) for s in self.std]} (normalization 'train_stats', on the "
                    "0..255 scale)"
                ),
            }[self.normalization]
        )
        have, want = self.channels_in, self.channels
        if want is not None and want != have:
            if have == 4:
                steps.append("drop the alpha channel")
                have = 3
            if (have, want) == (1, 3):
                steps.append("repeat the gray channel as R, G and B")
            elif (have, want) == (3, 1):
                steps.append("convert RGB to gray (ITU-R 601-2 luma, as tf.image.rgb_to_grayscale)")
        return steps

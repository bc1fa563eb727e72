"""scikit-learn's bundled 8x8 digits: the one dataset that is always offline.

It has no official test split, so a stratified 20% test split is carved with the fixed seed
``splits.TEST_SEED``, never with the sweep's seed: every sweep reports on the same 360 images.
"""

from __future__ import annotations

import numpy as np

from sweeps.data import class_names
from sweeps.data.base import DatasetInfo, RawSplits
from sweeps.data.splits import TEST_FRACTION, TEST_SEED, carve, carved_size

__all__ = ["info", "load"]

_TOTAL = 1797  # len(sklearn.datasets.load_digits().target), fixed since the UCI release
# The smallest class of the training part (the 8s), fixed with it: lets a sweep check its
# validation carve without loading the images or importing scikit-learn (1.5-2 s of start-up).
SMALLEST_TRAIN_CLASS = 139


def info(name: str = "digits") -> DatasetInfo:
    test_size = carved_size(_TOTAL, TEST_FRACTION)
    return DatasetInfo(
        name=name,
        image_shape=(8, 8, 1),
        num_classes=10,
        train_size=_TOTAL - test_size,
        test_size=test_size,
        offline=True,
        source="scikit-learn load_digits (bundled)",
        default_normalization="unit",
        pixels="scikit-learn's load_digits() pixels (counts 0..16) times 255/16, rounded to uint8",
    )


def load() -> RawSplits:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    # Pixels are counts 0..16 (4x4 blocks of a 32x32 bitmap); stretch them onto 0..255.
    x = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)[..., np.newaxis]
    y = bunch.target.astype(np.int64)
    x_train, y_train, x_test, y_test = carve(x, y, TEST_FRACTION, TEST_SEED, what="test")
    return RawSplits(x_train, y_train, x_test, y_test, list(class_names.DIGITS))

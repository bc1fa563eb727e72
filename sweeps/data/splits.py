"""Stratified carving of one split out of another (validation from train, test from a pool)."""

from __future__ import annotations

import math

import numpy as np

from sweeps.errors import DatasetError
from sweeps.phrasing import option

__all__ = [
    "TEST_FRACTION",
    "TEST_SEED",
    "auto_val_fraction",
    "carve",
    "carved_size",
    "check_carve",
]

# Datasets without an official test split (digits, a flat image folder) get one carved with a
# fixed seed, independent of the sweep's seed, so every sweep reports on the same test images.
TEST_FRACTION = 0.2
TEST_SEED = 0


# Selection on a small validation split picks noise: a 144-image split of digits cannot tell
# 0.98 from 0.99. Small datasets get a larger share, up to MAX_AUTO_VAL_FRACTION.
MIN_VAL_IMAGES = 300
DEFAULT_VAL_FRACTION = 0.1
MAX_AUTO_VAL_FRACTION = 0.2


def auto_val_fraction(train_size: int | None) -> float:
    """The validation share for ``train_size`` training images: 0.1, or more (at most 0.2)
    so that the split holds about MIN_VAL_IMAGES images."""
    if not train_size:
        return DEFAULT_VAL_FRACTION
    wanted = MIN_VAL_IMAGES / train_size
    return round(min(MAX_AUTO_VAL_FRACTION, max(DEFAULT_VAL_FRACTION, wanted)), 3)


def carved_size(n: int, fraction: float) -> int:
    """How many of ``n`` items a carve of ``fraction`` takes (scikit-learn rounds up)."""
    return math.ceil(fraction * n)


def check_carve(n: int, classes: int, smallest: int, fraction: float, *, what: str) -> None:
    """Raise DatasetError where :func:`carve` could not cut ``fraction`` of ``n`` images in
    ``classes`` classes, the smallest holding ``smallest``. Needs only the sizes, so a dataset
    whose sizes are known (the bundled digits) is checked without loading or scikit-learn."""
    if not 0.0 < fraction < 1.0:
        raise DatasetError(
            f"{what} fraction {fraction!r} is out of range: use a value strictly between 0 and 1"
        )
    n_part = carved_size(n, fraction)
    if smallest < 2 or n_part < classes or n - n_part < classes:
        raise DatasetError(
            f"cannot carve a stratified {what} split of {fraction:g} from {n} images in "
            f"{classes} classes (smallest class: {smallest}): every class needs at least 2 images "
            f"and each part at least one image per class; add images"
            + (f" or change {option('--val-fraction')}" if what == "validation" else "")
        )


def carve(
    x: np.ndarray, y: np.ndarray, fraction: float, seed: int, *, what: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split ``(x, y)`` into ``(x_keep, y_keep, x_part, y_part)``, ``part`` being ``fraction``.

    Stratified, so every class keeps its share in both parts. Both parts keep the source order
    (the indices are sorted), so a carve is a pure function of ``(y, fraction, seed)``.
    """
    from sklearn.model_selection import train_test_split

    counts = np.bincount(y) if len(y) else np.zeros(0, dtype=np.int64)
    present = counts[counts > 0]
    check_carve(
        len(y), len(present), int(present.min()) if len(present) else 0, fraction, what=what
    )
    keep, part = train_test_split(
        np.arange(len(y)), test_size=fraction, random_state=seed, stratify=y
    )
    keep, part = np.sort(keep), np.sort(part)
    return x[keep], y[keep], x[part], y[part]

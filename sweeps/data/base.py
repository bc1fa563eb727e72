"""The value types every loader shares: what a dataset is, and what loading it gives."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sweeps.errors import DatasetError

__all__ = ["DatasetInfo", "RawSplits", "Splits", "one_line"]


def one_line(exc: BaseException) -> str:
    """``Type: message`` of a library's exception, squeezed onto one line for a DatasetError."""
    return " ".join(f"{type(exc).__name__}: {exc}".split())


@dataclass(frozen=True)
class DatasetInfo:
    """What a dataset is, found without loading its arrays (and without importing tensorflow)."""

    name: str
    image_shape: tuple[int, int, int]
    num_classes: int
    train_size: int | None
    test_size: int | None
    offline: bool
    source: str
    default_normalization: str
    # How the dataset's images become the uint8 0..255 arrays every model is trained on (and
    # a saved model takes): a user must prepare new images the same way.
    pixels: str = "uint8 pixel values 0..255, as the dataset's files hold them"


@dataclass
class RawSplits:
    """The official train/test split exactly as a loader read it, before any carving."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str]

    def checked(self, where: str) -> RawSplits:
        """Coerce to uint8 NHWC images and int64 labels; refuse what cannot be one."""
        x_train, x_test = _as_nhwc(self.x_train), _as_nhwc(self.x_test)
        if x_train.shape[1:] != x_test.shape[1:]:
            raise DatasetError(
                f"{where}: training images are {x_train.shape[1:]} but test images are "
                f"{x_test.shape[1:]}: make every image the same size"
            )
        y_train = np.asarray(self.y_train).reshape(-1).astype(np.int64)
        y_test = np.asarray(self.y_test).reshape(-1).astype(np.int64)
        if len(y_train) != len(x_train) or len(y_test) != len(x_test):
            raise DatasetError(
                f"{where}: the number of labels does not match the number of images: "
                "the files are corrupt, replace them"
            )
        return RawSplits(x_train, y_train, x_test, y_test, list(self.class_names))


def _as_nhwc(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim == 3:  # grayscale sets (MNIST) are stored without a channel axis
        x = x[..., np.newaxis]
    return np.ascontiguousarray(x, dtype=np.uint8)


@dataclass
class Splits:
    """Train (validation removed), validation and test arrays: uint8 NHWC images, int64 labels.

    ``test`` is the dataset's official test split: sweeps select on ``val`` and only report test.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str]
    info: DatasetInfo

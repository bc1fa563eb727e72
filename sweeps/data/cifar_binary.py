"""``cifar10-bin:DIR``: CIFAR-10's fixed-length binary records, as notebook 000 reads them.

Each record is 1 label byte followed by 3072 image bytes in CHW order (3 planes of 32x32).
``DIR`` holds data_batch_1.bin..data_batch_5.bin (any non-empty subset, so a small copy works)
and test_batch.bin; batches.meta.txt, when present, names the classes one per line.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sweeps.data import class_names
from sweeps.data.base import DatasetInfo, RawSplits
from sweeps.errors import DatasetError

__all__ = ["RECORD_BYTES", "info", "load"]

RECORD_BYTES = 1 + 3 * 32 * 32
_TRAIN_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
_TEST_FILE = "test_batch.bin"


def _files(directory: Path) -> tuple[list[Path], Path]:
    """The training files present and the test file, after checking their sizes."""
    if not directory.is_dir():
        raise DatasetError(
            f"cifar10-bin directory {directory} does not exist: pass the folder that holds "
            "data_batch_1.bin..data_batch_5.bin and test_batch.bin (cifar-10-batches-bin)"
        )
    train = [directory / name for name in _TRAIN_FILES if (directory / name).is_file()]
    if not train:
        raise DatasetError(
            f"{directory} holds none of data_batch_1.bin..data_batch_5.bin: place at least one "
            "CIFAR-10 binary training file there"
        )
    test = directory / _TEST_FILE
    if not test.is_file():
        raise DatasetError(f"{test} is missing: place CIFAR-10's test_batch.bin there")
    for path in [*train, test]:
        size = path.stat().st_size
        if size == 0:
            raise DatasetError(f"{path} is empty: download it again or remove it")
        if size % RECORD_BYTES:
            raise DatasetError(
                f"{path} is truncated: {size} bytes is not a multiple of the {RECORD_BYTES}-byte "
                "record; download it again"
            )
    return train, test


def _class_names(directory: Path) -> list[str]:
    meta = directory / "batches.meta.txt"
    if not meta.is_file():
        return list(class_names.CIFAR10)
    names = [line.strip() for line in meta.read_text(errors="replace").splitlines()]
    names = [n for n in names if n]  # the official file ends with blank lines
    if len(names) != 10:
        raise DatasetError(
            f"{meta} names {len(names)} classes, CIFAR-10 has 10: fix the file (one class name "
            "per line) or delete it to use the standard names"
        )
    return names


def info(name: str, directory: Path) -> DatasetInfo:
    train, test = _files(directory)
    _class_names(directory)  # a bad batches.meta.txt fails here, before a sweep starts
    return DatasetInfo(
        name=name,
        image_shape=(32, 32, 3),
        num_classes=10,
        train_size=sum(p.stat().st_size for p in train) // RECORD_BYTES,
        test_size=test.stat().st_size // RECORD_BYTES,
        offline=True,
        source=f"CIFAR-10 binary records in {directory}",
        default_normalization="per_image",
        pixels="uint8 0..255 as the binary records hold them, as (height, width, RGB)",
    )


def _read(path: Path) -> tuple[np.ndarray, np.ndarray]:
    records = np.fromfile(path, dtype=np.uint8).reshape(-1, RECORD_BYTES)
    labels = records[:, 0].astype(np.int64)
    if labels.max(initial=0) > 9:
        raise DatasetError(
            f"{path} has a record labelled {labels.max()} (CIFAR-10 labels are 0..9): it is not "
            "CIFAR-10 binary data (CIFAR-100's records have 2 label bytes); use the right files"
        )
    images = records[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return images, labels


def load(directory: Path) -> RawSplits:
    train, test = _files(directory)
    parts = [_read(path) for path in train]
    x_test, y_test = _read(test)
    return RawSplits(
        np.concatenate([x for x, _ in parts]),
        np.concatenate([y for _, y in parts]),
        x_test,
        y_test,
        _class_names(directory),
    )

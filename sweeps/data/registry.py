"""Dataset names -> loaders: cheap validation for the CLI, and the one entry point that loads.

Names are the built-ins (``digits``, ``mnist``, ``fashion_mnist``, ``cifar10``, ``cifar100``)
or a prefix and a folder (``cifar10-bin:DIR``, ``folder:DIR``). Nothing here imports
tensorflow: only ``load_splits`` reaches the loaders that do (an image folder's decoder).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from sweeps.data import cifar_binary, digits, image_folder, keras_cache
from sweeps.data.base import DatasetInfo, RawSplits, Splits
from sweeps.data.splits import carve, check_carve
from sweeps.errors import DatasetError

__all__ = [
    "BUILTIN_NAMES",
    "check_dataset",
    "dataset_info",
    "decodes_images",
    "list_datasets",
    "load_splits",
    "resolved_name",
]

BUILTIN_NAMES = ("digits", *keras_cache.NAMES)
_PREFIXES = {"cifar10-bin": cifar_binary, "folder": image_folder}


def _parse(name: str) -> tuple[str, Path | None]:
    """``(kind, directory)``: a built-in name with no folder, or a prefix and its folder."""
    if not isinstance(name, str):
        raise DatasetError(f"dataset name {name!r} is not a string: pass e.g. 'digits'")
    if name in BUILTIN_NAMES:
        return name, None
    kind, sep, rest = name.partition(":")
    if sep and kind in _PREFIXES:
        if not rest.strip():
            raise DatasetError(f"dataset {name!r} names no folder: write {kind}:DIR")
        return kind, Path(rest.strip()).expanduser()
    valid = ", ".join([*BUILTIN_NAMES, *(f"{prefix}:DIR" for prefix in _PREFIXES)])
    raise DatasetError(f"unknown dataset {name!r}: use one of {valid}")


def list_datasets() -> list[DatasetInfo]:
    """The built-in datasets; ``offline`` says which are loadable without the network."""
    return [dataset_info(name) for name in BUILTIN_NAMES]


def dataset_info(name: str) -> DatasetInfo:
    """Validate ``name`` and describe its dataset without loading arrays or importing tensorflow.

    Raises DatasetError for an unknown name, a missing folder or a file whose size is wrong.
    """
    kind, directory = _parse(name)
    if kind == "digits":
        return digits.info(name)
    if directory is None:
        return keras_cache.info(kind)
    return _PREFIXES[kind].info(name, directory)


def _load_raw(kind: str, directory: Path | None, *, download: bool = True) -> RawSplits:
    if kind == "digits":
        return digits.load()
    if directory is None:
        return keras_cache.load(kind, download=download)
    return _PREFIXES[kind].load(directory)


def _check_labels(name: str, info: DatasetInfo, *label_sets: np.ndarray) -> None:
    for labels in label_sets:
        if len(labels) and not 0 <= labels.min() <= labels.max() < info.num_classes:
            raise DatasetError(
                f"dataset {name!r} has labels outside 0..{info.num_classes - 1}: its files are "
                "corrupt or of another dataset; replace them"
            )


def check_dataset(name: str, *, val_fraction: float, seed: int) -> DatasetInfo:
    """Find, without TensorFlow, whatever :func:`load_splits` would reject, before a sweep
    creates anything.

    Reads the dataset once (the bundled digits not at all: their sizes are known). A Keras
    dataset that is not cached is downloaded now, so being offline is reported here, by a
    spawned child: ``keras.datasets`` imports TensorFlow, which this process never does. An
    image folder is only indexed here: its files are decoded by TensorFlow's decoder, the one
    training uses, when a child process calls :func:`load_splits` (see
    :func:`decodes_images`). Raises DatasetError.
    """
    info = dataset_info(name)
    kind, directory = _parse(name)
    if decodes_images(name):
        return info
    if kind == "digits":  # bundled, so its files are whole and only the carve can fail
        check_carve(
            info.train_size, info.num_classes, digits.SMALLEST_TRAIN_CLASS, val_fraction,
            what="validation",
        )  # fmt: skip
        return info
    if not info.offline:
        _download_in_child(name)
    raw = _load_raw(kind, directory, download=False).checked(name)
    _check_labels(name, info, raw.y_train, raw.y_test)
    carve(np.arange(len(raw.y_train)), raw.y_train, val_fraction, seed, what="validation")
    return info


def _download_in_child(name: str) -> None:
    """Fill the Keras cache with ``name`` from a spawned child (:mod:`sweeps.worker.downloads`)."""
    from sweeps.spawn import TaskFailedError, run_in_child

    try:
        run_in_child("sweeps.worker.downloads:download_dataset", name)
    except TaskFailedError as exc:
        raise DatasetError(f"dataset {name!r} could not be downloaded: {exc.reason}") from None


def decodes_images(name: str) -> bool:
    """Whether loading ``name`` decodes image files with TensorFlow (``folder:DIR``): only
    :func:`load_splits`, in a process that may import TensorFlow, can check those files."""
    return _parse(name)[0] == "folder"


def resolved_name(name: str) -> str:
    """``name`` with its folder made absolute (``folder:data`` -> ``folder:/home/me/data``).

    A study saves its dataset's name; a relative folder would mean another folder to a
    ``sweeps resume`` or a worker started elsewhere. Raises DatasetError for an unknown name.
    """
    kind, directory = _parse(name)
    return name if directory is None else f"{kind}:{directory.resolve()}"


def load_splits(name: str, *, val_fraction: float = 0.1, seed: int = 0) -> Splits:
    """Load ``name`` and carve a stratified validation split of ``val_fraction`` with ``seed``.

    The test split is the dataset's official one (or, for digits and flat folders, one carved
    with a fixed seed), identical for every ``seed``: sweeps select on validation only.
    """
    if not 0.0 < val_fraction < 1.0:  # fail before loading, not after
        raise DatasetError(
            f"val_fraction {val_fraction!r} is out of range: use a value strictly between 0 and 1"
        )
    info = dataset_info(name)
    kind, directory = _parse(name)
    raw = _load_raw(kind, directory).checked(name)
    _check_labels(name, info, raw.y_train, raw.y_test)
    x_train, y_train, x_val, y_val = carve(
        raw.x_train, raw.y_train, val_fraction, seed, what="validation"
    )
    # Describe what was actually loaded (a small copy of a dataset has its own sizes).
    info = dataclasses.replace(
        info,
        image_shape=tuple(raw.x_train.shape[1:]),
        train_size=len(raw.x_train),
        test_size=len(raw.x_test),
        offline=True,
    )
    return Splits(x_train, y_train, x_val, y_val, raw.x_test, raw.y_test, raw.class_names, info)

"""MNIST, Fashion-MNIST, CIFAR-10 and CIFAR-100, read from the Keras cache ourselves.

``keras.datasets.X.load_data()`` re-downloads whenever a cached file's hash differs from the
published one, so it can neither run offline on a partial cache nor read a small test copy.
We therefore read the cache first, in Keras' own layout and with Keras' own parsing, and only
call ``load_data()`` (which downloads) when the files are not there. ``load_data()`` imports
TensorFlow, so a process that must not (the one checking a sweep's dataset before the sweep)
has a child download (:func:`sweeps.data.registry.check_dataset`) and reads with
``download=False``.
"""

from __future__ import annotations

import gzip
import os
import pickle
import tempfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from sweeps.data import class_names
from sweeps.data.base import DatasetInfo, RawSplits, one_line
from sweeps.errors import DatasetError

__all__ = ["NAMES", "cache_dir", "info", "load"]

_FASHION_FILES = (
    "train-labels-idx1-ubyte.gz",
    "train-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
)
_CIFAR10_FILES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",)


@dataclass(frozen=True)
class _Spec:
    keras_module: str  # attribute of keras.datasets whose load_data() downloads it
    roots: tuple[str, ...]  # folders under the cache holding the files, preferred first
    files: tuple[str, ...]
    image_shape: tuple[int, int, int]
    class_names: list[str]
    train_size: int
    test_size: int
    source: str
    default_normalization: str
    read: Callable[[Path], tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]


def cache_dir() -> Path:
    """Where Keras caches datasets: ``$KERAS_HOME/datasets``, else ``~/.keras/datasets``."""
    if "KERAS_HOME" in os.environ:
        home = os.environ["KERAS_HOME"]
    else:
        base = os.path.expanduser("~")
        home = os.path.join(base if os.access(base, os.W_OK) else "/tmp", ".keras")
    return Path(os.path.expanduser(home), "datasets")


def _search_dirs() -> list[Path]:
    # get_file() falls back to /tmp/.keras when the cache dir is not writable: look there too.
    dirs = [cache_dir(), Path(tempfile.gettempdir(), ".keras", "datasets")]
    return list(dict.fromkeys(dirs))


class _RestrictedUnpickler(pickle.Unpickler):
    """Keras' rule for the CIFAR pickles: rebuild numpy arrays, execute nothing else."""

    _ALLOWED: ClassVar[frozenset[tuple[str, str]]] = frozenset(
        {
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
        }
    )

    def find_class(self, module: str, name: str) -> object:
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}")


def _load_batch(path: Path, label_key: str = "labels") -> tuple[np.ndarray, np.ndarray]:
    # As keras.src.datasets.cifar.load_batch: a dict with bytes keys, rows of CHW pixels.
    with open(path, "rb") as f:
        d = _RestrictedUnpickler(f, encoding="bytes").load()
    d = {k.decode("utf8") if isinstance(k, bytes) else k: v for k, v in d.items()}
    data = np.asarray(d["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
    return data.transpose(0, 2, 3, 1), np.asarray(d[label_key])


def _read_mnist(root: Path) -> tuple[np.ndarray, ...]:
    with np.load(root / "mnist.npz", allow_pickle=False) as f:
        return f["x_train"], f["y_train"], f["x_test"], f["y_test"]


def _read_idx(path: Path, offset: int) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)


def _read_fashion(root: Path) -> tuple[np.ndarray, ...]:
    y_train, x_train, y_test, x_test = (
        _read_idx(root / name, 8 if "labels" in name else 16) for name in _FASHION_FILES
    )
    return (
        x_train.reshape(len(y_train), 28, 28),
        y_train,
        x_test.reshape(len(y_test), 28, 28),
        y_test,
    )


def _read_cifar10(root: Path) -> tuple[np.ndarray, ...]:
    train = [_load_batch(root / name) for name in _CIFAR10_FILES[:-1]]
    x_test, y_test = _load_batch(root / "test_batch")
    x_train = np.concatenate([x for x, _ in train])
    return x_train, np.concatenate([y for _, y in train]), x_test, y_test


def _read_cifar100(root: Path) -> tuple[np.ndarray, ...]:
    x_train, y_train = _load_batch(root / "train", "fine_labels")
    x_test, y_test = _load_batch(root / "test", "fine_labels")
    return x_train, y_train, x_test, y_test


_SPECS = {
    "mnist": _Spec(
        "mnist", ("",), ("mnist.npz",), (28, 28, 1), class_names.DIGITS,
        60000, 10000, "keras.datasets.mnist (Keras cache)", "unit", _read_mnist,
    ),
    "fashion_mnist": _Spec(
        "fashion_mnist", ("fashion-mnist",), _FASHION_FILES, (28, 28, 1), class_names.FASHION_MNIST,
        60000, 10000, "keras.datasets.fashion_mnist (Keras cache)", "unit", _read_fashion,
    ),
    "cifar10": _Spec(
        "cifar10",
        # Keras 3 extracts into "<fname>-target/"; tf.keras 2 extracted straight into datasets/.
        ("cifar-10-batches-py", "cifar-10-batches-py-target/cifar-10-batches-py"),
        _CIFAR10_FILES, (32, 32, 3), class_names.CIFAR10,
        50000, 10000, "keras.datasets.cifar10 (Keras cache)", "unit", _read_cifar10,
    ),
    "cifar100": _Spec(
        "cifar100",
        ("cifar-100-python", "cifar-100-python-target/cifar-100-python"),
        ("train", "test"), (32, 32, 3), class_names.CIFAR100,
        50000, 10000, "keras.datasets.cifar100 (Keras cache, fine labels)", "unit", _read_cifar100,
    ),
}  # fmt: skip
NAMES = tuple(_SPECS)


def _find(spec: _Spec) -> Path | None:
    """The first folder holding every file of ``spec``, or None."""
    for base in _search_dirs():
        for root in spec.roots:
            if all((base / root / name).is_file() for name in spec.files):
                return base / root
    return None


def info(name: str) -> DatasetInfo:
    spec = _SPECS[name]
    return DatasetInfo(
        name=name,
        image_shape=spec.image_shape,
        num_classes=len(spec.class_names),
        train_size=spec.train_size,
        test_size=spec.test_size,
        offline=_find(spec) is not None,
        source=spec.source,
        default_normalization=spec.default_normalization,
        pixels=f"uint8 0..255, as keras.datasets.{spec.keras_module}.load_data() returns them",
    )


# What a damaged file raises somewhere between gzip, zipfile, numpy and pickle.
_CORRUPT = (
    OSError, EOFError, ValueError, KeyError, IndexError, TypeError, AttributeError,
    zipfile.BadZipFile, pickle.UnpicklingError, zlib.error,
)  # fmt: skip


def _place_hint(spec: _Spec) -> str:
    where = cache_dir() / spec.roots[0]
    if spec.roots[0] == "":
        return f"place {spec.files[0]} at {where / spec.files[0]}"
    return f"place {', '.join(spec.files)} in {where}/"


def load(name: str, *, download: bool = True) -> RawSplits:
    """The dataset's arrays, read from the cache; when it is not there, downloaded through
    ``keras.datasets`` (which imports TensorFlow), or with ``download=False`` a DatasetError
    saying where to place the files."""
    spec = _SPECS[name]
    root = _find(spec)
    if root is None and not download:
        raise DatasetError(f"dataset {name!r} is not in the Keras cache: {_place_hint(spec)}")
    if root is None:
        return RawSplits(*_download(name, spec), spec.class_names)
    try:
        arrays = spec.read(root)
    except _CORRUPT as exc:
        bad = _first_bad_file(spec, root)
        raise DatasetError(
            f"{bad} is truncated or corrupt ({one_line(exc)}): delete it and "
            f"download again, or place a good copy at {bad}"
        ) from exc
    return RawSplits(*arrays, spec.class_names)


def _first_bad_file(spec: _Spec, root: Path) -> Path:
    """Name the file to blame: the first one that does not read on its own."""
    if len(spec.files) == 1:
        return root / spec.files[0]
    for name in spec.files:
        try:
            _read_one(root / name)
        except _CORRUPT:
            return root / name
    return root  # each file reads alone, but they do not fit together (mismatched counts)


def _read_one(path: Path) -> None:
    if path.suffix == ".gz":
        _read_idx(path, 0)
    else:
        _load_batch(path, "fine_labels" if path.name in ("train", "test") else "labels")


def _download(name: str, spec: _Spec) -> tuple[np.ndarray, ...]:
    import keras

    try:
        (x_train, y_train), (x_test, y_test) = getattr(
            keras.datasets, spec.keras_module
        ).load_data()
    except Exception as exc:  # any failure (DNS, HTTP, hash, disk) means the same fix
        raise DatasetError(
            f"dataset {name!r} is not in the Keras cache and cannot be downloaded (offline?): "
            f"{_place_hint(spec)}"
        ) from exc
    if x_train.ndim == 4 and x_train.shape[1] == 3 and x_train.shape[-1] != 3:
        # image_data_format() == "channels_first" in keras.json: back to NHWC.
        x_train, x_test = x_train.transpose(0, 2, 3, 1), x_test.transpose(0, 2, 3, 1)
    return x_train, y_train, x_test, y_test

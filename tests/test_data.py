"""sweeps.data loaders and registry, on small files in each dataset's real on-disk format."""

from __future__ import annotations

import gzip
import os
import pickle
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sweeps.data import DatasetInfo, dataset_info, list_datasets, load_splits
from sweeps.errors import DatasetError

REPO = Path(__file__).resolve().parents[1]
RNG = np.random.default_rng(1234)


def _labels(per_class: int, classes: int = 10) -> np.ndarray:
    return np.repeat(np.arange(classes, dtype=np.uint8), per_class)


def _images(n: int, shape: tuple[int, ...]) -> np.ndarray:
    return RNG.integers(0, 256, size=(n, *shape), dtype=np.uint8)


@pytest.fixture
def keras_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    datasets = tmp_path / "keras" / "datasets"
    datasets.mkdir(parents=True)
    return datasets


# --- registry ---------------------------------------------------------------------------------


def test_list_datasets_names_the_builtins_and_digits_is_offline() -> None:
    infos = list_datasets()
    assert [i.name for i in infos] == ["digits", "mnist", "fashion_mnist", "cifar10", "cifar100"]
    assert all(isinstance(i, DatasetInfo) for i in infos)
    digits = infos[0]
    assert digits.offline and digits.image_shape == (8, 8, 1) and digits.num_classes == 10
    assert (digits.train_size, digits.test_size) == (1437, 360)
    assert infos[4].num_classes == 100


def test_info_and_listing_do_not_import_tensorflow(tmp_path: Path) -> None:
    _png(tmp_path / "a" / "1.png", _images(1, (4, 4, 3))[0])
    _png(tmp_path / "b" / "1.png", _images(1, (4, 4, 3))[0])
    code = (
        "import sys, sweeps.data as d; d.list_datasets(); d.dataset_info('digits'); "
        f"d.dataset_info('folder:{tmp_path}'); "
        "assert not {'tensorflow', 'keras'} & set(sys.modules), 'tensorflow imported'"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=60)


def test_the_digits_check_loads_nothing_and_its_sizes_are_the_datas() -> None:
    """The default sweep's start: checking the bundled digits imports neither scikit-learn
    (1.5-2 s) nor TensorFlow, and the sizes it checks with are those of the loaded data."""
    code = (
        "import sys\n"
        "from sweeps.data import check_dataset\n"
        "check_dataset('digits', val_fraction=0.2, seed=0)\n"
        "print(sorted({'sklearn', 'tensorflow', 'keras'} & set(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, check=True, timeout=60, capture_output=True,
        text=True,
    )  # fmt: skip
    assert out.stdout.strip() == "[]"
    from sweeps.data import digits

    raw, info = digits.load(), digits.info()
    assert (len(raw.y_train), len(raw.y_test)) == (info.train_size, info.test_size)
    assert np.bincount(raw.y_train).min() == digits.SMALLEST_TRAIN_CLASS


def test_the_dataset_check_downloads_in_a_child(tmp_path: Path) -> None:
    """keras.datasets imports TensorFlow: the check before a sweep has a child download a
    Keras dataset that is not cached (here it cannot: the proxy refuses), and reads the cache
    itself once it is there."""
    code = (
        "import sys, numpy as np\n"
        "from sweeps.data import check_dataset\n"
        "from sweeps.errors import DatasetError\n"
        "try:\n"
        "    check_dataset('mnist', val_fraction=0.5, seed=0)\n"
        "except DatasetError as exc:\n"
        "    print(exc)\n"
        "a = np.zeros((20, 28, 28), np.uint8); y = np.repeat(np.arange(10, dtype=np.uint8), 2)\n"
        "np.savez(sys.argv[1], x_train=a, y_train=y, x_test=a, y_test=y)\n"
        "print(check_dataset('mnist', val_fraction=0.5, seed=0).offline)\n"
        "print(sorted({'tensorflow', 'keras'} & set(sys.modules)))\n"
    )
    refused = "http://127.0.0.1:9"  # nothing listens on the discard port
    env = {**os.environ, "KERAS_HOME": str(tmp_path), "TF_CPP_MIN_LOG_LEVEL": "3"}
    env |= {name: refused for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY")}
    env.pop("no_proxy", None), env.pop("NO_PROXY", None)
    (tmp_path / "datasets").mkdir()
    cached = tmp_path / "datasets" / "mnist.npz"
    done = subprocess.run(
        [sys.executable, "-c", code, str(cached)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    failed, offline, loaded = done.stdout.strip().splitlines()[-3:]
    assert failed == (
        "dataset 'mnist' is not in the Keras cache and cannot be downloaded (offline?): "
        f"place mnist.npz at {cached}"
    )
    assert (offline, loaded) == ("True", "[]")


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("mnst", "unknown dataset 'mnst': use one of digits, mnist"),
        ("imagenet", "folder:DIR"),
        ("cifar10-bin:", "names no folder"),
        ("cifar10-bin:/no/such/dir", "does not exist"),
        ("folder:/no/such/dir", "does not exist"),
    ],
)
def test_bad_names_raise_one_line_dataset_errors(name: str, fragment: str) -> None:
    with pytest.raises(DatasetError) as err:
        dataset_info(name)
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_val_fraction_out_of_range_is_a_dataset_error() -> None:
    with pytest.raises(DatasetError, match="strictly between 0 and 1"):
        load_splits("digits", val_fraction=1.5)


# --- digits -----------------------------------------------------------------------------------


def _rows(*arrays: tuple[np.ndarray, np.ndarray]) -> list[bytes]:
    return sorted(
        x.tobytes() + bytes([y]) for xs, ys in arrays for x, y in zip(xs, ys, strict=True)
    )


def test_digits_splits_partition_the_dataset_stratified_and_test_is_seed_free() -> None:
    from sklearn.datasets import load_digits

    a = load_splits("digits", val_fraction=0.2, seed=1)
    b = load_splits("digits", val_fraction=0.2, seed=2)
    assert a.x_train.dtype == np.uint8 and a.y_train.dtype == np.int64
    assert a.x_train.shape[1:] == (8, 8, 1) and a.x_train.max() == 255
    assert len(a.x_test) == 360 and len(a.x_train) + len(a.x_val) == 1437
    # train + val + test is exactly the dataset (pixels 0..16 stretched to 0..255): disjoint.
    bunch = load_digits()
    full = np.round(bunch.images * 255 / 16).astype(np.uint8)[..., None]
    assert _rows((a.x_train, a.y_train), (a.x_val, a.y_val), (a.x_test, a.y_test)) == _rows(
        (full, bunch.target)
    )
    # The test split ignores the seed; validation follows it.
    np.testing.assert_array_equal(a.x_test, b.x_test)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert not np.array_equal(a.y_val, b.y_val) or not np.array_equal(a.x_val, b.x_val)
    # Stratified: every class keeps its share of the validation part, to within one image.
    pool = np.bincount(np.concatenate([a.y_train, a.y_val]), minlength=10)
    assert np.all(np.abs(np.bincount(a.y_val, minlength=10) - 0.2 * pool) <= 1)
    assert a.class_names == [str(i) for i in range(10)]
    # What a saved model's contract tells its user, for these very arrays.
    assert "load_digits() pixels (counts 0..16) times 255/16, rounded" in a.info.pixels


# --- Keras cache ------------------------------------------------------------------------------


def _write_mnist(datasets: Path) -> dict[str, np.ndarray]:
    arrays = {
        "x_train": _images(40, (28, 28)),
        "y_train": _labels(4),
        "x_test": _images(10, (28, 28)),
        "y_test": _labels(1),
    }
    np.savez(datasets / "mnist.npz", **arrays)
    return arrays


def test_mnist_is_read_from_the_keras_cache(keras_home: Path) -> None:
    assert not dataset_info("mnist").offline
    arrays = _write_mnist(keras_home)
    assert dataset_info("mnist").offline
    assert dataset_info("mnist").pixels == (
        "uint8 0..255, as keras.datasets.mnist.load_data() returns them"
    )
    s = load_splits("mnist", val_fraction=0.25, seed=0)
    assert s.x_train.shape == (30, 28, 28, 1) and s.x_val.shape == (10, 28, 28, 1)
    np.testing.assert_array_equal(s.x_test[..., 0], arrays["x_test"])
    assert (s.info.train_size, s.info.test_size, s.info.offline) == (40, 10, True)
    assert _rows((s.x_train[..., 0], s.y_train), (s.x_val[..., 0], s.y_val)) == _rows(
        (arrays["x_train"], arrays["y_train"])
    )


def _idx(path: Path, array: np.ndarray) -> None:
    magic = 0x0801 if array.ndim == 1 else 0x0803
    header = struct.pack(f">I{array.ndim}I", magic, *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.tobytes())


def test_fashion_mnist_reads_the_gzipped_idx_files(keras_home: Path) -> None:
    folder = keras_home / "fashion-mnist"
    folder.mkdir()
    x_train, x_test = _images(20, (28, 28)), _images(10, (28, 28))
    _idx(folder / "train-labels-idx1-ubyte.gz", _labels(2))
    _idx(folder / "train-images-idx3-ubyte.gz", x_train)
    _idx(folder / "t10k-labels-idx1-ubyte.gz", _labels(1))
    assert not dataset_info("fashion_mnist").offline  # one file still missing
    _idx(folder / "t10k-images-idx3-ubyte.gz", x_test)
    assert dataset_info("fashion_mnist").offline
    s = load_splits("fashion_mnist", val_fraction=0.5)
    np.testing.assert_array_equal(s.x_test[..., 0], x_test)
    assert s.class_names[0] == "T-shirt/top" and len(s.x_train) == len(s.x_val) == 10


def _pickle(path: Path, data: np.ndarray, **labels: list[int]) -> None:
    # As the official files: bytes keys, rows of 3072 CHW bytes. (Protocol 4: Python 3's
    # protocol 2 routes bytes through _codecs.encode, which Keras' safe unpickler refuses.)
    record = {b"data": data.reshape(len(data), -1)} | {k.encode(): v for k, v in labels.items()}
    path.write_bytes(pickle.dumps(record, protocol=4))


@pytest.mark.parametrize(
    "layout", ["cifar-10-batches-py", "cifar-10-batches-py-target/cifar-10-batches-py"]
)
def test_cifar10_reads_the_pickled_batches_in_either_keras_layout(
    keras_home: Path, layout: str
) -> None:
    folder = keras_home / layout
    folder.mkdir(parents=True)
    chw = _images(60, (3, 32, 32))
    for i in range(5):
        _pickle(folder / f"data_batch_{i + 1}", chw[i * 10 : i * 10 + 10], labels=list(range(10)))
    _pickle(folder / "test_batch", chw[50:], labels=list(range(10)))
    s = load_splits("cifar10", val_fraction=0.2)
    # The files are in the format Keras itself reads.
    from keras.src.datasets.cifar import load_batch

    np.testing.assert_array_equal(load_batch(str(folder / "test_batch"))[0], chw[50:])
    assert s.info.image_shape == (32, 32, 3) and s.info.train_size == 50
    np.testing.assert_array_equal(s.x_test, chw[50:].transpose(0, 2, 3, 1))  # CHW -> HWC
    assert s.class_names[:2] == ["airplane", "automobile"]


def test_cifar100_reads_fine_labels(keras_home: Path) -> None:
    folder = keras_home / "cifar-100-python"
    folder.mkdir()
    fine = _labels(4, 100).tolist()
    _pickle(folder / "train", _images(400, (3, 32, 32)), fine_labels=fine, coarse_labels=[0] * 400)
    _pickle(folder / "test", _images(100, (3, 32, 32)), fine_labels=list(range(100)))
    s = load_splits("cifar100", val_fraction=0.25)
    assert len(s.x_val) == 100 and sorted(s.y_val.tolist()) == list(range(100))
    assert len(s.class_names) == 100 and s.class_names[-1] == "worm"


def test_truncated_cache_files_name_the_file(keras_home: Path) -> None:
    _write_mnist(keras_home)
    path = keras_home / "mnist.npz"
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(DatasetError, match="truncated or corrupt") as err:
        load_splits("mnist")
    assert str(path) in str(err.value) and "\n" not in str(err.value)

    folder = keras_home / "cifar-10-batches-py"
    folder.mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        _pickle(folder / name, _images(10, (3, 32, 32)), labels=list(range(10)))
    bad = folder / "data_batch_3"
    bad.write_bytes(bad.read_bytes()[:-100])
    with pytest.raises(DatasetError, match=f"{bad} is truncated or corrupt"):
        load_splits("cifar10")


@pytest.mark.slow  # a fresh interpreter that imports TensorFlow
def test_missing_cache_file_offline_says_where_to_place_it(tmp_path: Path) -> None:
    # A fresh process, so Keras itself reads this KERAS_HOME; the proxy makes any download fail.
    env = os.environ | {"KERAS_HOME": str(tmp_path), "TF_CPP_MIN_LOG_LEVEL": "3"}
    env |= {k: "http://127.0.0.1:9" for k in ("http_proxy", "https_proxy", "HTTPS_PROXY")}
    env.pop("no_proxy", None)
    code = (
        "import sweeps.data as d, sweeps.errors as e\n"
        "try:\n    d.load_splits('mnist')\nexcept e.DatasetError as err:\n    print('ERR', err)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    expected = f"place mnist.npz at {tmp_path / 'datasets' / 'mnist.npz'}"
    assert "ERR dataset 'mnist' is not in the Keras cache" in out.stdout, out.stderr[-2000:]
    assert expected in out.stdout


# --- cifar10-bin:DIR --------------------------------------------------------------------------


def _records(path: Path, labels: np.ndarray, chw: np.ndarray) -> None:
    rows = np.concatenate([labels[:, None].astype(np.uint8), chw.reshape(len(chw), -1)], axis=1)
    path.write_bytes(rows.tobytes())


def test_cifar10_binary_records(tmp_path: Path) -> None:
    chw = _images(40, (3, 32, 32))
    _records(tmp_path / "data_batch_1.bin", _labels(2), chw[:20])
    _records(tmp_path / "data_batch_4.bin", _labels(1), chw[20:30])
    _records(tmp_path / "test_batch.bin", _labels(1), chw[30:])
    names = [f"class{i}" for i in range(10)]
    (tmp_path / "batches.meta.txt").write_text("\n".join(names) + "\n\n")
    info = dataset_info(f"cifar10-bin:{tmp_path}")
    assert (info.train_size, info.test_size, info.default_normalization) == (30, 10, "per_image")
    assert "uint8 0..255 as the binary records hold them" in info.pixels
    s = load_splits(f"cifar10-bin:{tmp_path}", val_fraction=1 / 3)
    assert len(s.x_train) == 20 and len(s.x_val) == 10 and s.class_names == names
    np.testing.assert_array_equal(s.x_test, chw[30:].transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(s.y_test, np.arange(10))


def test_cifar10_binary_errors(tmp_path: Path) -> None:
    name = f"cifar10-bin:{tmp_path}"
    with pytest.raises(DatasetError, match="holds none of data_batch_1.bin"):
        dataset_info(name)
    _records(tmp_path / "data_batch_1.bin", _labels(2), _images(20, (3, 32, 32)))
    with pytest.raises(DatasetError, match="test_batch.bin is missing"):
        dataset_info(name)
    test = tmp_path / "test_batch.bin"
    _records(test, _labels(1), _images(10, (3, 32, 32)))
    test.write_bytes(test.read_bytes()[:-7])
    with pytest.raises(DatasetError, match="30723 bytes is not a multiple of the 3073-byte record"):
        dataset_info(name)
    _records(test, np.full(10, 42), _images(10, (3, 32, 32)))
    with pytest.raises(DatasetError, match="labelled 42"):
        load_splits(name, val_fraction=0.5)


# --- folder:DIR -------------------------------------------------------------------------------


def _png(path: Path, pixels: np.ndarray) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels.squeeze()).save(path)


def test_image_folder_with_train_and_test(tmp_path: Path) -> None:
    images = _images(12, (6, 5, 3))
    for i, image in enumerate(images):
        split = "test" if i % 3 == 2 else "train"
        _png(tmp_path / split / ("cat" if i % 2 else "dog") / f"{i:02d}.png", image)
    info = dataset_info(f"folder:{tmp_path}")
    assert info.image_shape == (6, 5, 3) and info.num_classes == 2
    assert (info.train_size, info.test_size) == (8, 4)
    assert info.pixels.startswith(
        "the image files decoded as rgb (8 bits a channel), resized to 6x5"
    )
    s = load_splits(f"folder:{tmp_path}", val_fraction=0.5)
    assert s.class_names == ["cat", "dog"] and s.x_test.dtype == np.uint8
    expected = _rows((images[[5, 11, 2, 8]], [0, 0, 1, 1]))  # test/cat then test/dog
    assert _rows((s.x_test, s.y_test)) == expected


def test_flat_image_folder_carves_a_fixed_test_split(tmp_path: Path) -> None:
    images = _images(20, (4, 4, 1))
    for i, image in enumerate(images):
        _png(tmp_path / f"c{i % 2}" / f"{i:02d}.png", image)
    assert dataset_info(f"folder:{tmp_path}").image_shape == (4, 4, 1)
    a = load_splits(f"folder:{tmp_path}", val_fraction=0.25, seed=0)
    b = load_splits(f"folder:{tmp_path}", val_fraction=0.25, seed=5)
    assert len(a.x_test) == 4 and np.bincount(a.y_test).tolist() == [2, 2]
    np.testing.assert_array_equal(a.x_test, b.x_test)
    assert _rows((a.x_train, a.y_train), (a.x_val, a.y_val), (a.x_test, a.y_test)) == _rows(
        (images, np.arange(20) % 2)
    )


def test_image_folder_errors(tmp_path: Path) -> None:
    name = f"folder:{tmp_path}"
    with pytest.raises(DatasetError, match="has no class sub-folders"):
        dataset_info(name)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="has no images"):
        dataset_info(name)
    (tmp_path / "empty").rmdir()
    for i in range(6):
        _png(tmp_path / f"c{i % 2}" / f"{i}.png", _images(1, (4, 4, 3))[0])
    bad = tmp_path / "c1" / "9.png"
    bad.write_bytes(b"not a png at all")
    with pytest.raises(DatasetError, match=f"image {bad} cannot be decoded"):
        load_splits(name, val_fraction=0.5)


def test_small_datasets_get_a_larger_validation_share() -> None:
    from sweeps.data import auto_val_fraction

    assert auto_val_fraction(60_000) == 0.1  # MNIST: 6,000 validation images are plenty
    assert auto_val_fraction(1_437) == 0.2  # digits: 287 images instead of 144
    assert auto_val_fraction(2_000) == 0.15
    assert auto_val_fraction(None) == 0.1  # size unknown: the usual share

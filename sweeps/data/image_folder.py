"""``folder:DIR``: one sub-folder of images per class, read by Keras and kept as uint8 arrays.

With ``DIR/train/`` and ``DIR/test/`` those are the splits; otherwise a stratified 20% test
split is carved with the fixed seed ``splits.TEST_SEED`` (as for digits). Every image is
resized to the size of the first image, and decoded with that image's channel count by
TensorFlow's decoder (Pillow only reads the first image's header): a file Pillow can read but
TensorFlow cannot (a TIFF named ``.png``) is reported by :func:`load`, which a sweep calls
once in a child process before its study exists.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from sweeps.data.base import DatasetInfo, RawSplits, one_line
from sweeps.data.splits import TEST_FRACTION, TEST_SEED, carve, carved_size
from sweeps.errors import DatasetError

__all__ = ["info", "load"]

_FORMATS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")  # keras' ALLOWLIST_FORMATS
_GRAY_MODES = {"1", "L", "LA", "I", "I;16", "F"}
_COLOR_MODES = {1: "grayscale", 3: "rgb", 4: "rgba"}


def _class_dirs(directory: Path) -> list[str]:
    # keras' index_directory: sorted, non-hidden sub-folders are the classes.
    names = sorted(p.name for p in directory.iterdir() if p.is_dir())
    return [n for n in names if not n.startswith(".")]


def _images(class_dir: Path) -> list[Path]:
    found = []
    for root, _, files in sorted(os.walk(class_dir), key=lambda entry: entry[0]):
        found += [Path(root, f) for f in sorted(files) if f.lower().endswith(_FORMATS)]
    return found


def _layout(directory: Path) -> tuple[list[Path], list[str]]:
    """The split folders (``[train, test]`` or ``[DIR]``) and the class names, checked."""
    if not directory.is_dir():
        raise DatasetError(
            f"image folder {directory} does not exist: pass a folder with one sub-folder of "
            "images per class (folder:DIR)"
        )
    has_train, has_test = (directory / "train").is_dir(), (directory / "test").is_dir()
    if has_train != has_test:
        raise DatasetError(
            f"{directory} has {'train/' if has_train else 'test/'} but not "
            f"{'test/' if has_train else 'train/'}: add it with the same class sub-folders, or "
            "put the class sub-folders directly in the folder"
        )
    roots = [directory / "train", directory / "test"] if has_train else [directory]
    classes = _class_dirs(roots[0])
    if not classes:
        raise DatasetError(
            f"{roots[0]} has no class sub-folders: put each class's images in their own "
            f"sub-folder, e.g. {roots[0]}/cat/1.png"
        )
    if has_train and _class_dirs(roots[1]) != classes:
        raise DatasetError(
            f"{roots[1]} has class folders {_class_dirs(roots[1])} but {roots[0]} has "
            f"{classes}: give train/ and test/ the same class sub-folders"
        )
    for root in roots:
        for name in classes:
            if not _images(root / name):
                raise DatasetError(
                    f"class folder {root / name} has no images ({', '.join(_FORMATS)}): add "
                    "images or remove the folder"
                )
    if len(classes) < 2:
        raise DatasetError(
            f"{roots[0]} has one class sub-folder ({classes[0]}); a classifier needs at least two: "
            "add a sub-folder of images per class"
        )
    return roots, classes


def _peek(path: Path) -> tuple[tuple[int, int, int], str]:
    """(H, W, C) and Keras color_mode of one image, read from its header only."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            width, height = image.size
            mode = image.mode
    except (OSError, ValueError) as exc:
        raise DatasetError(
            f"image {path} cannot be read ({one_line(exc)}): replace or remove it"
        ) from exc
    channels = 1 if mode in _GRAY_MODES else 4 if mode == "RGBA" else 3
    return (height, width, channels), _COLOR_MODES[channels]


def info(name: str, directory: Path) -> DatasetInfo:
    roots, classes = _layout(directory)
    counts = [sum(len(_images(root / c)) for c in classes) for root in roots]
    shape, mode = _peek(_images(roots[0] / classes[0])[0])
    if len(roots) == 2:
        train_size, test_size = counts
    else:
        test_size = carved_size(counts[0], TEST_FRACTION)
        train_size = counts[0] - test_size
    return DatasetInfo(
        name=name,
        image_shape=shape,
        num_classes=len(classes),
        train_size=train_size,
        test_size=test_size,
        offline=True,
        source=f"image folder {directory} (one sub-folder per class)",
        default_normalization="unit",
        pixels=f"the image files decoded as {mode} (8 bits a channel), resized to "
        f"{shape[0]}x{shape[1]} (bilinear, as keras.utils.image_dataset_from_directory does) and "
        "rounded to uint8 0..255",
    )


def _read(
    root: Path, classes: list[str], shape: tuple[int, int, int], mode: str
) -> tuple[np.ndarray, np.ndarray]:
    import keras
    import tensorflow as tf

    try:
        ds = keras.utils.image_dataset_from_directory(
            root, labels="inferred", label_mode="int", class_names=classes, color_mode=mode,
            batch_size=64, image_size=shape[:2], shuffle=False, verbose=False,
        )  # fmt: skip
    except ValueError as exc:
        raise DatasetError(
            f"image folder {root} cannot be indexed ({exc}): fix its layout"
        ) from exc
    xs, ys = [], []
    try:
        for x, y in ds:
            # Decoded pixels are floats after the (identity, for same-size images) resize.
            xs.append(np.clip(np.round(x.numpy()), 0, 255).astype(np.uint8))
            ys.append(y.numpy().astype(np.int64))
    except tf.errors.OpError as exc:
        remaining = ds.file_paths[sum(len(y) for y in ys) :]
        bad, why = _first_undecodable(remaining, shape[2]) or (root, _reason(exc))
        raise DatasetError(
            f"image {bad} cannot be decoded by TensorFlow, which trains on it ({why}): "
            "replace or remove it"
        ) from exc
    return np.concatenate(xs), np.concatenate(ys)


def _reason(exc: Any) -> str:
    """TensorFlow's message without its graph decorations ({{function_node ...}}, [[...]])."""
    text = re.sub(r"\{\{[^}]*\}\}", "", exc.message or "").split("[[")[0]
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def _first_undecodable(paths: list[str], channels: int) -> tuple[str, str] | None:
    """The first of ``paths`` that training's decoder refuses, and why: the same call Keras'
    image loader makes, with the channel count the folder is read with."""
    import tensorflow as tf

    for path in paths:
        try:
            tf.io.decode_image(tf.io.read_file(path), channels=channels, expand_animations=False)
        except tf.errors.OpError as exc:
            return path, _reason(exc)
    return None


def load(directory: Path) -> RawSplits:
    roots, classes = _layout(directory)
    shape, mode = _peek(_images(roots[0] / classes[0])[0])
    if len(roots) == 2:
        x_train, y_train = _read(roots[0], classes, shape, mode)
        x_test, y_test = _read(roots[1], classes, shape, mode)
    else:
        x, y = _read(roots[0], classes, shape, mode)
        x_train, y_train, x_test, y_test = carve(x, y, TEST_FRACTION, TEST_SEED, what="test")
    return RawSplits(x_train, y_train, x_test, y_test, classes)

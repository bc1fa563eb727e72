"""sweeps.data.make_pipelines on the real digits splits and a small RGB set."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from sweeps.data import Augmentation, PipelineOptions, Splits, load_splits, make_pipelines
from sweeps.errors import DatasetError


@pytest.fixture(scope="module")
def digits() -> Splits:
    return load_splits("digits", val_fraction=0.2, seed=0)


@pytest.fixture(scope="module")
def rgb(digits: Splits) -> Splits:
    """Digits as 3-channel images with very different channels, to see per-channel behaviour."""
    rng = np.random.default_rng(7)

    def color(x: np.ndarray) -> np.ndarray:
        noise = rng.integers(0, 256, size=x.shape, dtype=np.uint8)
        return np.concatenate([x, noise, x // 4], axis=-1)

    return dataclasses.replace(
        digits,
        x_train=color(digits.x_train),
        x_val=color(digits.x_val),
        x_test=color(digits.x_test),
    )


def _epoch(ds) -> tuple[np.ndarray, np.ndarray]:
    batches = list(ds)
    return np.concatenate([x.numpy() for x, _ in batches]), np.concatenate(
        [y.numpy() for _, y in batches]
    )


def test_streams_yield_float_images_and_int_labels_in_batches(digits: Splits) -> None:
    train, val, test = make_pipelines(digits, PipelineOptions(batch_size=100))
    x, y = next(iter(train))
    assert x.dtype.name == "float32" and x.shape == (100, 8, 8, 1)
    assert y.dtype.is_integer and y.shape == (100,)
    x_val, y_val = _epoch(val)
    np.testing.assert_array_equal(y_val, digits.y_val)  # all of val, in order
    np.testing.assert_allclose(x_val, digits.x_val / 255.0, rtol=1e-6)
    assert len(_epoch(test)[1]) == len(digits.y_test)


@pytest.mark.parametrize(("mode", "low", "high"), [("unit", 0.0, 1.0), ("centered", -0.5, 0.5)])
def test_fixed_range_normalisations(digits: Splits, mode: str, low: float, high: float) -> None:
    _, val, _ = make_pipelines(digits, PipelineOptions(batch_size=512, normalization=mode))
    x, _ = _epoch(val)
    assert x.min() == pytest.approx(low) and x.max() == pytest.approx(high)


def test_per_image_standardisation(rgb: Splits) -> None:
    _, _, test = make_pipelines(rgb, PipelineOptions(batch_size=512, normalization="per_image"))
    x, _ = _epoch(test)
    flat = x.reshape(len(x), -1)
    np.testing.assert_allclose(flat.mean(axis=1), 0.0, atol=1e-4)
    np.testing.assert_allclose(flat.std(axis=1), 1.0, atol=1e-3)


def test_train_stats_uses_training_channels_only(rgb: Splits) -> None:
    train, val, _ = make_pipelines(
        rgb, PipelineOptions(batch_size=512, normalization="train_stats")
    )
    x_train, _ = _epoch(train)
    np.testing.assert_allclose(x_train.mean(axis=(0, 1, 2)), 0.0, atol=1e-4)
    np.testing.assert_allclose(x_train.std(axis=(0, 1, 2)), 1.0, atol=1e-3)
    raw = rgb.x_train.astype(np.float64)
    mean, std = raw.mean(axis=(0, 1, 2)), raw.std(axis=(0, 1, 2))
    x_val, _ = _epoch(val)
    np.testing.assert_allclose(x_val, (rgb.x_val - mean) / std, atol=1e-4)


def test_augmentation_changes_training_batches_only(digits: Splits) -> None:
    plain = PipelineOptions(batch_size=256, shuffle_seed=3)
    augmented = dataclasses.replace(
        plain, augmentation=Augmentation(flip=True, translation=0.2, rotation=0.1)
    )
    assert augmented.augmentation.active and not plain.augmentation.active
    base, aug = make_pipelines(digits, plain), make_pipelines(digits, augmented)
    x_base, y_base = _epoch(base[0])
    x_aug, y_aug = _epoch(aug[0])
    np.testing.assert_array_equal(y_base, y_aug)  # same shuffle: the same images, in order
    changed = np.abs(x_base - x_aug).reshape(len(x_base), -1).max(axis=1) > 1e-3
    assert changed.mean() > 0.5
    for plain_stream, aug_stream in zip(base[1:], aug[1:], strict=True):
        for a, b in zip(_epoch(plain_stream), _epoch(aug_stream), strict=True):
            np.testing.assert_array_equal(a, b)


def test_resize_and_channels_apply_to_every_stream(digits: Splits) -> None:
    options = PipelineOptions(batch_size=32, target_size=(16, 20), channels=3)
    for stream in make_pipelines(digits, options):
        x, _ = next(iter(stream))
        assert x.shape == (32, 16, 20, 3)
        np.testing.assert_array_equal(x[..., 0], x[..., 2])  # gray copied into R, G and B


def test_rgb_to_grayscale(rgb: Splits) -> None:
    x, _ = next(iter(make_pipelines(rgb, PipelineOptions(batch_size=8, channels=1))[1]))
    assert x.shape == (8, 8, 8, 1)


def test_train_reshuffles_every_epoch_and_val_test_do_not(digits: Splits) -> None:
    train, val, test = make_pipelines(digits, PipelineOptions(batch_size=512, shuffle_seed=1))
    first, second = _epoch(train)[1], _epoch(train)[1]
    assert not np.array_equal(first, second)
    assert sorted(first) == sorted(second) == sorted(digits.y_train)
    again = make_pipelines(digits, PipelineOptions(batch_size=512, shuffle_seed=1))[0]
    np.testing.assert_array_equal(_epoch(again)[1], first)  # seeded: reproducible
    for stream in (val, test):
        np.testing.assert_array_equal(_epoch(stream)[1], _epoch(stream)[1])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"batch_size": 0},
        {"batch_size": 32, "normalization": "zscore"},
        {"batch_size": 32, "target_size": (0, 32)},
        {"batch_size": 32, "channels": 2},
    ],
)
def test_bad_options_are_dataset_errors(kwargs: dict) -> None:
    with pytest.raises(DatasetError):
        PipelineOptions(**kwargs)


def test_bad_augmentation_is_a_dataset_error() -> None:
    with pytest.raises(DatasetError, match="translation"):
        Augmentation(translation=1.5)


def test_drop_remainder_keeps_train_batches_full_and_val_test_whole(digits: Splits) -> None:
    options = PipelineOptions(batch_size=100, drop_remainder=True)
    train, val, test = make_pipelines(digits, options)
    sizes = [int(y.shape[0]) for _, y in train]
    assert sizes == [100] * (len(digits.y_train) // 100)
    assert options.train_steps(len(digits.y_train)) == len(sizes)
    assert len(_epoch(val)[1]) == len(digits.y_val)  # evaluation streams lose nothing
    assert len(_epoch(test)[1]) == len(digits.y_test)
    # A split smaller than one batch still trains, on its one partial batch.
    tiny = PipelineOptions(batch_size=4096, drop_remainder=True)
    train, _, _ = make_pipelines(digits, tiny)
    assert [int(y.shape[0]) for _, y in train] == [len(digits.y_train)]
    assert tiny.train_steps(len(digits.y_train)) == 1


def test_streams_know_their_number_of_batches(digits: Splits) -> None:
    """fit ends an epoch by the stream's count: without it, the first epoch runs dry, takes a
    step too many, and warns."""
    options = PipelineOptions(batch_size=100, drop_remainder=True)
    train, val, test = make_pipelines(digits, options)
    assert int(train.cardinality()) == options.train_steps(len(digits.y_train))
    assert int(val.cardinality()) == -(-len(digits.y_val) // 100)
    assert int(test.cardinality()) == -(-len(digits.y_test) // 100)


def _tf_image_reference(x: np.ndarray, options: PipelineOptions) -> np.ndarray:
    """What the input block must compute, written with tf.image's own operations."""
    import tensorflow as tf

    out = tf.cast(x, tf.float32)
    if options.target_size:
        out = tf.image.resize(out, options.target_size)
    mode = options.normalization
    if mode == "unit":
        out = out / 255.0
    elif mode == "centered":
        out = out / 255.0 - 0.5
    elif mode == "per_image":
        out = tf.image.per_image_standardization(out)
    else:
        pixels = x.reshape(-1, x.shape[-1]).astype(np.float64)
        out = (out - pixels.mean(axis=0).astype(np.float32)) / pixels.std(axis=0).astype(np.float32)
    have, want = x.shape[-1], options.channels
    if have == 4 and want is not None:
        out, have = out[..., :3], 3
    if (have, want) == (1, 3):
        out = tf.image.grayscale_to_rgb(out)
    elif (have, want) == (3, 1):
        out = tf.image.rgb_to_grayscale(out)
    return out.numpy()


def test_the_input_block_is_tf_images_preprocessing_in_the_pipeline_and_the_saved_model(
    tmp_path,
) -> None:
    """Every normalisation, with and without resizing and channel conversion: the pipeline's
    images are tf.image's, and a model made of the same block gives the same numbers after a
    safe-mode save and load (what an exported model does in front of its network)."""
    import keras

    from search_spaces.preprocessing import NORMALIZATIONS
    from sweeps.data.base import DatasetInfo
    from sweeps.data.pipeline import input_block

    rng = np.random.default_rng(0)
    for channels_in, channels_out in ((1, None), (1, 3), (3, 1), (4, 3)):
        x = rng.integers(0, 256, size=(12, 8, 8, channels_in), dtype=np.uint8)
        y = np.arange(12) % 2
        info = DatasetInfo("t", (8, 8, channels_in), 2, 12, 12, True, "test", "unit")
        splits = Splits(x, y, x, y, x, y, ["a", "b"], info)
        for normalization in NORMALIZATIONS:
            for size in (None, (11, 13)):
                what = f"{normalization} {size} {channels_in}->{channels_out}"
                options = PipelineOptions(
                    batch_size=12, normalization=normalization, target_size=size,
                    channels=channels_out,
                )  # fmt: skip
                want = _tf_image_reference(x, options)
                _, val, _ = make_pipelines(splits, options)
                np.testing.assert_array_equal(next(iter(val))[0].numpy(), want, err_msg=what)
                block = input_block(options, x)
                raw = keras.Input(shape=x.shape[1:], dtype="uint8")
                keras.Model(raw, block(raw)).save(tmp_path / "m.keras")
                loaded = keras.saving.load_model(tmp_path / "m.keras")  # safe mode
                np.testing.assert_array_equal(np.asarray(loaded(x)), want, err_msg=what)
                # The contract names each of these steps, in this order.
                steps = block.steps()
                drops_alpha = channels_in == 4 and channels_out is not None
                left = 3 if drops_alpha else channels_in
                converts = drops_alpha + (channels_out not in (None, left))
                assert len(steps) == 2 + (size is not None) + converts, what
                assert steps[0] == "cast to float32" and ("resize" in steps[1]) == bool(size)
                assert f"normalization '{normalization}'" in steps[1 + (size is not None)]


def test_a_conversion_the_block_does_not_have_is_a_dataset_error(digits: Splits) -> None:
    two = dataclasses.replace(digits, x_train=np.repeat(digits.x_train, 2, axis=-1))
    with pytest.raises(DatasetError, match="cannot convert 2-channel images to 3 channels"):
        make_pipelines(two, PipelineOptions(batch_size=32, channels=3))


def test_a_workers_next_trial_reuses_the_prepared_splits_of_the_same_input_block(
    digits: Splits, rgb: Splits
) -> None:
    """Successive trials of a worker share their splits: the images through the same input
    block (traced map, filled cache) are built once, whatever the batch size, shuffle seed or
    augmentation; another block (normalization) or other splits are prepared anew, and the
    streams are the same as freshly built ones."""
    from sweeps.data import pipeline

    first = make_pipelines(digits, PipelineOptions(batch_size=100, shuffle_seed=1))
    prepared = {role: entry.dataset for role, entry in pipeline._PREPARED.items()}
    assert set(prepared) == {"train", "val", "test"}
    other_trial = PipelineOptions(
        batch_size=32, shuffle_seed=2, augmentation=Augmentation(flip=True)
    )
    second = make_pipelines(digits, other_trial)
    assert {r: e.dataset for r, e in pipeline._PREPARED.items()} == prepared  # reused
    for one, two in zip(_epoch(first[1]), _epoch(second[1]), strict=True):  # val: same images
        np.testing.assert_array_equal(one, two)
    assert sorted(_epoch(second[0])[1]) == sorted(_epoch(first[0])[1])  # train: reshuffled
    make_pipelines(digits, PipelineOptions(batch_size=100, normalization="per_image"))
    renormalized = pipeline._PREPARED["val"].dataset
    assert renormalized is not prepared["val"]
    make_pipelines(rgb, PipelineOptions(batch_size=100, normalization="per_image"))
    assert pipeline._PREPARED["val"].dataset is not renormalized  # other splits

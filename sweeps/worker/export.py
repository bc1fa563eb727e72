"""A trial's network, rebuilt from its parameters, as a model that takes the dataset's raw images.

The network is built exactly as its trial built it, by the trial's own recipe
(:func:`sweeps.worker.recipe.build_network`): the same parameters answered through the same
:class:`~sweeps.worker.hp_adapter.OptunaHyperParameters` adapter (from an
``optuna.trial.FixedTrial``), the same seed, the same input plan; its best-validation weights
come from the trial's checkpoint. In front of it goes the trial's input path as Keras
operations, the pipeline's ``prepare`` step by step (:mod:`sweeps.data.pipeline`): cast to
float, resize (``Resizing`` is ``tf.image.resize``, bilinear), normalise, convert channels. No
augmentation: that is training-time only.

The saved ``.keras`` file holds only built-in layers and ``keras.ops`` operations, and no
optimizer or loss (a network is saved uncompiled), so it loads with plain
``keras.saving.load_model(path)`` (safe mode) in a process that never imported ``sweeps``. It
takes uint8 images of the dataset's own size with values 0..255 (as the dataset's arrays hold
them: :attr:`sweeps.data.base.DatasetInfo.pixels`) and returns logits (apply
``keras.ops.softmax`` for probabilities). Its metadata (study, trial, parameters, and the input
contract: shape, dtype, value range, class names, the preprocessing inside the model) is a
JSON file beside it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import keras
import numpy as np
import optuna
from keras import layers, ops

from search_spaces import SearchSpace, load_space
from sweeps.data import PipelineOptions, Splits, load_splits
from sweeps.data.pipeline import train_stats
from sweeps.errors import ConfigError
from sweeps.model_tasks import ExportResult, InputContract, TrialSpec, metadata_path
from sweeps.trial_questions import TrialSettings, settings_for_trial
from sweeps.worker import checkpoint
from sweeps.worker.hp_adapter import OptunaHyperParameters
from sweeps.worker.recipe import Network, build_network

__all__ = [
    "describe_input_path",
    "export_model",
    "input_contract",
    "input_path",
    "metadata_path",
    "raw_image_model",
    "rebuild_network",
    "restored_network",
    "save_with_metadata",
    "trial_answers",
    "trial_model",
    "trial_splits",
    "uncompiled_copy",
    "use_gpu_memory_growth",
]

# tf.image.rgb_to_grayscale's weights (ITU-R 601-2 luma).
_GRAY_WEIGHTS = np.array([0.2989, 0.5870, 0.1140], dtype=np.float32)


def use_gpu_memory_growth() -> None:
    """Take GPU memory as needed, not all of it: a sweep may be training beside this task."""
    import tensorflow as tf

    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # already initialised in this process
            pass


def trial_splits(spec: TrialSpec) -> Splits:
    """The trial's splits, carved exactly as its worker carved them."""
    config = spec.config
    return load_splits(config.dataset, val_fraction=config.val_fraction, seed=config.seed)


def trial_answers(spec: TrialSpec, splits: Splits) -> tuple[SearchSpace, Any, TrialSettings]:
    """The space, the trial's recorded answers and its settings: what the recipe
    (:mod:`sweeps.worker.recipe`) rebuilds it from.

    Raises:
        search_spaces.SpaceError: the space cannot be loaded.
    """
    config = spec.config
    space = load_space(config.space)
    hp = OptunaHyperParameters(optuna.trial.FixedTrial(spec.params, number=spec.number))
    return space, hp, settings_for_trial(config, splits, spec.number)


def rebuild_network(spec: TrialSpec, splits: Splits) -> Network:
    """Build the trial's network as its trial did: same seed, same answers, same input plan.

    Raises:
        search_spaces.SpaceError: the space cannot be loaded, or the stored parameters no
            longer fit it (the space changed since the sweep).
    """
    space, hp, settings = trial_answers(spec, splits)
    return build_network(space, hp, splits, settings)


def input_path(raw: Any, plan: PipelineOptions, x_train: np.ndarray) -> Any:
    """The pipeline's ``prepare`` on a batch of raw images, as Keras operations.

    Same order as :func:`sweeps.data.make_pipelines`: cast, resize, normalise, convert
    channels. ``x_train`` gives the per-channel statistics of ``train_stats``.
    """
    x = ops.cast(raw, "float32")
    if plan.target_size is not None:
        height, width = (int(s) for s in plan.target_size)
        x = layers.Resizing(height, width, interpolation="bilinear", name="resize")(x)
    if plan.normalization == "unit":
        x = x / 255.0
    elif plan.normalization == "centered":
        x = x / 255.0 - 0.5
    elif plan.normalization == "per_image":  # tf.image.per_image_standardization
        pixels = int(np.prod(x.shape[1:]))
        mean = ops.mean(x, axis=(1, 2, 3), keepdims=True)
        std = ops.std(x, axis=(1, 2, 3), keepdims=True)
        x = (x - mean) / ops.maximum(std, ops.rsqrt(float(pixels)))
    else:  # train_stats: the training part's per-channel mean and std
        mean, std = train_stats(x_train)
        x = (x - mean) / std
    have, want = int(raw.shape[-1]), plan.channels
    if want is None or want == have:
        return x
    if have == 4:  # RGBA from an image folder: the alpha plane is not part of the image
        x, have = x[..., :3], 3
    if (have, want) == (1, 3):
        return ops.concatenate([x, x, x], axis=-1)  # tf.image.grayscale_to_rgb
    if (have, want) == (3, 1):  # tf.image.rgb_to_grayscale
        return ops.expand_dims(ops.tensordot(x, _GRAY_WEIGHTS, axes=[[-1], [-1]]), -1)
    return x


def describe_input_path(plan: PipelineOptions, x_train: np.ndarray) -> list[str]:
    """:func:`input_path`'s steps in words, in its order, for the model's input contract."""
    steps = ["cast to float32"]
    if plan.target_size is not None:
        height, width = (int(s) for s in plan.target_size)
        steps.append(f"resize to {height}x{width} (bilinear, as tf.image.resize)")
    mode = plan.normalization
    if mode == "unit":
        steps.append("divide by 255 (normalization 'unit': values 0..1)")
    elif mode == "centered":
        steps.append("divide by 255, subtract 0.5 (normalization 'centered': values -0.5..0.5)")
    elif mode == "per_image":
        steps.append(
            "subtract each image's mean, divide by its standard deviation or 1/sqrt(its number "
            "of values), whichever is larger (normalization 'per_image', as "
            "tf.image.per_image_standardization)"
        )
    else:
        mean, std = train_stats(x_train)
        steps.append(
            "subtract the training images' per-channel mean "
            f"{[round(float(m), 2) for m in mean]}, divide by their standard deviation "
            f"{[round(float(s), 2) for s in std]} (normalization 'train_stats', on the 0..255 "
            "scale)"
        )
    have, want = int(x_train.shape[-1]), plan.channels
    if want is not None and want != have:
        if have == 4:
            steps.append("drop the alpha channel")
            have = 3
        if (have, want) == (1, 3):
            steps.append("repeat the gray channel as R, G and B")
        elif (have, want) == (3, 1):
            steps.append("convert RGB to gray (ITU-R 601-2 luma, as tf.image.rgb_to_grayscale)")
    return steps


def input_contract(
    preprocessing: list[str], splits: Splits, network: str = "the network"
) -> InputContract:
    """The input contract of a model trained on ``splits`` that does ``preprocessing`` before
    ``network``."""
    return InputContract(
        shape=tuple(int(d) for d in splits.x_train.shape[1:]),
        pixels=splits.info.pixels,
        preprocessing=preprocessing,
        class_names=list(splits.class_names),
        network=network,
    )


def restored_network(spec: TrialSpec, splits: Splits) -> Network:
    """The trial's network rebuilt with its best-validation weights.

    Raises:
        ConfigError: the trial's checkpoint folder holds no best-validation weights (its model
            was not kept).
    """
    rebuilt = rebuild_network(spec, splits)
    folder = Path(spec.checkpoint_dir or "")
    state = checkpoint.load_state(folder) if spec.checkpoint_dir else None
    if state is None or not checkpoint.restore_best(folder, rebuilt.model, state):
        raise ConfigError(
            f"trial {spec.number} of {spec.study!r} has no saved weights in "
            f"{spec.checkpoint_dir!r} (its checkpoint files are missing or unreadable); "
            f"`sweeps refit {spec.number}` retrains it, or choose another trial."
        )
    return rebuilt


def uncompiled_copy(spec: TrialSpec, splits: Splits, trained: keras.Model) -> keras.Model:
    """``trained`` (the trial's network, compiled and trained) as a network that was never
    compiled: rebuilt from the trial's answers, with ``trained``'s weights.

    A compiled network saved inside a model takes its compile state along: the optimizer,
    whose learning-rate schedule is one of :mod:`search_spaces.schedules`' classes, which
    plain Keras cannot load (not even with ``compile=False``: that covers the outer model
    only), and the optimizer's slots, which double the file. The copy has neither.
    """
    network = rebuild_network(spec, splits).model
    network.set_weights(trained.get_weights())
    return network


def raw_image_model(
    network: keras.Model, plan: PipelineOptions, x_train: np.ndarray, name: str
) -> keras.Model:
    """``network`` behind its input path: a model from raw uint8 images (the dataset's own
    size, values 0..255) to logits."""
    raw = keras.Input(shape=x_train.shape[1:], dtype="uint8", name="image")
    return keras.Model(raw, network(input_path(raw, plan, x_train)), name=name)


def trial_model(spec: TrialSpec, splits: Splits, name: str | None = None) -> keras.Model:
    """The trial's network with its best-validation weights, behind its input path: a model
    from raw uint8 images (the dataset's own size) to logits.

    Raises:
        ConfigError: the trial's model was not kept.
    """
    rebuilt = restored_network(spec, splits)
    return raw_image_model(
        rebuilt.model, rebuilt.options, splits.x_train, name or f"trial_{spec.number}"
    )


def save_with_metadata(
    model: keras.Model, out: str, metadata: dict[str, Any], contract: InputContract
) -> ExportResult:
    """Save ``model`` to ``out`` (``.keras``) and its metadata and input contract as JSON
    beside it."""
    path = Path(out)
    model.save(path)
    details = {
        **metadata,
        **contract.as_json(),
        "load": "keras.saving.load_model(path): plain Keras, safe mode, no sweeps needed",
        "keras_version": keras.__version__,
    }
    metadata_path(path).write_text(json.dumps(details, indent=2, default=str) + "\n")
    return ExportResult(
        path=str(path.resolve()),
        metadata_path=str(metadata_path(path).resolve()),
        contract=contract,
    )


def export_model(spec: TrialSpec, out: str) -> ExportResult:
    """Write the trial's model (raw images in, logits out) to ``out`` with its metadata.

    Runs in a spawned child (:func:`sweeps.spawn.run_in_child`).

    Raises:
        ConfigError: the trial's model was not kept.
    """
    use_gpu_memory_growth()
    splits = trial_splits(spec)
    rebuilt = restored_network(spec, splits)
    model = raw_image_model(rebuilt.model, rebuilt.options, splits.x_train, f"trial_{spec.number}")
    contract = input_contract(describe_input_path(rebuilt.options, splits.x_train), splits)
    return save_with_metadata(model, out, spec.metadata(list(splits.class_names)), contract)

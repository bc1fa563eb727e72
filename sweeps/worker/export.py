"""A trial's network, rebuilt from its parameters, as a model that takes the dataset's raw images.

The network is built exactly as its trial built it, by the trial's own recipe
(:func:`sweeps.worker.recipe.build_network`): the same parameters answered through the same
:class:`~sweeps.worker.hp_adapter.OptunaHyperParameters` adapter (from an
``optuna.trial.FixedTrial``), the same seed, the same input plan; its best-validation weights
come from the trial's checkpoint. In front of it goes the trial's input block
(:class:`search_spaces.preprocessing.InputBlock`), the very block its tf.data pipeline ran
while it trained and was scored: cast to float, resize, normalise, convert channels. No
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
import optuna

from search_spaces import SearchSpace
from search_spaces.preprocessing import InputBlock
from sweeps.data import Splits, load_splits
from sweeps.errors import ConfigError
from sweeps.model_tasks import ExportResult, InputContract, TrialSpec, metadata_path
from sweeps.space_access import load_space
from sweeps.trial_questions import TrialSettings, settings_for_trial
from sweeps.worker import checkpoint
from sweeps.worker.hp_adapter import OptunaHyperParameters
from sweeps.worker.recipe import Network, build_network

__all__ = [
    "export_model",
    "input_contract",
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
        SpaceError: the space cannot be loaded.
    """
    config = spec.config
    space = load_space(config.space)
    hp = OptunaHyperParameters(optuna.trial.FixedTrial(spec.params, number=spec.number))
    return space, hp, settings_for_trial(config, splits, spec.number)


def rebuild_network(spec: TrialSpec, splits: Splits) -> Network:
    """Build the trial's network as its trial did: same seed, same answers, same input plan.

    Raises:
        SpaceError: the space cannot be loaded, or the stored parameters no
            longer fit it (the space changed since the sweep).
    """
    space, hp, settings = trial_answers(spec, splits)
    return build_network(space, hp, splits, settings)


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
    network: keras.Model, block: InputBlock, image_shape: tuple[int, ...], name: str
) -> keras.Model:
    """``network`` behind its input block: a model from raw uint8 images (of the dataset's
    own ``image_shape``, values 0..255) to logits."""
    raw = keras.Input(shape=tuple(image_shape), dtype="uint8", name="image")
    return keras.Model(raw, network(block(raw)), name=name)


def trial_model(spec: TrialSpec, splits: Splits, name: str | None = None) -> keras.Model:
    """The trial's network with its best-validation weights, behind its input block: a model
    from raw uint8 images (the dataset's own size) to logits.

    Raises:
        ConfigError: the trial's model was not kept.
    """
    rebuilt = restored_network(spec, splits)
    name = name or f"trial_{spec.number}"
    return raw_image_model(rebuilt.model, rebuilt.block, splits.x_train.shape[1:], name)


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
    shape = splits.x_train.shape[1:]
    model = raw_image_model(rebuilt.model, rebuilt.block, shape, f"trial_{spec.number}")
    contract = input_contract(rebuilt.block.steps(), splits)
    return save_with_metadata(model, out, spec.metadata(list(splits.class_names)), contract)

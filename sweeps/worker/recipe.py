"""One trial recipe: from a space, a trial's answers, the splits and its settings, everything
the trial trains with.

The trainer, the learning-rate range test, refit and the KerasTuner adapter train what
:func:`build_trial` returns; export, ensembles and the preflight take the network of
:func:`build_network`, its first half. A change to how a trial is built is made here once, so
refit and export keep reproducing their trial (tests/test_layout.py checks that the questions,
the pipelines and the compile are reached from here only).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import keras

from search_spaces import InputSpec, SearchSpace, tunables
from search_spaces.preprocessing import InputBlock
from sweeps.data import Augmentation, PipelineOptions, Splits, make_pipelines
from sweeps.data.pipeline import input_block
from sweeps.space_access import build_model
from sweeps.trial_questions import TrialSettings, ask_trial_questions

if TYPE_CHECKING:
    import tensorflow as tf

__all__ = ["InputPlan", "Network", "Trial", "build_network", "build_trial", "input_plan"]


@dataclass(frozen=True)
class InputPlan:
    """The model's input, and how the pipeline gets the dataset's images there."""

    spec: InputSpec
    target_size: tuple[int, int] | None  # resize to (H, W); None: the images fit as they are
    channels: int | None  # convert to this many channels; None: keep them
    facts: dict[str, Any]  # for the trial's record: input_shape, and resized_from if resized


def input_plan(space: SearchSpace, splits: Splits, weights: str | None = None) -> InputPlan:
    """Resize what is smaller than the space accepts, convert channels it does not take."""
    shape = tuple(int(d) for d in splits.x_train.shape[1:])
    target = space.input_size_for(shape)
    channels = space.channels_for(shape[2])
    model_shape = (*(target or shape[:2]), channels or shape[2])
    facts = {"input_shape": "x".join(map(str, model_shape))}
    if target or channels:
        facts["resized_from"] = "x".join(map(str, shape))
    spec = InputSpec(model_shape, splits.info.num_classes, weights=weights)
    return InputPlan(spec, target, channels, facts)


@dataclass
class Network:
    """A trial's network as its trial built it (same seed, answers and input), uncompiled."""

    recipe: tunables.TrainingRecipe  # the training answers (a retry's batch size in place)
    plan: InputPlan
    model: keras.Model
    options: PipelineOptions  # how the trial's pipelines feed it
    block: InputBlock  # raw images to the model's input: the pipelines' map, and an export's


@dataclass
class Trial:
    """A trial ready to train: its network compiled, and its three streams."""

    network: Network
    train: tf.data.Dataset  # shuffled each epoch and augmented
    val: tf.data.Dataset
    test: tf.data.Dataset
    steps_per_epoch: int  # of the train stream

    @property
    def recipe(self) -> tunables.TrainingRecipe:
        return self.network.recipe

    @property
    def spec(self) -> InputSpec:
        return self.network.plan.spec

    @property
    def model(self) -> keras.Model:
        return self.network.model

    @property
    def optimizer(self) -> keras.optimizers.Optimizer:
        return self.network.model.optimizer


def build_network(space: SearchSpace, hp: Any, splits: Splits, settings: TrialSettings) -> Network:
    """Ask ``hp`` the trial's questions (training first, then the space's own in ``build``)
    and build its network, seeded by the trial so a rebuild starts from the same weights."""
    keras.utils.set_random_seed(settings.seed)
    recipe = ask_trial_questions(hp, space, settings)
    if settings.batch_size:
        recipe = dataclasses.replace(recipe, batch_size=settings.batch_size)
    plan = input_plan(space, splits, settings.weights)
    model = build_model(space, hp, plan.spec)
    augmentation = Augmentation(recipe.flip, recipe.translation, recipe.rotation)
    options = PipelineOptions(
        batch_size=recipe.batch_size,
        normalization=recipe.normalization,
        target_size=plan.target_size,
        channels=plan.channels,
        augmentation=augmentation if settings.augment else Augmentation(),
        shuffle_seed=settings.seed,
        drop_remainder=True,  # one traced train step per trial (see PipelineOptions)
    )
    return Network(recipe, plan, model, options, input_block(options, splits.x_train))


def build_trial(space: SearchSpace, hp: Any, splits: Splits, settings: TrialSettings) -> Trial:
    """The trial's network, its train, val and test streams, and its compiled optimizer."""
    network = build_network(space, hp, splits, settings)
    train, val, test = make_pipelines(splits, network.options)
    steps_per_epoch = network.options.train_steps(len(splits.y_train))
    recipe, schedule_steps = network.recipe, steps_per_epoch
    if settings.rate_ramp:  # one schedule "epoch" per step: the rate grows every step
        ramp = settings.rate_ramp
        recipe = dataclasses.replace(
            recipe,
            learning_rate=ramp.start,
            schedule="exponential",
            schedule_args={"rate": ramp.growth, "every": 1},
        )
        schedule_steps = 1
    tunables.compile_model(network.model, recipe, schedule_steps, settings.epochs)
    return Trial(network, train, val, test, steps_per_epoch)

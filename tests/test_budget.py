"""Ranges that fit a trial's budget, and batch norm that settles within one epoch."""

from __future__ import annotations

import math

import keras
import keras_tuner as kt
import numpy as np
import pytest

from search_spaces import BUILTIN_SPACES, InputSpec, load_space, tunables
from search_spaces import schedules as s
from sweeps.config import auto_workers, usable_cores
from sweeps.worker.checkpoint import LoopState
from sweeps.worker.trainer import early_stopping_due, update_patience

DIGITS = tunables.TrainingBudget(train_size=1150, epochs=20)  # a default digits trial
CIFAR = tunables.TrainingBudget(train_size=45000, epochs=20)


def _choices(hp: kt.HyperParameters, name: str) -> list:
    return list(next(p for p in hp.space if p.name == name).values)


def _range(hp: kt.HyperParameters, name: str) -> tuple[float, float]:
    p = next(p for p in hp.space if p.name == name)
    return p.min_value, p.max_value


def _asked(schedule: str, budget: tunables.TrainingBudget, **baseline) -> kt.HyperParameters:
    hp = kt.HyperParameters()
    tunables.ask_training(hp, {"schedule": schedule, **baseline}, budget=budget)
    return hp


def test_batch_sizes_leave_enough_steps() -> None:
    hp = _asked("constant", DIGITS)
    kept = _choices(hp, "batch_size")
    assert kept == [32, 64, 100]  # 128 leaves 8 steps an epoch, 160 in the trial
    assert all(DIGITS.steps(b) >= tunables.MIN_TRIAL_STEPS for b in kept)
    assert _choices(_asked("constant", CIFAR), "batch_size") == list(tunables.BATCH_SIZES)
    # The baseline's own batch size stays, however few steps it leaves.
    assert 256 in _choices(_asked("constant", DIGITS, batch_size=256), "batch_size")


def test_step_decays_fall_at_shares_of_the_run() -> None:
    assert _choices(_asked("step", DIGITS), "step_epochs") == ["10", "7,13", "10,15"]
    long = tunables.TrainingBudget(45000, 90)
    assert _choices(_asked("step", long), "step_epochs") == ["45", "30,60", "45,68"]


@pytest.mark.parametrize("epochs", [5, 20, 100])
def test_decays_keep_a_hundredth_of_the_rate_at_the_last_epoch(epochs: int) -> None:
    budget = tunables.TrainingBudget(45000, epochs)
    steps = budget.train_size // 64
    last_step = (epochs - 1) * steps
    low, _ = _range(_asked("exponential", budget), "decay_rate")
    fastest = s.ExponentialSchedule(1.0, steps, low)
    assert float(fastest(last_step)) >= tunables.MIN_FINAL_SHARE * (1 - 1e-4)
    _, high = _range(_asked("time_based", budget), "time_decay")
    fastest = s.TimeBasedSchedule(1.0, steps, high)
    assert float(fastest(last_step)) >= tunables.MIN_FINAL_SHARE * (1 - 1e-4)
    if epochs >= 20:  # long enough for the bound to bind: it sits at the hundredth
        assert float(fastest(last_step)) == pytest.approx(tunables.MIN_FINAL_SHARE, rel=1e-3)


def test_cycles_are_epochs_long_and_fit_the_run() -> None:
    steps = _choices(_asked("cyclical", DIGITS, batch_size=100), "cycle_steps")
    assert steps == [11, 22, 44]  # 1, 2 and 4 epochs of 11 batches
    short = tunables.TrainingBudget(1150, 3)
    assert max(_choices(_asked("cyclical", short, batch_size=100), "cycle_steps")) <= 3 * 11 // 2


def test_momentum_and_augmentation_stay_where_a_short_trial_trains() -> None:
    hp = kt.HyperParameters()
    tunables.ask_training(hp, {"optimizer": "sgd"}, augmentations=("translation", "rotation"))
    assert _range(hp, "momentum") == (0.8, 0.95)
    assert _range(hp, "translation")[1] == tunables.TRANSLATION_MAX
    assert _range(hp, "rotation")[1] == tunables.ROTATION_MAX
    # A notebook's plain SGD (momentum 0) stays searchable.
    hp = kt.HyperParameters()
    tunables.ask_training(hp, {"optimizer": "sgd", "momentum": 0.0})
    assert _range(hp, "momentum") == (0.0, 0.95)


@pytest.mark.parametrize("name", sorted(BUILTIN_SPACES))
def test_every_baseline_survives_a_small_budget(name: str) -> None:
    space = load_space(name)
    hp = kt.HyperParameters()
    recipe = tunables.ask_training(
        hp, space.baseline, normalization=space.info.normalization,
        augmentations=space.info.augmentations, budget=tunables.TrainingBudget(1150, 5),
    )  # fmt: skip
    for parameter in hp.space:
        if hp.is_active(parameter) and parameter.name in space.baseline:
            assert hp.values[parameter.name] == space.baseline[parameter.name], parameter.name
    assert recipe.batch_size == space.baseline["batch_size"]


def test_batch_norm_forgets_its_start_within_an_epoch() -> None:
    for steps in (1, 11, 36, 100):
        momentum = tunables.batch_norm_momentum(steps)
        assert momentum**steps <= tunables.BATCH_NORM_FORGET + 1e-9
    assert tunables.batch_norm_momentum(700) == 0.99  # CIFAR-sized epochs keep Keras' default

    inner = keras.Sequential([keras.Input((4,)), keras.layers.BatchNormalization()])
    frozen = keras.layers.BatchNormalization()
    frozen.trainable = False
    inputs = keras.Input((4,))
    outputs = keras.layers.Dense(2)(frozen(keras.layers.BatchNormalization()(inner(inputs))))
    model = keras.Model(inputs, outputs)
    recipe = tunables.ask_training(kt.HyperParameters(), {})
    tunables.compile_model(model, recipe, steps_per_epoch=11, epochs=5)
    inner_bn = inner.layers[-1]
    outer_bn = next(
        layer
        for layer in model.layers
        if isinstance(layer, keras.layers.BatchNormalization) and layer is not frozen
    )
    assert inner_bn.momentum == outer_bn.momentum == pytest.approx(0.05 ** (1 / 11))
    assert frozen.momentum == 0.99  # a frozen (pretrained) layer is left alone


def test_a_short_trial_with_batch_norm_validates_above_chance() -> None:
    """The mechanism end to end: 3 epochs of 11 steps, scored in inference mode."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1100, 8, 8, 1)).astype("float32")
    y = (x[:, :4].mean(axis=(1, 2, 3)) > 0).astype("int64")
    keras.utils.set_random_seed(0)
    space = load_space("mnist_cnn")
    hp = kt.HyperParameters()
    hp.Fixed("batch_norm", True)
    model = space.build(hp, InputSpec((8, 8, 1), 2))
    recipe = tunables.ask_training(hp, {"batch_size": 100})
    tunables.compile_model(model, recipe, steps_per_epoch=11, epochs=3)
    model.fit(x, y, batch_size=100, epochs=3, verbose=0)
    _, accuracy = model.evaluate(x, y, verbose=0)
    assert accuracy > 0.75


def test_patience_restarts_only_on_a_clear_rise() -> None:
    state, min_rise = LoopState(), 2 / 300 - 1e-9
    waits = []
    for images in (270, 271, 272, 271, 274, 275):
        update_patience(state, images / 300, min_rise)
        waits.append(state.wait)
    # One image up does not restart the wait, two do (counted from the last restart).
    assert waits == [0, 1, 0, 1, 0, 1]


def _waited(curve: list[float], val_size: int) -> LoopState:
    state, min_rise = LoopState(), 2 / val_size - 1e-9
    for value in curve:
        update_patience(state, value, min_rise)
        state.history.append({"val_accuracy": value})
    return state


def test_early_stopping_spares_a_climbing_curve_and_stops_a_plateau() -> None:
    """all_cnn's own recipe on the shapes folder (240 validation images): a lucky epoch set
    the mark at 0.42, and five epochs climbed within noise of it; the plain patience rule
    stopped it there, at a curve that went on to 0.9."""
    climbing = [0.2, 0.3, 0.42, 0.33, 0.36, 0.38, 0.40, 0.42]
    plateau = [0.2, 0.3, 0.42, 0.39, 0.41, 0.38, 0.40, 0.41]
    assert _waited(climbing, 240).wait == _waited(plateau, 240).wait == 5
    assert not early_stopping_due(_waited(climbing, 240), 5, 240)
    assert early_stopping_due(_waited(plateau, 240), 5, 240)
    # The same climb on a split a tenth the size is within noise: stopped.
    assert early_stopping_due(_waited([v for v in climbing], 24), 5, 24)
    # Before the wait is over, or without patience, nothing stops.
    assert not early_stopping_due(_waited(plateau[:-1], 240), 5, 240)
    assert not early_stopping_due(_waited(plateau, 240), None, 240)


def test_a_converged_trial_still_stops_though_it_creeps_up_by_an_image() -> None:
    """mnist_cnn on digits (288 validation images) near its plateau: a creep of one image
    every other epoch is no trend worth epochs."""
    creeping = [i / 288 for i in (280, 282, 281, 282, 281, 283, 282)]
    assert early_stopping_due(_waited(creeping, 288), 5, 288)


def test_early_stopping_spares_a_plateau_the_baseline_climbed_out_of() -> None:
    """all_cnn on the shapes folder: a near-twin of the baseline sat at 0.43-0.49 for five
    epochs and was stopped after epoch 10, where the baseline (0.42 by then) went on to 0.88."""
    plateau = [0.30, 0.32, 0.33, 0.45, 0.49, 0.43, 0.49, 0.38, 0.49, 0.48]
    slow = [0.23, 0.22, 0.28, 0.42, 0.20, 0.30, 0.33, 0.29, 0.36, 0.38, 0.35, 0.42, 0.45, 0.59,
            0.62, 0.74, 0.65, 0.77, 0.61, 0.88]  # fmt: skip
    baseline = dict(enumerate(slow, start=1))
    state = _waited(plateau, 240)
    state.epoch = len(plateau)
    assert early_stopping_due(state, 5, 240)  # on its own: a plateau
    assert not early_stopping_due(state, 5, 240, lambda: baseline)
    # Far below the baseline's level at the same epoch: stopped.
    low = _waited([0.2, 0.25, 0.3, 0.28, 0.27, 0.29, 0.28, 0.3, 0.29, 0.28], 240)
    low.epoch = 10
    assert early_stopping_due(low, 5, 240, lambda: {**baseline, 4: 0.6})
    # A baseline that learned at once and then crept within noise spares nothing.
    quick = {1: 0.95, 2: 0.97, 3: 0.97, 12: 0.975, 20: 0.98}
    converged = _waited([0.9, 0.96, 0.97, 0.965, 0.97, 0.96, 0.965, 0.97, 0.965, 0.97], 288)
    converged.epoch = 10
    assert early_stopping_due(converged, 5, 288, lambda: quick)
    # A baseline not yet past this epoch shows nothing yet.
    assert early_stopping_due(state, 5, 240, lambda: {e: v for e, v in baseline.items() if e <= 10})


def test_auto_workers_one_per_core_and_a_quarter_of_the_trials() -> None:
    cores = usable_cores()
    assert auto_workers(16) == max(1, min(cores, 4))
    assert auto_workers(3) == 1  # a tiny sweep: the sampler needs finished trials first
    assert auto_workers(10_000) == cores
    assert math.isclose(auto_workers(1), 1)


def test_a_space_without_a_baseline_gets_defaults_inside_the_fitted_ranges() -> None:
    tiny = tunables.TrainingBudget(train_size=300, epochs=1)  # only batch 32 is left
    for schedule in tunables.SCHEDULES:
        hp = kt.HyperParameters()
        recipe = tunables.ask_training(hp, {"schedule": schedule}, budget=tiny)
        assert recipe.batch_size == 32

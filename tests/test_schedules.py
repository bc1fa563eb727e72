"""Every schedule gives the rate its notebook used, epoch by epoch, and keeps it across a restore.

The expected rates are computed the way each notebook computed them (its own loop or callback
re-enacted in plain Python), not from our schedule's formula.
"""

from __future__ import annotations

import math

import keras
import keras_tuner as kt
import pytest

from search_spaces import all_cnn, leaky_cnn, mlp, mnist_cnn, resnet, schedules, tunables

STEPS = 7  # steps per epoch in these tests; any value works, 7 catches off-by-one epochs


def recipe_for(baseline: dict) -> tunables.TrainingRecipe:
    return tunables.ask_training(kt.HyperParameters(), baseline)


def rate(schedule, epoch: int) -> float:
    """The rate at the first step of 0-based ``epoch``."""
    return schedules.learning_rate_at_epoch(schedule, epoch, STEPS)


def test_all_cnn_step_decay_follows_notebook_000():
    schedule = tunables.make_schedule(recipe_for(all_cnn.BASELINE), STEPS, epochs=150)
    # Notebook 000: `for epoch in range(1, 150): if epoch in [...]: lr *= 0.7`, epochs from 1.
    lr, notebook = 0.021, {}
    for epoch in range(1, 150):
        if epoch in [15, 40, 75, 90, 115, 140]:
            lr *= 0.7
        notebook[epoch] = lr
    for epoch, expected in notebook.items():
        assert rate(schedule, epoch - 1) == pytest.approx(expected, rel=1e-6), epoch
    assert rate(schedule, 14 - 1) == pytest.approx(0.021)
    assert rate(schedule, 15 - 1) == pytest.approx(0.021 * 0.7)
    assert rate(schedule, 39 - 1) == pytest.approx(0.021 * 0.7)
    assert rate(schedule, 40 - 1) == pytest.approx(0.021 * 0.7**2)
    # The last step of the 14th epoch still runs at the initial rate.
    assert float(schedule(14 * STEPS - 1)) == pytest.approx(0.021)


def test_leaky_cnn_exponential_follows_notebook_002():
    schedule = tunables.make_schedule(recipe_for(leaky_cnn.BASELINE), STEPS, epochs=10)
    # Notebook 002: LearningRateScheduler(lambda epoch: INIT_LR * 0.9 ** epoch), epochs from 0.
    for k in range(10):
        assert rate(schedule, k) == pytest.approx(5e-3 * 0.9**k, rel=1e-6), k


def test_mnist_cnn_staircase_follows_notebook_003():
    baseline = {**mnist_cnn.BASELINE, "schedule": "staircase", "decay_rate": 0.5,
                "decay_epochs": 5}  # fmt: skip
    schedule = tunables.make_schedule(recipe_for(baseline), STEPS, epochs=15)
    # Notebook 003: ExponentialDecay(lr, decay_steps=5 epochs of steps, 0.5, staircase=True).
    notebook = keras.optimizers.schedules.ExponentialDecay(
        1e-3, decay_steps=5 * STEPS, decay_rate=0.5, staircase=True
    )
    for step in range(0, 15 * STEPS, 3):
        assert float(schedule(step)) == pytest.approx(float(notebook(step)), rel=1e-6), step
    assert [rate(schedule, e) for e in (4, 5, 10)] == pytest.approx([1e-3, 5e-4, 2.5e-4])


def test_mlp_time_based_decay_follows_notebook_004():
    schedule = tunables.make_schedule(recipe_for(mlp.BASELINE), STEPS, epochs=100)

    # Notebook 004: LearningRateScheduler(partial(lr_time_based_decay, in_lr)); Keras hands the
    # function the optimizer's current rate, so each epoch divides the previous epoch's rate.
    def lr_time_based_decay(in_lr, epoch, lr):
        return lr * 1 / (1 + (in_lr / 150) * epoch)

    lr = 0.1
    for epoch in range(100):
        lr = lr_time_based_decay(0.1, epoch, lr)
        assert rate(schedule, epoch) == pytest.approx(lr, rel=1e-5), epoch
    # Not the uncompounded lr / (1 + decay * epoch), which would still be 0.094 at epoch 99.
    assert rate(schedule, 99) == pytest.approx(
        0.1 / math.prod(1 + 0.1 / 150 * k for k in range(1, 100)), rel=1e-5
    )
    assert rate(schedule, 99) < 0.01


def test_resnet_cyclical_follows_notebook_004():
    baseline = {**resnet.BASELINE, "optimizer": "adam", "learning_rate": 5e-3,
                "schedule": "cyclical", "cycle_steps": 800, "cycle_base_ratio": 0.01,
                "cycle_decay": 1.2}  # fmt: skip
    schedule = tunables.make_schedule(recipe_for(baseline), STEPS, epochs=100)

    # Notebook 004: tensorflow_addons' CyclicalLearningRate(5e-5, 5e-3, step_size=800,
    # scale_fn=lambda x: 1 / 1.2 ** (x - 1), scale_mode="cycle").
    def notebook(step):
        cycle = math.floor(1 + step / (2 * 800))
        x = abs(step / 800 - 2 * cycle + 1)
        return 5e-5 + (5e-3 - 5e-5) * max(0.0, 1 - x) / 1.2 ** (cycle - 1)

    for step in [0, 400, 800, 1200, 1600, 2000, 2400, 3200, 4000, 5000]:
        assert float(schedule(step)) == pytest.approx(notebook(step), rel=1e-5), step
    assert float(schedule(0)) == pytest.approx(5e-5)
    assert float(schedule(800)) == pytest.approx(5e-3)
    assert float(schedule(1600)) == pytest.approx(5e-5)
    assert float(schedule(2400)) == pytest.approx(5e-5 + (5e-3 - 5e-5) / 1.2)


ALL_SCHEDULES = {
    "constant": {},
    "step": {"step_epochs": "15,40,75,90,115,140", "step_factor": 0.7},
    "exponential": {"decay_rate": 0.9},
    "staircase": {"decay_rate": 0.5, "decay_epochs": 5},
    "time_based": {"time_decay": 0.1 / 150},
    "cosine": {},
    "cyclical": {"cycle_steps": 50, "cycle_base_ratio": 0.01, "cycle_decay": 1.2},
}


def test_every_schedule_is_tested():
    assert set(ALL_SCHEDULES) == set(tunables.SCHEDULES)


@pytest.mark.parametrize("name", list(ALL_SCHEDULES))
def test_schedule_survives_restore(name):
    """A restored optimizer (iterations = epoch * steps) is at the same point of its schedule."""
    recipe = recipe_for({"optimizer": "sgd", "learning_rate": 0.02, "schedule": name,
                         **ALL_SCHEDULES[name]})  # fmt: skip
    fresh = tunables.make_schedule(recipe, STEPS, epochs=150)
    for epoch in [0, 1, 14, 15, 39, 40, 99, 149]:
        optimizer = tunables.make_optimizer(recipe, STEPS, epochs=150)
        optimizer.iterations.assign(epoch * STEPS)
        assert float(optimizer.learning_rate) == pytest.approx(rate(fresh, epoch), rel=1e-6)
        # ...and so is a copy rebuilt from its saved config, as a checkpoint holds it.
        copy = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
        copy.iterations.assign(epoch * STEPS)
        assert float(copy.learning_rate) == pytest.approx(rate(fresh, epoch), rel=1e-6)


@pytest.mark.parametrize("name", ["step", "exponential", "staircase", "time_based", "cosine"])
def test_epoch_schedules_hold_within_an_epoch(name):
    recipe = recipe_for({"learning_rate": 0.02, "schedule": name, **ALL_SCHEDULES[name]})
    schedule = tunables.make_schedule(recipe, STEPS, epochs=20)
    for epoch in [0, 4, 5, 14]:
        first, last = epoch * STEPS, (epoch + 1) * STEPS - 1
        assert float(schedule(last)) == pytest.approx(float(schedule(first)), rel=1e-7)


def test_epoch_count_is_exact_at_large_steps():
    schedule = schedules.StepDecaySchedule(1.0, 3, boundaries=[10_000_001], factor=0.5)
    assert float(schedule(3 * 10_000_000 - 1)) == 1.0  # last step of epoch 10,000,000
    assert float(schedule(3 * 10_000_000)) == 0.5  # first step of epoch 10,000,001


@pytest.mark.parametrize("name", list(ALL_SCHEDULES))
def test_a_refit_keeps_per_epoch_rates_and_the_cyclical_step_size(name):
    """A refit trains on train+val: more steps an epoch (digits at batch 100: 11 in the trial,
    14 in the refit; sweeps/worker/refit.py compiles with the merged split's steps). Epoch
    schedules give the trial's rate at every epoch; the cyclical one the trial's rate at every
    step, so its half-cycle stays `cycle_steps` long."""
    recipe = recipe_for({"optimizer": "sgd", "learning_rate": 0.02, "schedule": name,
                         **ALL_SCHEDULES[name]})  # fmt: skip
    trial, refit = 1149 // 100, 1437 // 100
    in_trial = tunables.make_schedule(recipe, trial, epochs=150)
    in_refit = tunables.make_schedule(recipe, refit, epochs=150)
    if name == "cyclical":
        for step in range(0, 400, 7):
            assert float(in_refit(step)) == pytest.approx(float(in_trial(step)), rel=1e-6)
        assert float(in_refit(50)) == pytest.approx(0.02)  # the top of the first half-cycle
    else:
        for epoch in range(0, 150, 3):
            assert schedules.learning_rate_at_epoch(in_refit, epoch, refit) == pytest.approx(
                schedules.learning_rate_at_epoch(in_trial, epoch, trial), rel=1e-6
            ), epoch

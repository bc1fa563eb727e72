"""The learning-rate range test: on scripted loss curves, then once in a real tiny sweep."""

from __future__ import annotations

import math

import numpy as np
import optuna
import pytest
from typer.testing import CliRunner

import sweeps
from sweeps.worker.lr_finder import (
    BACKOFF,
    DECADES,
    STEPS,
    _LossRecorder,
    _test_family,
    below,
    covering_baseline,
    smooth,
    suggest_range,
)
from tests.conftest import invoke

RATES = list(np.geomspace(1e-5, 1.0, 100))


def _curve(best_rate: float, diverge_rate: float, noise: float = 0.0) -> list[float]:
    """A range test's loss: flat at 2.3 for tiny rates, falling to its lowest at ``best_rate``,
    then exploding from ``diverge_rate`` on (the shape Smith's paper shows)."""
    rng = np.random.default_rng(0)
    losses = []
    for rate in RATES:
        progress = min(1.0, max(0.0, math.log10(rate / 1e-4) / math.log10(best_rate / 1e-4)))
        loss = 2.3 - 1.5 * progress
        if rate > diverge_rate:
            loss = 0.8 * (rate / diverge_rate) ** 3
        losses.append(loss + noise * rng.standard_normal())
    return losses


def test_the_range_ends_below_the_lowest_loss_before_divergence() -> None:
    low, high = suggest_range(RATES, _curve(best_rate=1e-2, diverge_rate=3e-2))
    # The edge is at or past the lowest raw loss, and (smoothing lags the raw curve by a few
    # steps) not far past where the loss explodes; the range ends a BACKOFF below it.
    assert 1e-2 <= high * BACKOFF <= 2 * 3e-2
    assert low == pytest.approx(high / 10**DECADES)


def test_noise_does_not_move_the_range_much() -> None:
    low, high = suggest_range(RATES, _curve(best_rate=1e-3, diverge_rate=5e-3, noise=0.05))
    assert 1e-3 <= high * BACKOFF <= 2 * 5e-3


def test_a_curve_that_never_falls_says_nothing() -> None:
    flat = [2.3 + 0.01 * math.sin(i) for i in range(100)]
    assert suggest_range(RATES, flat) is None
    assert suggest_range(RATES[:5], _curve(1e-2, 3e-2)[:5]) is None  # too short to tell


def test_non_finite_losses_are_ignored() -> None:
    losses = _curve(best_rate=1e-2, diverge_rate=3e-2)
    losses[-10:] = [float("nan")] * 10  # the test stopped on a NaN loss
    low, high = suggest_range(RATES, losses)
    assert 1e-2 <= high * BACKOFF <= 2 * 3e-2


def test_smoothing_is_bias_corrected() -> None:
    # A constant stays itself from the first value on (no pull towards 0)...
    assert smooth([2.0, 2.0, 2.0]) == pytest.approx([2.0, 2.0, 2.0])
    # ... and a step is averaged in with weight (1 - beta), corrected by 1 - beta ** n.
    beta = 0.85
    first, second = 1.0, ((1 - beta) * beta * 1.0 + (1 - beta) * 3.0) / (1 - beta**2)
    assert smooth([1.0, 3.0], beta) == pytest.approx([first, second])
    assert smooth([1.0, 3.0], beta)[1] == pytest.approx(1.0 + 2.0 / (1 + beta))
    assert smooth([1.0, 3.0], 0.0) == pytest.approx([1.0, 3.0])  # no smoothing


@pytest.mark.slow
def test_a_sweep_measures_saves_and_searches_the_ranges(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    # Budget enough (3 x 60 epochs of ~18 steps) for the test's 180 steps to be a tenth of it;
    # patience ends the trials early. Two workers share the families out.
    study = sweeps.run(
        "mlp", trials=3, epochs=60, patience=1, storage=url, baseline=False, quiet=True,
        pruner="none", workers=2,
    )  # fmt: skip
    measured = study.config.learning_rates
    assert set(measured) == {"adam", "sgd", "adadelta"}
    assert all(0 < low < high for low, high in measured.values())
    saved = optuna.load_study(study_name=study.name, storage=url).user_attrs
    assert {f: saved[f"lr_range_test:{f}"]["range"] for f in measured} == measured
    family = {"adam": "adam", "adamax": "adam", "rmsprop": "adam", "sgd": "sgd",
              "nesterov": "sgd", "adadelta": "adadelta"}  # fmt: skip
    for params in study.best(3)["params"]:
        low, high = measured[family[params["optimizer"]]]
        assert low * (1 - 1e-9) <= params["learning_rate"] <= high * (1 + 1e-9)
    # `sweeps show` prints the ranges the trial was searched in.
    ranges = ", ".join(f"{f} {low:.2g}..{high:.2g}" for f, (low, high) in measured.items())
    number = int(study.best(1).iloc[0]["trial"])
    shown = invoke(CliRunner(), "show", number, "--study", study.name, "--storage", url)
    assert shown.exit_code == 0, shown.output
    assert f"Learning rates searched (range test of this study): {ranges}." in shown.output

    short = sweeps.run("mlp", trials=1, epochs=1, storage=url, baseline=False, quiet=True)
    assert short.config.learning_rates == {}  # too short a sweep for the test to pay off
    off = invoke(
        CliRunner(), "run", "--space", "mlp", "--trials", 1, "--epochs", 1, "--no-baseline",
        "--no-lr-range-test", "--storage", url, "--study", "off",
    )  # fmt: skip
    assert off.exit_code == 0, off.output
    assert sweeps.load_study("off", url).config.learning_rates is None
    shown = invoke(CliRunner(), "show", 0, "--study", "off", "--storage", url)
    assert shown.exit_code == 0 and "Learning rates searched" not in shown.output


def test_each_steps_loss_is_recovered_from_keras_running_mean() -> None:
    class Model:
        stop_training = False

    recorder = _LossRecorder()
    recorder.set_model(Model())
    losses = [2.3, 2.2, 1.9, 1.5, 1.2, 1.4, 3.0, 9.0, 30.0, 90.0]
    for step, _ in enumerate(losses):
        running_mean = sum(losses[: step + 1]) / (step + 1)  # what Keras logs as "loss"
        recorder.on_train_batch_end(step, {"loss": running_mean})
        if recorder.model.stop_training:
            break
    assert recorder.losses == pytest.approx(losses[: len(recorder.losses)], abs=1e-9)
    # The smoothed loss passed DIVERGED times its minimum: the test stopped there.
    assert recorder.model.stop_training and len(recorder.losses) < len(losses)


def test_a_curve_that_only_diverges_still_bounds_the_range() -> None:
    """A family too slow to lower the loss in the test, that then explodes: the divergence
    point is the edge (the test stops there)."""
    assert below(0.5) == pytest.approx((0.5 / BACKOFF / 10**DECADES, 0.5 / BACKOFF))


def test_the_recorder_recovers_each_steps_loss_from_a_real_fit() -> None:
    """Against Keras itself: a real fit whose rate is 0, so each step's loss is the fixed
    model's loss on that step's batch, computed here directly."""
    import keras

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    # Inputs a little larger batch by batch: distinct losses, never 4x the least (the recorder
    # would stop the fit as diverged).
    scale = np.repeat(1 + 0.1 * np.arange(8), 16)[:, None]
    x = (rng.normal(size=(8 * 16, 4)) * scale).astype("float32")
    y = rng.integers(0, 3, size=8 * 16)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0), loss=loss)
    recorder = _LossRecorder()
    model.fit(x, y, batch_size=16, epochs=1, shuffle=False, callbacks=[recorder], verbose=0)
    direct = [float(loss(y[i : i + 16], model(x[i : i + 16]))) for i in range(0, len(x), 16)]
    assert len(set(np.round(direct, 3))) == 8  # the batches' losses differ
    assert len(recorder.losses) == 8 and not model.stop_training
    assert recorder.losses == pytest.approx(direct, rel=1e-4)


def test_a_family_whose_loss_neither_fell_nor_diverged_keeps_its_generic_range() -> None:
    """A real range test of mlp whose loss cannot move: blank images give zero inputs, so the
    untrained network's logits are its zero biases and every batch's loss is ln(10), and rates
    of 1e-9 leave them there. Neither a fall nor a divergence: the generic range comes back."""
    import dataclasses

    from search_spaces import load_space
    from sweeps.data import load_splits

    digits = load_splits("digits", val_fraction=0.2, seed=0)
    blank = dataclasses.replace(digits, x_train=np.zeros_like(digits.x_train))
    generic = (1e-9, 1e-8)
    measured = _test_family(load_space("mlp"), blank, "sgd", generic, seed=0)
    assert len(measured.losses) == STEPS  # ran every step: it did not diverge
    assert measured.losses == pytest.approx([math.log(10)] * STEPS, rel=1e-3)  # nor fell
    assert (measured.low, measured.high) == generic


def test_the_range_always_holds_the_notebooks_rate_for_its_family() -> None:
    """all_cnn's baseline (SGD at 0.021) learned on the shapes folder; its range test said
    0.1..1 for SGD, where the first two SGD trials sat at chance."""
    baseline = {"optimizer": "sgd", "learning_rate": 0.021}
    assert covering_baseline(baseline, "sgd", (0.1, 1.0)) == (0.021, 1.0)
    assert covering_baseline(baseline, "sgd", (0.001, 0.01)) == (0.001, 0.021)
    assert covering_baseline(baseline, "sgd", (0.01, 0.1)) == (0.01, 0.1)  # inside: unchanged
    assert covering_baseline(baseline, "adam", (0.1, 1.0)) == (0.1, 1.0)  # another family
    nesterov = {"optimizer": "nesterov", "learning_rate": 0.5}  # SGD's family
    assert covering_baseline(nesterov, "sgd", (0.01, 0.1)) == (0.01, 0.5)
    assert covering_baseline({}, "sgd", (0.1, 1.0)) == (0.1, 1.0)  # a space without a baseline

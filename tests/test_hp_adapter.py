"""The KerasTuner -> Optuna adapter: define-by-run, kinds, grids, and KerasTuner's own tuner."""

from __future__ import annotations

import keras_tuner as kt
import optuna
import pytest
from optuna.distributions import (
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from sweeps.errors import SpaceError
from sweeps.worker.hp_adapter import OptunaHyperParameters


def _trial() -> optuna.Trial:
    return optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).ask()


def test_each_kind_maps_to_its_optuna_distribution() -> None:
    trial = _trial()
    hp = OptunaHyperParameters(trial)
    hp.Float("lr", 1e-4, 1e-1, sampling="log")
    hp.Float("dropout", 0.0, 0.5, step=0.1)
    hp.Int("units", 16, 64, step=16)
    hp.Int("layers", 1, 4)
    hp.Choice("optimizer", ["adam", "sgd"])
    hp.Boolean("bn")
    fixed = hp.Fixed("norm", "unit")
    d = trial.distributions
    assert d["lr"] == FloatDistribution(1e-4, 1e-1, log=True)
    assert d["dropout"] == FloatDistribution(0.0, 0.5, step=0.1)
    assert d["units"] == IntDistribution(16, 64, step=16)
    assert d["layers"] == IntDistribution(1, 4)
    assert d["optimizer"] == CategoricalDistribution(["adam", "sgd"])
    assert d["bn"] == CategoricalDistribution([False, True])
    assert fixed == "unit" and trial.params["norm"] == "unit"  # Fixed values are recorded
    assert hp.values == trial.params


def test_log_scale_with_a_step_becomes_a_categorical_over_the_same_grid() -> None:
    trial = _trial()
    hp = OptunaHyperParameters(trial)
    value = hp.Int("filters", 16, 128, step=2, sampling="log")
    hp.Float("wd", 1e-5, 1e-2, step=10, sampling="log")
    assert trial.distributions["filters"] == CategoricalDistribution([16, 32, 64, 128])
    assert value in (16, 32, 64, 128)
    choices = trial.distributions["wd"].choices
    assert choices == pytest.approx((1e-5, 1e-4, 1e-3, 1e-2))


def test_only_active_branches_reach_optuna() -> None:
    study = optuna.create_study()
    study.enqueue_trial({"model": "cnn"})
    trial = study.ask()
    hp = OptunaHyperParameters(trial)
    model = hp.Choice("model", ["mlp", "cnn"])
    with hp.conditional_scope("model", ["mlp"]):
        units = hp.Int("mlp_units", 8, 64)
    with hp.conditional_scope("model", ["cnn"]):
        filters = hp.Int("cnn_filters", 8, 64)
    assert model == "cnn" and units is None and filters is not None
    assert set(trial.params) == {"model", "cnn_filters"}


def test_one_name_asked_as_two_kinds_is_an_error_naming_both() -> None:
    hp = OptunaHyperParameters(_trial())
    hp.Float("rate", 0.0, 1.0)
    with pytest.raises(SpaceError, match="'rate' is asked as Float and as Choice"):
        hp.Choice("rate", [0.1, 0.2])


def test_enqueued_values_are_what_the_space_gets() -> None:
    study = optuna.create_study()
    study.enqueue_trial({"lr": 0.021, "optimizer": "sgd"})
    hp = OptunaHyperParameters(study.ask())
    assert hp.Float("lr", 1e-5, 1.0, sampling="log") == 0.021
    assert hp.Choice("optimizer", ["adam", "sgd"]) == "sgd"


@pytest.mark.slow
def test_keras_tuners_own_tuner_runs_a_space(tmp_path) -> None:
    """The same build(hp, spec) runs under KerasTuner's RandomSearch, on real digits, built,
    compiled and fed by the sweeps trial recipe."""
    from search_spaces import load_space
    from sweeps.data import load_splits
    from sweeps.trial_questions import TrialSettings
    from sweeps.worker.hypermodel import TrialHyperModel

    hypermodel = TrialHyperModel(load_space("mnist_cnn"), load_splits("digits"), TrialSettings(1))
    tuner = kt.RandomSearch(
        hypermodel,
        objective="val_accuracy",
        max_trials=1,
        directory=str(tmp_path),
        project_name="kt",
        seed=0,
    )
    tuner.search(epochs=1, verbose=0)
    best = tuner.get_best_hyperparameters(1)[0]
    assert best.get("optimizer") in ("sgd", "nesterov", "adam", "adamax", "adadelta", "rmsprop")
    assert tuner.oracle.get_best_trials(1)[0].score is not None
    model = tuner.load_model(tuner.oracle.get_best_trials(1)[0])
    trial = hypermodel.trial_of(model)  # its own test stream, at its own batch size
    assert trial.recipe.batch_size == best.get("batch_size")
    assert 0.0 <= model.evaluate(trial.test, verbose=0)[1] <= 1.0

"""The shared tunables: which questions get asked when, and what the answers build."""

from __future__ import annotations

import keras
import keras_tuner as kt
import pytest

from search_spaces import BUILTIN_SPACES, load_space, tunables

SCHEDULE_PARAMS = {
    "constant": set(),
    "step": {"step_epochs", "step_factor"},
    "exponential": {"decay_rate"},
    "staircase": {"decay_rate", "decay_epochs"},
    "time_based": {"time_decay"},
    "cosine": set(),
    "cyclical": {"cycle_steps", "cycle_base_ratio", "cycle_decay"},
}
ALL_SCHEDULE_PARAMS = set().union(*SCHEDULE_PARAMS.values())


def active(hp: kt.HyperParameters) -> dict:
    return {name: value for name, value in hp.values.items() if hp.is_active(name)}


@pytest.mark.parametrize("optimizer", tunables.OPTIMIZERS)
def test_momentum_is_asked_only_for_sgd_and_nesterov(optimizer):
    hp = kt.HyperParameters()
    recipe = tunables.ask_training(hp, {"optimizer": optimizer})
    uses_momentum = optimizer in ("sgd", "nesterov")
    assert ("momentum" in active(hp)) == uses_momentum
    assert recipe.momentum == (0.9 if uses_momentum else 0.0)


@pytest.mark.parametrize("schedule", tunables.SCHEDULES)
def test_schedule_params_are_asked_only_for_their_schedule(schedule):
    hp = kt.HyperParameters()
    recipe = tunables.ask_training(hp, {"schedule": schedule})
    assert set(active(hp)) & ALL_SCHEDULE_PARAMS == SCHEDULE_PARAMS[schedule]
    assert recipe.schedule == schedule
    assert bool(recipe.schedule_args) == bool(SCHEDULE_PARAMS[schedule])


def test_step_epochs_become_boundaries():
    recipe = tunables.ask_training(
        kt.HyperParameters(),
        {"schedule": "step", "step_epochs": "15,40,75,90,115,140", "step_factor": 0.7},
    )
    assert recipe.schedule_args == {"boundaries": [15, 40, 75, 90, 115, 140], "factor": 0.7}


def test_baseline_values_join_the_choices():
    hp = kt.HyperParameters()
    recipe = tunables.ask_training(hp, {"batch_size": 48, "schedule": "step",
                                        "step_epochs": "2,4"})  # fmt: skip
    assert recipe.batch_size == 48
    assert 48 in hp._hps["batch_size"][0].values
    assert "2,4" in hp._hps["step_epochs"][0].values
    assert "3,6,9" in hp._hps["step_epochs"][0].values


def test_augmentations_are_asked_only_where_tunable():
    hp = kt.HyperParameters()
    recipe = tunables.ask_training(hp, {}, augmentations=("rotation",))
    assert "rotation" in hp.values
    assert "flip" not in hp.values and "translation" not in hp.values
    assert (recipe.flip, recipe.translation, recipe.rotation) == (False, 0.0, 0.0)


def test_normalization_is_recorded_as_fixed():
    hp = kt.HyperParameters()
    recipe = tunables.ask_training(hp, {}, normalization="per_image")
    assert recipe.normalization == "per_image"
    assert type(hp._hps["normalization"][0]).__name__ == "Fixed"


@pytest.mark.parametrize("name", sorted(BUILTIN_SPACES))
def test_every_baseline_is_inside_the_training_ranges(name):
    """Each training-side baseline value is a default the tunables accept, and comes back."""
    space = load_space(name)
    hp = kt.HyperParameters()
    recipe = tunables.ask_training(hp, space.baseline, normalization=space.info.normalization,
                                   augmentations=space.info.augmentations)  # fmt: skip
    for hyperparameter in hp.space:
        if not hp.is_active(hyperparameter):
            continue
        value = hp.values[hyperparameter.name]
        kind = type(hyperparameter).__name__
        if kind in ("Float", "Int"):
            assert hyperparameter.min_value <= value <= hyperparameter.max_value, name
        elif kind == "Choice":
            assert value in hyperparameter.values, name
        assert value == space.baseline[hyperparameter.name], (name, hyperparameter.name)
    assert recipe.learning_rate == space.baseline["learning_rate"]
    assert recipe.batch_size == space.baseline["batch_size"]


@pytest.mark.parametrize(
    ("optimizer", "cls"),
    [
        ("sgd", keras.optimizers.SGD),
        ("nesterov", keras.optimizers.SGD),
        ("adam", keras.optimizers.Adam),
        ("adamax", keras.optimizers.Adamax),
        ("adadelta", keras.optimizers.Adadelta),
        ("rmsprop", keras.optimizers.RMSprop),
    ],
)
def test_make_optimizer(optimizer, cls):
    recipe = tunables.ask_training(kt.HyperParameters(), {"optimizer": optimizer,
                                                          "learning_rate": 0.5})  # fmt: skip
    built = tunables.make_optimizer(recipe, steps_per_epoch=10, epochs=5)
    assert type(built) is cls
    assert float(built.learning_rate) == pytest.approx(0.5)
    if cls is keras.optimizers.SGD:
        assert built.nesterov == (optimizer == "nesterov")
        assert built.momentum == pytest.approx(0.9)


def test_unknown_optimizer_and_schedule_are_refused():
    bad = tunables.TrainingRecipe(optimizer="lion", learning_rate=0.1, schedule="constant")
    with pytest.raises(ValueError, match="optimizer must be one of"):
        tunables.make_optimizer(bad, 1, 1)
    bad = tunables.TrainingRecipe(optimizer="sgd", learning_rate=0.1, schedule="warmup")
    with pytest.raises(ValueError, match="schedule must be one of"):
        tunables.make_schedule(bad, 1, 1)


def test_model_side_tunables():
    hp = kt.HyperParameters()
    assert tunables.dropout(hp, "dropout", 0.4) == 0.4
    assert tunables.batch_norm(hp, True) is True
    assert tunables.regularizer(hp, 0.0) is None
    l2 = tunables.regularizer(kt.HyperParameters(), 1e-3)
    assert l2.l2 == pytest.approx(1e-3)


def test_compile_model_expects_logits():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    recipe = tunables.ask_training(kt.HyperParameters(), {})
    tunables.compile_model(model, recipe, steps_per_epoch=1, epochs=1)
    assert model.loss.get_config()["from_logits"] is True

"""TPE's start trials as neighbours of the baseline (sweeps/samplers.py), on a real space's
questions through the real adapter (no training)."""

from __future__ import annotations

import optuna
import pytest

from search_spaces import load_space, tunables
from search_spaces.base import InputSpec
from storage.optuna_tables import BASELINE_ATTR
from sweeps.optuna_study import make_sampler
from sweeps.worker.hp_adapter import OptunaHyperParameters

SPEC = InputSpec(shape=(8, 8, 1), num_classes=10)


def _answer(study: optuna.Study, space) -> optuna.trial.FrozenTrial:
    """Ask one trial every question the space asks, as a worker does; finish it."""
    trial = study.ask()
    hp = OptunaHyperParameters(trial)
    tunables.ask_training(
        hp, space.baseline, normalization=space.info.normalization,
        augmentations=space.info.augmentations,
    )  # fmt: skip
    space.build(hp, SPEC)
    study.tell(trial, 0.5)
    return study.trials[trial.number]


def _sweep(seed: int, trials: int, baseline: bool = True):
    space = load_space("mlp")
    study = optuna.create_study(direction="maximize", sampler=make_sampler("tpe", seed))
    if baseline:
        study.enqueue_trial(dict(space.baseline), user_attrs={BASELINE_ATTR: True})
    answered = [_answer(study, space) for _ in range(trials)]
    return space, answered


def _kept(trial, recipe: dict) -> float:
    """The share of the trial's questions answered with the baseline's own answer."""
    same = [name for name, value in trial.params.items() if recipe.get(name) == value]
    return len(same) / len(trial.params)


def test_start_trials_keep_about_half_of_the_baselines_answers() -> None:
    space, trials = _sweep(seed=0, trials=12)
    recipe = trials[0].params
    assert trials[0].user_attrs[BASELINE_ATTR] and recipe["optimizer"] == "adadelta"
    start = [_kept(t, recipe) for t in trials[1:6]]
    # Each answer is kept with probability 1/2: a start trial moves along a few axes.
    assert 0.3 <= sum(start) / len(start) <= 0.8, start
    assert all(0 < share < 1 for share in start), start  # never a copy, never a stranger
    later = [_kept(t, recipe) for t in trials[6:]]
    assert sum(later) / len(later) < sum(start) / len(start), (start, later)


def test_a_baseline_answer_outside_this_trials_range_is_drawn_fresh() -> None:
    """mlp's baseline rate (Adadelta 0.1) is outside Adam's range: a start trial that
    changed the optimizer must not keep it."""
    _, trials = _sweep(seed=3, trials=6)
    for trial in trials[1:6]:
        distribution = trial.distributions["learning_rate"]
        assert distribution.low <= trial.params["learning_rate"] <= distribution.high


@pytest.mark.parametrize("seed", [0, 1])
def test_the_start_is_seeded_per_trial_and_question(seed: int) -> None:
    _, first = _sweep(seed, trials=6)
    _, again = _sweep(seed, trials=6)
    assert [t.params for t in first] == [t.params for t in again]


def test_without_a_baseline_it_is_plain_tpe() -> None:
    space, trials = _sweep(seed=0, trials=6, baseline=False)
    recipe = dict(space.baseline)
    assert max(_kept(t, recipe) for t in trials) < 0.9

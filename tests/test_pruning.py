"""The pruners a sweep offers, on scripted histories (no training)."""

from __future__ import annotations

import optuna
import pytest
from optuna.distributions import FloatDistribution

from sweeps.errors import ConfigError
from sweeps.optuna_study import make_pruner, make_sampler

CURVE_GOOD = {1: 0.5, 2: 0.7, 3: 0.8, 4: 0.85, 5: 0.9}


def _study(pruner: str) -> optuna.Study:
    """20 finished trials with good curves, reported epoch by epoch as workers do (Hyperband
    records its rungs while trials report, so the history must be made the same way)."""
    study = optuna.create_study(direction="maximize", pruner=make_pruner(pruner, epochs=5))
    for i in range(20):
        trial = study.ask({"x": FloatDistribution(0, 1)})
        for epoch, value in CURVE_GOOD.items():
            trial.report(value + 0.001 * i, epoch)
            trial.should_prune()
        study.tell(trial, CURVE_GOOD[5])
    return study


@pytest.mark.parametrize("pruner", ["median", "hyperband"])
def test_a_trial_far_below_the_others_is_pruned(pruner) -> None:
    study = _study(pruner)
    trial = study.ask()
    pruned_at = None
    for epoch in range(1, 6):
        trial.report(0.1, epoch)
        if trial.should_prune():
            pruned_at = epoch
            break
    assert pruned_at is not None and pruned_at <= 4


def test_median_waits_for_warmup_and_for_enough_reports_at_a_step() -> None:
    study = _study("median")
    trial = study.ask()
    trial.report(0.1, 1)  # inside the 2-epoch warm-up
    assert not trial.should_prune()
    # At epoch 7 no finished trial reported: a median of nothing must not prune.
    lonely = study.ask()
    lonely.report(0.1, 7)
    assert not lonely.should_prune()


def test_none_never_prunes_and_a_good_trial_survives() -> None:
    trial = _study("none").ask()
    trial.report(0.0, 3)
    assert not trial.should_prune()
    good = _study("median").ask()
    for epoch, value in CURVE_GOOD.items():
        good.report(value + 0.01, epoch)
        assert not good.should_prune()


def test_unknown_names_are_config_errors() -> None:
    with pytest.raises(ConfigError):
        make_pruner("sometimes", 5)
    with pytest.raises(ConfigError):
        make_sampler("annealing", 0)

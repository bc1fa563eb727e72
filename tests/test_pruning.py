"""The pruners a sweep offers, on scripted histories (no training)."""

from __future__ import annotations

import optuna
import pytest
from optuna.distributions import FloatDistribution

from storage.optuna_tables import BASELINE_ATTR
from sweeps.errors import ConfigError
from sweeps.optuna_study import make_pruner, make_sampler, median_warmup
from sweeps.pruners import PacedMedianPruner, SparesRisingPruner, rising_trend

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


def _pruned_at(study: optuna.Study, curve: list[float]) -> int | None:
    trial = study.ask()
    for epoch, value in enumerate(curve, start=1):
        trial.report(value, epoch)
        if trial.should_prune():
            return epoch
    return None


@pytest.mark.parametrize("pruner", ["median", "hyperband"])
def test_a_trial_far_below_the_others_is_pruned(pruner) -> None:
    pruned_at = _pruned_at(_study(pruner), [0.1] * 5)
    assert pruned_at is not None and pruned_at <= 4


def test_median_waits_for_warmup_and_for_enough_reports_at_a_step() -> None:
    study = _study("median")
    trial = study.ask()
    trial.report(0.1, 1)  # inside the 2-epoch warm-up
    assert not trial.should_prune()
    assert [median_warmup(e) for e in (5, 10, 20, 50)] == [2, 2, 4, 10]
    # A fifth of a 20-epoch run: a slow starter is not judged at epoch 3.
    long = optuna.create_study(direction="maximize", pruner=make_pruner("median", epochs=20))
    for _ in range(4):
        finished = long.ask()
        for epoch in range(1, 6):
            finished.report(0.9, epoch)
        long.tell(finished, 0.9)
    slow = long.ask()
    slow.report(0.3, 3)
    assert not slow.should_prune()
    slow.report(0.3, 4)
    assert slow.should_prune()
    # At epoch 7 no finished trial reported: a median of nothing must not prune.
    lonely = study.ask()
    lonely.report(0.1, 7)
    assert not lonely.should_prune()


def test_a_slow_starter_is_spared_while_it_rises_and_judged_once_it_stalls() -> None:
    """all_cnn on digits: the recipes that ended best read 0.24, 0.39, 0.54, 0.66 at epochs
    1-4, far below a median of 0.9; the median alone cut them at epoch 4."""
    study = optuna.create_study(direction="maximize", pruner=make_pruner("median", 20, 10))
    for _ in range(4):
        fast = study.ask()
        for epoch in range(1, 9):
            fast.report(0.9, epoch)
        study.tell(fast, 0.9)
    assert _pruned_at(study, [0.24, 0.39, 0.54, 0.66, 0.76, 0.87, 0.92, 0.93]) is None
    # The same start, stalled at epoch 5 (no new best, or one image better): judged there.
    assert _pruned_at(study, [0.24, 0.39, 0.54, 0.66, 0.66]) == 5
    assert _pruned_at(study, [0.24, 0.39, 0.54, 0.66, 0.60]) == 5
    assert _pruned_at(study, [0.24, 0.39, 0.54, 0.66, 0.665]) == 5


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


def test_a_trial_stuck_at_chance_is_pruned_without_waiting_for_a_median() -> None:
    """No other trial has finished: the median cannot judge, the chance rule can."""
    study = optuna.create_study(direction="maximize", pruner=make_pruner("median", 5, classes=10))
    stuck = study.ask()
    stuck.report(0.10, 1)
    assert not stuck.should_prune()  # one epoch is too early to judge
    stuck.report(0.12, 2)
    assert stuck.should_prune()
    learning = study.ask()
    learning.report(0.10, 1)
    learning.report(0.40, 2)  # slow, but above 1.5x chance: left to the median
    assert not learning.should_prune()


def test_the_chance_rule_uses_the_best_epoch_and_the_class_count() -> None:
    study = optuna.create_study(direction="maximize", pruner=make_pruner("median", 9, classes=2))
    learned_once = study.ask()
    for epoch, value in enumerate([0.80, 0.50, 0.50], start=1):
        learned_once.report(value, epoch)
    assert not learned_once.should_prune()
    coin = study.ask()
    for epoch, value in enumerate([0.52, 0.54, 0.51], start=1):
        coin.report(value, epoch)
    assert coin.should_prune()  # two classes: chance 0.5, threshold 0.55
    assert make_pruner("median", 9, classes=2).threshold == pytest.approx(0.55)
    assert make_pruner("median", 9, classes=10).threshold == pytest.approx(0.19)


def test_without_a_class_count_median_is_plain() -> None:
    pruner = make_pruner("median", 5)
    assert isinstance(pruner, SparesRisingPruner)
    assert isinstance(pruner.base, PacedMedianPruner)
    assert pruner.base.warmup(_study("median")) == median_warmup(5)  # no baseline: plain
    assert isinstance(make_pruner("hyperband", 5, classes=10), optuna.pruners.HyperbandPruner)


def _baseline(study: optuna.Study, curve: list[float], finish: bool) -> None:
    """The notebook's recipe as the sweep enqueues it, reporting ``curve`` epoch by epoch."""
    study.enqueue_trial({}, user_attrs={BASELINE_ATTR: True})
    baseline = study.ask()
    for epoch, value in enumerate(curve, start=1):
        baseline.report(value, epoch)
        assert not baseline.should_prune(), f"the baseline was pruned at epoch {epoch}"
    if finish:
        study.tell(baseline, max(curve))


def test_the_baseline_is_never_pruned_and_its_slow_start_buys_others_time() -> None:
    """Xception on resized digits: the notebook's recipe sits at chance for three epochs and
    then learns. The chance rule must not cut it, and gives every trial three epochs more."""
    study = optuna.create_study(direction="maximize", pruner=make_pruner("median", 20, classes=10))
    _baseline(study, [0.10, 0.11, 0.10, 0.45, 0.80, 0.90], finish=True)  # asserts never pruned
    assert _pruned_at(study, [0.10] * 10) == 5  # risen at epoch 4: 3 epochs more than 2
    assert _pruned_at(study, [0.10] * 4 + [0.3] * 6) is None  # learned in the grace
    quick = optuna.create_study(direction="maximize", pruner=make_pruner("median", 20, classes=10))
    _baseline(quick, [0.50, 0.80], finish=True)  # left chance at once: the plain rule
    assert _pruned_at(quick, [0.10] * 10) == 2


def test_a_baseline_still_at_chance_makes_the_rule_wait_for_it() -> None:
    study = optuna.create_study(direction="maximize", pruner=make_pruner("median", 20, classes=10))
    _baseline(study, [0.10, 0.10, 0.10], finish=False)  # still running, not yet risen
    waiting = study.ask()
    for epoch in range(1, 6):
        waiting.report(0.10, epoch)
        assert not waiting.should_prune()
    baseline = next(t for t in study.trials if t.user_attrs.get(BASELINE_ATTR))
    study.tell(baseline.number, 0.10)  # it ended at chance: it shows nothing, the plain rule
    assert waiting.should_prune()
    assert _pruned_at(study, [0.10] * 10) == 2


def test_the_reason_names_the_rule_that_pruned() -> None:
    from types import SimpleNamespace

    from sweeps.config import SweepConfig, SweepSpec
    from sweeps.worker.trainer import _pruned_reason

    config = SweepConfig(SweepSpec(space="mnist_cnn", dataset="digits", pruner="median"))
    study = optuna.create_study(direction="maximize", pruner=make_pruner("median", 20, classes=10))
    trial = study.ask()
    stuck = _pruned_reason(trial, config, SimpleNamespace(best_val_accuracy=0.11), 2)
    assert stuck == (
        "pruned after epoch 2: val accuracy still at chance level (best 0.1100, chance 0.1000)"
    )
    behind = _pruned_reason(trial, config, SimpleNamespace(best_val_accuracy=0.6), 4)
    assert behind == "pruned by the median pruner after epoch 4"


def _finished(study: optuna.Study, curve: list[float]) -> None:
    trial = study.ask()
    for epoch, value in enumerate(curve, start=1):
        trial.report(value, epoch)
    study.tell(trial, max(curve))


def test_a_trial_within_noise_of_the_median_is_spared() -> None:
    """all_cnn on the shapes folder (240 validation images): at epoch 4 the median read 0.35
    and the median pruner cut a recipe at 0.317, one standard error (0.043) below it."""
    noisy = optuna.create_study(direction="maximize", pruner=make_pruner("median", 20, 10, 240))
    for value in (0.33, 0.36, 0.38, 0.34):
        _finished(noisy, [0.2, 0.25, 0.3, value, value])
    curve = [0.2, 0.2, 0.31, 0.317, 0.317, 0.317]  # stalled: SparesRising lets the median judge
    assert _pruned_at(noisy, curve) is None
    assert _pruned_at(noisy, [0.2, 0.2, 0.2, 0.2]) == 4  # 0.15 below: not noise
    # Without the split's size every point below the median counts, as in Optuna's rule.
    plain = optuna.create_study(direction="maximize", pruner=make_pruner("median", 20, 10))
    for value in (0.33, 0.36, 0.38, 0.34):
        _finished(plain, [0.2, 0.25, 0.3, value, value])
    assert _pruned_at(plain, curve) == 4
    # On 2,400 images the same gap is eleven standard errors.
    big = optuna.create_study(direction="maximize", pruner=make_pruner("median", 20, 10, 2400))
    for value in (0.33, 0.36, 0.38, 0.34):
        _finished(big, [0.2, 0.25, 0.3, value, value])
    assert _pruned_at(big, curve) == 4


def test_the_median_waits_while_the_baseline_itself_is_still_starting() -> None:
    """The shapes folder's all_cnn baseline read 0.26, 0.20, 0.38, 0.33, ... and first got
    halfway from chance to its best 0.90 at epoch 9: trials level with it at epoch 4 were cut
    by the median and ended "below 0.5". The median now judges from epoch 9."""
    slow_baseline = [0.26, 0.20, 0.38, 0.33, 0.36, 0.46, 0.46, 0.39, 0.56, 0.49, 0.70, 0.90]
    study = optuna.create_study(direction="maximize", pruner=make_pruner("median", 20, 10))
    _baseline(study, slow_baseline, finish=True)
    for _ in range(4):
        _finished(study, [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.9, 0.9])
    assert study.pruner.base.base.warmup(study) == 9
    assert _pruned_at(study, [0.2, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3]) == 9
    # A baseline that learns at once leaves the usual warm-up, a fifth of the run.
    quick = optuna.create_study(direction="maximize", pruner=make_pruner("median", 20, 10))
    _baseline(quick, [0.8, 0.9, 0.95], finish=True)
    for _ in range(4):
        _finished(quick, [0.9, 0.92, 0.94, 0.95, 0.95])
    assert quick.pruner.base.base.warmup(quick) == median_warmup(20) == 4
    assert _pruned_at(quick, [0.3, 0.3, 0.3, 0.3, 0.3]) == 4


def test_the_median_waits_for_the_pace_of_the_best_trial_when_the_baseline_stopped_early() -> None:
    """all_cnn on the shapes folder, seed 1: the baseline was early-stopped at 0.42 and got
    halfway there at epoch 4, while the recipes that trained got halfway to 0.9 at epoch 9; the
    median cut six recipes at epoch 6, at the pace of the baseline's short run."""
    study = optuna.create_study(direction="maximize", pruner=make_pruner("median", 20, 10))
    _baseline(study, [0.2, 0.22, 0.3, 0.42, 0.35, 0.38, 0.4, 0.41, 0.4], finish=True)
    assert study.pruner.base.base.warmup(study) == 4
    slow_but_good = [0.2, 0.25, 0.3, 0.33, 0.36, 0.4, 0.42, 0.45, 0.55, 0.7, 0.9]
    for _ in range(3):
        _finished(study, slow_but_good)
    _finished(study, [0.2, 0.2, 0.25, 0.3, 0.32, 0.33])  # worse, and stopped early
    assert study.pruner.base.base.warmup(study) == 9
    assert _pruned_at(study, [0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2]) == 9


def test_a_trend_is_a_slope_clear_of_the_split_noise() -> None:
    assert rising_trend([0.30, 0.33, 0.35, 0.36, 0.38, 0.40], 240)  # +2 points an epoch
    assert not rising_trend([0.42, 0.38, 0.40, 0.39, 0.41, 0.40], 240)  # flat
    assert not rising_trend([0.30, 0.33, 0.35, 0.36, 0.38, 0.40], 24)  # within noise there
    # A curve that bounces more than sampling explains needs a steeper climb.
    assert not rising_trend([0.30, 0.45, 0.28, 0.50, 0.35, 0.48], 2400)
    assert not rising_trend([0.3, 0.5], 240)  # two points show no trend
    assert not rising_trend([0.30, 0.33, 0.35, 0.36, 0.38, 0.40], None)


@pytest.mark.parametrize("curve", [[0.05, 0.08], [float("nan")], [0.1, float("nan")]])
def test_a_baseline_at_or_below_chance_or_diverged_leaves_the_usual_warmup(curve) -> None:
    """No epoch of such a baseline got halfway from chance to its best: nothing to pace by."""
    study = optuna.create_study(direction="maximize", pruner=make_pruner("median", 20, 10))
    study.enqueue_trial({}, user_attrs={BASELINE_ATTR: True})
    baseline = study.ask()
    for epoch, value in enumerate(curve, start=1):
        baseline.report(value, epoch)
    study.tell(baseline, state=optuna.trial.TrialState.PRUNED)
    assert study.pruner.base.base.warmup(study) == median_warmup(20)

"""TPE that moves a few answers at a time from the best recipe so far (sweeps/samplers.py),
on a real space's questions through the real adapter (no training)."""

from __future__ import annotations

import optuna
import pytest

from search_spaces import load_space, tunables
from search_spaces.base import InputSpec
from storage.optuna_tables import BASELINE_ATTR, BASELINE_RECIPE_ATTR
from sweeps.optuna_study import make_sampler
from sweeps.samplers import best_answers, live_rate_bounds, seconds_to_best, tied
from sweeps.worker.hp_adapter import OptunaHyperParameters

SPEC = InputSpec(shape=(8, 8, 1), num_classes=10)


def _answer(study: optuna.Study, space, score=lambda trial: 0.5) -> optuna.trial.FrozenTrial:
    """Ask one trial every question the space asks, as a worker does; report ``score`` of its
    answers as its one epoch and finish it."""
    trial = study.ask()
    hp = OptunaHyperParameters(trial)
    tunables.ask_training(
        hp, space.baseline, normalization=space.info.normalization,
        augmentations=space.info.augmentations,
    )  # fmt: skip
    space.build(hp, SPEC)
    value = score(trial)
    trial.report(value, 1)
    study.tell(trial, value)
    return study.trials[trial.number]


def _sweep(
    seed: int,
    trials: int,
    baseline: bool = True,
    score=lambda trial: 0.5,
    classes=None,
    val_size=None,
    space_name="mlp",
):
    space = load_space(space_name)
    sampler = make_sampler("tpe", seed, classes, val_size)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    if baseline:  # as sweeps.optuna_study.create_study does
        study.enqueue_trial(dict(space.baseline), user_attrs={BASELINE_ATTR: True})
        study.set_user_attr(BASELINE_RECIPE_ATTR, dict(space.baseline))
    answered = [_answer(study, space, score) for _ in range(trials)]
    return space, answered


def _changed(trial, recipe: dict) -> set[str]:
    """The questions ``recipe`` answered that ``trial`` answered otherwise."""
    return {name for name, value in recipe.items() if trial.params.get(name, value) != value}


def test_start_trials_move_a_few_answers_from_the_baseline() -> None:
    moves = []
    for seed in range(4):
        _, trials = _sweep(seed=seed, trials=6)
        recipe = trials[0].params
        assert trials[0].user_attrs[BASELINE_ATTR] and recipe["optimizer"] == "adadelta"
        moves += [len(_changed(t, recipe)) for t in trials[1:6]]
    # About 2.5 of mlp's 14 questions are asked anew (a new optimizer's own questions and a
    # dropped schedule's are not counted here): never a copy, never a stranger.
    assert all(1 <= move <= 6 for move in moves), moves
    assert 1.5 <= sum(moves) / len(moves) <= 3.5, moves


def test_later_trials_move_from_the_best_trial_so_far() -> None:
    """After the start, the incumbent is the trial with the best val accuracy, not the
    baseline: here any optimizer but the baseline's Adadelta scores best, and later trials
    keep the incumbent's optimizer while each moves a few answers from it."""

    def score(trial) -> float:
        return 0.9 if trial.params["optimizer"] != "adadelta" else 0.5

    _, trials = _sweep(seed=0, trials=16, score=score)
    assert any(t.params["optimizer"] != "adadelta" for t in trials[1:6]), "no better start"
    later = trials[6:]
    for number, trial in enumerate(later, start=6):
        best = max(trials[:number], key=lambda t: (t.value, -t.number))
        assert 1 <= len(_changed(trial, best.params)) <= 7, number
    kept = [t.params["optimizer"] != "adadelta" for t in later]
    assert sum(kept) >= 0.7 * len(kept), kept


def test_a_start_trial_never_repeats_the_baseline() -> None:
    """A random move to the same answer says nothing (half the moves on a yes/no question
    would be); every start trial changes at least one answer."""
    for seed in range(4):
        _, trials = _sweep(seed=seed, trials=6)
        assert all(_changed(t, trials[0].params) for t in trials[1:6]), seed


def test_after_the_start_tpe_may_keep_an_answer_the_trials_favour() -> None:
    """All_cnn without batch norm never left chance: once the trials show it, a trial that
    asks batch_norm anew must be free to keep it on, not forced off (only the one question
    drawn to make the trial differ from the incumbent must change)."""

    def score(trial) -> float:
        return 0.95 if trial.params["batch_norm"] else 0.1

    space = load_space("mlp")
    sampler = make_sampler("tpe", 0)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.enqueue_trial(dict(space.baseline), user_attrs={BASELINE_ATTR: True})
    study.set_user_attr(BASELINE_RECIPE_ATTR, dict(space.baseline))
    trials = [_answer(study, space, score) for _ in range(40)]
    kept_on = []  # for each later trial that asked batch_norm anew: did it keep it on?
    for trial in trials[6:]:
        incumbent, changed, must_differ = sampler._plans[trial.number]  # the trial's plan
        if "batch_norm" in changed - must_differ and incumbent["batch_norm"]:
            kept_on.append(trial.params["batch_norm"])
    assert kept_on and sum(kept_on) >= 0.7 * len(kept_on), kept_on


def test_a_baseline_answer_outside_this_trials_range_is_drawn_fresh() -> None:
    """mlp's baseline rate (Adadelta 0.1) is outside Adam's range: a start trial that
    changed the optimizer must not keep it."""
    _, trials = _sweep(seed=0, trials=12)
    assert any(t.params["optimizer"] != "adadelta" for t in trials[1:])
    for trial in trials[1:]:
        distribution = trial.distributions["learning_rate"]
        assert distribution.low <= trial.params["learning_rate"] <= distribution.high


def test_a_trial_planned_while_the_baseline_asks_sees_its_whole_recipe() -> None:
    """Two workers: trial 1 asks its questions before the baseline (trial 0) asked any."""
    space = load_space("mlp")
    study = optuna.create_study(direction="maximize", sampler=make_sampler("tpe", 0))
    study.enqueue_trial(dict(space.baseline), user_attrs={BASELINE_ATTR: True})
    study.set_user_attr(BASELINE_RECIPE_ATTR, dict(space.baseline))
    still_asking = study.ask()
    assert still_asking.params == {}
    second = _answer(study, space)
    assert 1 <= len(_changed(second, dict(space.baseline))) <= 6, second.params


@pytest.mark.parametrize("seed", [0, 1])
def test_the_moves_are_seeded_per_trial(seed: int) -> None:
    _, first = _sweep(seed, trials=8)
    _, again = _sweep(seed, trials=8)
    assert [t.params for t in first] == [t.params for t in again]


def test_without_a_baseline_the_start_is_random() -> None:
    space, trials = _sweep(seed=0, trials=5, baseline=False)
    recipe = dict(space.baseline)
    assert min(len(_changed(t, recipe)) for t in trials) >= 4


def test_a_baseline_that_never_left_chance_is_no_prior() -> None:
    """Ten classes, every trial at 0.1: the notebook's recipe does not train on this data,
    so trials are drawn as plain TPE draws them, not a few moves from it."""
    _, trials = _sweep(seed=0, trials=8, score=lambda t: 0.1, classes=10)
    moves = [len(_changed(t, trials[0].params)) for t in trials[1:]]
    assert sum(moves) / len(moves) >= 4, moves
    _, learning = _sweep(seed=0, trials=8, score=lambda t: 0.9, classes=10)
    moves = [len(_changed(t, learning[0].params)) for t in learning[1:]]
    assert sum(moves) / len(moves) <= 3.5, moves


def _finished(number: int, best: float, seconds_per_epoch: float | None):
    attrs = {"seconds_per_epoch": seconds_per_epoch} if seconds_per_epoch is not None else {}
    trial = optuna.trial.create_trial(
        value=best,
        params={"number": float(number)},
        distributions={"number": optuna.distributions.FloatDistribution(0, 100)},
        intermediate_values={1: best},
        user_attrs=attrs,
    )
    trial.number = number
    return trial


def test_among_trials_tied_on_validation_the_cheapest_per_epoch_is_the_incumbent() -> None:
    """288 validation images: 0.9861 and 0.9792 are two images apart, inside one standard
    error of their difference (0.011), so the recipe that trains 3x faster per epoch is the
    one to move from; 0.9688 (five images below) is not tied, however cheap. Unknown sizes or
    costs leave the best trial."""
    trials = [_finished(0, 0.9861, 0.35), _finished(1, 0.9792, 0.12), _finished(2, 0.9688, 0.05)]
    assert tied(0.9861, 0.9792, 288) and not tied(0.9861, 0.9688, 288)
    assert best_answers(trials, val_size=288) == {"number": 1.0}
    assert best_answers(trials) == {"number": 0.0}  # no size known: no tie
    assert best_answers(trials, val_size=100_000) == {"number": 0.0}  # two images are signal
    unknown = [_finished(0, 0.9861, None), trials[1]]
    assert best_answers(unknown, val_size=288) == {"number": 0.0}
    # Costs within 10% are equal: the better accuracy wins among them.
    close = [_finished(0, 0.9861, 0.21), _finished(1, 0.9792, 0.2)]
    assert best_answers(close, val_size=288) == {"number": 0.0}


def test_the_cost_of_a_tied_trial_is_the_time_to_reach_its_result() -> None:
    """all_cnn on digits: a recipe with twice the batch costs 0.6x per epoch but tied the
    baseline's 0.99 only after 16 epochs, where the baseline was there after 8. The baseline
    stays the incumbent, and later trials do not inherit the slow start."""

    def curve(trial, values: list[float], per_epoch: float):
        trial.intermediate_values = dict(enumerate(values, start=1))
        trial.user_attrs["seconds_per_epoch"] = per_epoch
        return trial

    fast = [0.35, 0.63, 0.90, 0.93, 0.96, 0.96, 0.96, 0.985] + [0.985] * 12
    slow = [0.26, 0.43, 0.39, 0.65, 0.84, 0.94, 0.91, 0.96] + [0.96] * 7 + [0.99] * 5
    baseline = curve(_finished(0, 0.99, None), fast, 1.0)
    big_batch = curve(_finished(1, 0.99, None), slow, 0.6)
    assert seconds_to_best(baseline, 288) == pytest.approx(8 * 1.0)
    assert seconds_to_best(big_batch, 288) == pytest.approx(16 * 0.6)
    assert best_answers([baseline, big_batch], val_size=288) == {"number": 0.0}
    # Per epoch alone, the big batch would have been the incumbent.
    flat = [_finished(0, 0.99, 1.0), _finished(1, 0.99, 0.6)]
    assert best_answers(flat, val_size=288) == {"number": 1.0}


def test_later_trials_move_from_the_cheapest_of_the_tied_trials() -> None:
    """Every trial after the baseline scores 0.9 on 288 images; trial 3 trains 5x faster
    per epoch than the rest. After the start, trials move a few answers from trial 3."""

    def score(trial) -> float:
        trial.set_user_attr("seconds_per_epoch", 0.1 if trial.number == 3 else 0.5)
        return 0.5 if trial.number == 0 else 0.9

    _, trials = _sweep(seed=0, trials=12, score=score, val_size=288)
    cheap = trials[3].params
    for trial in trials[6:]:
        assert 1 <= len(_changed(trial, cheap)) <= 7, trial.number
    mean_from_cheap = sum(len(_changed(t, cheap)) for t in trials[6:]) / 6
    mean_from_first = sum(len(_changed(t, trials[1].params)) for t in trials[6:]) / 6
    assert mean_from_cheap < mean_from_first, (mean_from_cheap, mean_from_first)


def _rate_trial(optimizer: str, rate: float, best: float):
    distributions = {
        "optimizer": optuna.distributions.CategoricalDistribution(list(tunables.OPTIMIZERS)),
        "learning_rate": optuna.distributions.FloatDistribution(1e-5, 1.0, log=True),
    }
    return optuna.trial.create_trial(
        params={"optimizer": optimizer, "learning_rate": rate}, distributions=distributions,
        intermediate_values={1: 0.1, 2: best}, value=best,
        state=optuna.trial.TrialState.PRUNED if best < 0.19 else optuna.trial.TrialState.COMPLETE,
    )  # fmt: skip


def test_a_rate_at_which_a_family_never_left_chance_bounds_its_later_rates() -> None:
    """all_cnn on the shapes folder: Adam at 0.0023 (range 0.00037..0.0037, measured on the
    batch-norm baseline) left every logit dead at exactly chance."""
    adam = optuna.distributions.FloatDistribution(0.00037, 0.0037, log=True)
    study = optuna.create_study(direction="maximize")
    assert live_rate_bounds(study, "adam", adam, learned=0.19) == (0.00037, 0.0037)
    study.add_trial(_rate_trial("sgd", 0.003, 0.10))  # another family's death says nothing
    assert live_rate_bounds(study, "adam", adam, learned=0.19) == (0.00037, 0.0037)
    study.add_trial(_rate_trial("adamax", 0.0023, 0.10))  # Adam's family, dead in the upper half
    assert live_rate_bounds(study, "rmsprop", adam, learned=0.19) == (0.00037, 0.0023 / 2)
    study.add_trial(_rate_trial("adam", 0.0005, 0.12))  # dead in the lower half: too low
    assert live_rate_bounds(study, "adam", adam, learned=0.19) == (0.001, 0.00115)
    assert live_rate_bounds(study, "adam", adam, learned=0.0) == (0.00037, 0.0037)  # no chance
    study.add_trial(_rate_trial("adam", 0.0008, 0.11))  # dead on both sides of 0.00115..: keep
    assert live_rate_bounds(study, "adam", adam, learned=0.19) == (0.00037, 0.0037)


def test_a_rate_that_learned_tells_which_side_a_dead_rate_was_on() -> None:
    """all_cnn on the shapes folder: the baseline learned with SGD at 0.021, and SGD died at
    0.11, in the lower half of the measured range (widened to the baseline's rate): too high,
    not too low."""
    sgd = optuna.distributions.FloatDistribution(0.001, 1.0, log=True)
    study = optuna.create_study(direction="maximize")
    study.add_trial(_rate_trial("sgd", 0.021, 0.42))  # learned
    study.add_trial(_rate_trial("nesterov", 0.113, 0.10))
    assert live_rate_bounds(study, "sgd", sgd, learned=0.19) == (0.001, 0.113 / 2)
    study.add_trial(_rate_trial("sgd", 0.03, 0.10))  # next to a rate that learned: bad luck
    assert live_rate_bounds(study, "sgd", sgd, learned=0.19) == (0.001, 0.113 / 2)
    study.add_trial(_rate_trial("sgd", 0.004, 0.10))  # below every rate that learned
    assert live_rate_bounds(study, "sgd", sgd, learned=0.19) == (0.008, 0.113 / 2)
    study.add_trial(_rate_trial("sgd", 0.05, 0.10))  # the lowest dead rate above sets the ceiling
    assert live_rate_bounds(study, "sgd", sgd, learned=0.19) == (0.008, 0.025)


def test_later_trials_of_a_family_stay_below_the_rate_at_which_it_died() -> None:
    """Through the sampler and the real adapter, on mnist_cnn (Adam at 0.001): every rate of
    an Adam-family optimizer above 0.003 scores chance. After the first such death, no new
    Adam-family rate is drawn at or above half the lowest dead rate (TPE alone drew 0.0077
    after deaths at 0.025 and 0.010, and 0.0087 after one at 0.0034)."""

    def score(trial) -> float:
        family = tunables.family_of(trial.params["optimizer"])
        return 0.1 if family == "adam" and trial.params["learning_rate"] > 0.003 else 0.8

    after_a_death = 0
    for seed in range(3):
        _, trials = _sweep(seed=seed, trials=24, score=score, classes=10, space_name="mnist_cnn")
        dead: list[float] = []
        for trial in trials:
            rate = trial.params["learning_rate"]
            if tunables.family_of(trial.params["optimizer"]) != "adam" or rate == 0.001:
                continue  # the baseline's (the incumbent's) own rate is kept, not drawn
            if dead:
                after_a_death += 1
                assert rate < min(dead) / 2, (seed, trial.number, rate, dead)
            if rate > 0.003:
                dead.append(rate)
    assert after_a_death >= 3  # the rule was put to the test

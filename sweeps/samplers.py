"""TPE that moves a few answers at a time from the best recipe known, starting at the notebook's."""

from __future__ import annotations

import math
import random
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution
from optuna.trial import FrozenTrial, TrialState

from storage.optuna_tables import BASELINE_ATTR, BASELINE_RECIPE_ATTR, SECONDS_PER_EPOCH_ATTR

__all__ = ["IncumbentTPESampler"]

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
RATE = "learning_rate"  # the question whose answers a dead trial bounds (live_rate_bounds)
DEATH_MARGIN = 2.0  # a new rate stays this factor inside a rate at which the family died


class IncumbentTPESampler(optuna.samplers.TPESampler):
    """TPE whose every trial changes only a few of the incumbent's answers.

    A sweep of a few dozen trials cannot afford TPE's global exploration. TPE starts from
    random trials and, with few finished ones to model, keeps proposing nearly random
    recipes; on a deep network most random corners of the space (no batch norm with a large
    rate, plain SGD with little momentum, heavy weight decay) never leave chance in the epochs
    a trial gets, and a 16-trial sweep of all_cnn spent a quarter of its budget there.

    Here each trial starts from the *incumbent*, the recipe known to train best: the baseline
    (the notebook's own recipe, marked ``sweeps:baseline``) until ``n_startup_trials`` trials
    finished, then the finished trial with the best validation accuracy at any epoch
    (early-stopped and pruned trials included). It asks a few of the incumbent's questions anew,
    on average ``changes`` and at least one, and keeps the other answers. During the start the
    new answers are random draws other than the incumbent's (a draw that repeats it says
    nothing); after it they are TPE's, which may keep the incumbent's answer where the trials so
    far favour it (batch norm on a network that dies without it), except on one question drawn
    per trial, whose answer must differ, so that no trial repeats the incumbent's recipe: TPE
    decides where to move, the incumbent keeps each move short. Questions that the incumbent
    never asked (a new optimizer's momentum, a new schedule's arguments), or whose answer is
    outside this trial's range (the learning rate after the optimizer changed family), are TPE's
    too. This is a trust region around the best recipe, in the spirit of local Bayesian
    optimisation (TuRBO) and of PBT's explore step, with TPE proposing.

    Among finished trials whose best validation accuracy is within one standard error of
    their difference from the best one's (both binomial, on the ``val_size`` validation
    images), the incumbent is the one that reached its result in the fewest seconds
    (:func:`seconds_to_best`): those trials are tied as far as the validation split can tell,
    and moving from a recipe that trains twice as fast buys twice the epochs for the rest of
    the sweep. Without ``val_size`` the best trial is the incumbent, whatever its cost.

    Without a baseline it is plain TPE, and so it is while no trial has learned anything
    (``learned``: the accuracy that leaves chance), the baseline included: a notebook's recipe
    that never left chance on this data is no prior to stay near, and the best of trials at
    chance is noise. Which answers change is seeded by (seed, trial number), so it does not
    depend on which worker asks.
    """

    def __init__(
        self,
        *,
        seed: int,
        n_startup_trials: int,
        changes: float = 2.5,
        learned: float = 0.0,
        val_size: int | None = None,
        **tpe: Any,
    ):
        super().__init__(seed=seed, n_startup_trials=n_startup_trials, **tpe)
        self.start_trials, self.changes, self.seed = n_startup_trials, changes, seed
        self.learned, self.val_size = learned, val_size
        # trial number -> (the incumbent's answers, the questions this trial answers anew,
        # those among them whose answer must differ from the incumbent's), fixed at the
        # trial's first question: a trial finishing meanwhile does not move it.
        self._plans: dict[int, tuple[dict[str, Any], frozenset[str], frozenset[str]]] = {}

    def sample_relative(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        search_space: dict[str, BaseDistribution],
    ) -> dict[str, Any]:
        proposal = super().sample_relative(study, trial, search_space)
        kept, changed, differ = self._plan(study, trial)
        for name, distribution in search_space.items():
            if name in proposal and name in kept and fits(kept[name], distribution):
                if name not in changed:
                    proposal[name] = kept[name]
                elif name in differ and proposal[name] == kept[name]:
                    proposal[name] = self._other_answer(
                        study, trial, name, distribution, kept[name]
                    )
        if RATE in proposal and proposal[RATE] != kept.get(RATE):
            optimizer = proposal.get("optimizer", trial.params.get("optimizer"))
            proposal[RATE] = self._live_rate(
                study, trial, optimizer, search_space[RATE], proposal[RATE]
            )
        return proposal

    def sample_independent(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        kept, changed, differ = self._plan(study, trial)
        known = param_name in kept and fits(kept[param_name], param_distribution)
        if known and param_name not in changed:
            return kept[param_name]
        answer = super().sample_independent(study, trial, param_name, param_distribution)
        if known and param_name in differ and answer == kept[param_name]:
            answer = self._other_answer(study, trial, param_name, param_distribution, answer)
        if param_name == RATE and answer != kept.get(RATE):
            optimizer = trial.params.get("optimizer")
            answer = self._live_rate(study, trial, optimizer, param_distribution, answer)
        return answer

    def _live_rate(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        optimizer: Any,
        distribution: BaseDistribution,
        rate: float,
    ) -> float:
        """``rate``, or a random rate inside the bounds the sweep's dead trials set for this
        optimizer's family (:func:`live_rate_bounds`) when ``rate`` is outside them."""
        if not isinstance(distribution, FloatDistribution) or not isinstance(optimizer, str):
            return rate
        low, high = live_rate_bounds(study, optimizer, distribution, self.learned)
        if low <= rate <= high:
            return rate
        draw = random.Random(f"{self.seed}:{trial.number}:{RATE}")
        return math.exp(draw.uniform(math.log(low), math.log(high)))

    def _other_answer(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        name: str,
        distribution: BaseDistribution,
        same: Any,
    ) -> Any:
        """A random answer other than the incumbent's ``same`` to a question whose answer
        must change (half the random moves on a yes/no question would repeat it)."""
        draw = optuna.samplers.RandomSampler(seed=hash_seed(f"{self.seed}:{trial.number}:{name}"))
        for _ in range(20):  # a distribution of one value has no other answer
            answer = draw.sample_independent(study, trial, name, distribution)
            if answer != same:
                return answer
        return same

    def _plan(self, study: optuna.Study, trial: FrozenTrial) -> tuple[dict, frozenset[str], bool]:
        if trial.number not in self._plans:
            finished = study.get_trials(deepcopy=False, states=FINISHED)
            start = len(finished) < self.start_trials
            recipe = (
                baseline_answers(study)
                if start
                else best_answers(finished, self.learned, self.val_size)
            )
            if start and _ended_at_chance(study, self.learned):
                recipe = {}  # the notebook's recipe never learned here: no prior to stay near
            first, changed = self._changed(trial.number, recipe)
            differ = changed if start else frozenset(first)
            self._plans[trial.number] = (recipe, changed, differ)
        return self._plans[trial.number]

    def _changed(self, number: int, recipe: dict[str, Any]) -> tuple[list[str], frozenset[str]]:
        """One question at random (in a list: none without a recipe), and with it each other
        one with the probability that makes ``changes`` the expected count."""
        names = sorted(recipe)
        if not names:
            return [], frozenset()
        draw = random.Random(f"{self.seed}:{number}")
        first = draw.choice(names)
        share = min(1.0, max(0.0, self.changes - 1) / max(1, len(names) - 1))
        others = {n for n in names if n != first and draw.random() < share}
        return [first], frozenset({first} | others)


def hash_seed(text: str) -> int:
    """A seed from ``text`` that is the same in every process (``hash`` of a str is not)."""
    return random.Random(text).getrandbits(32)


def baseline_answers(study: optuna.Study) -> dict[str, Any]:
    """The baseline's answers, all of them from the start: the study keeps the recipe it
    enqueued, and a trial planned while the baseline is still asking its questions must not
    see half a recipe (a study made before it kept one: the baseline trial's answers so far).
    Empty in a sweep without a baseline."""
    recipe = study.user_attrs.get(BASELINE_RECIPE_ATTR)
    if recipe is not None:
        return dict(recipe)
    for trial in study.get_trials(deepcopy=False):
        if trial.user_attrs.get(BASELINE_ATTR):
            return trial.params
    return {}


def best_answers(
    finished: list[FrozenTrial], learned: float = 0.0, val_size: int | None = None
) -> dict[str, Any]:
    """The answers of the finished trial whose validation accuracy was highest at any epoch
    (the first of equals): an early-stopped trial's best epoch counts, as in ``sweeps best``.
    With ``val_size``, a trial whose accuracy is within one standard error of the difference
    (:func:`tied`) is tied with it, and the cheapest of the tied trials to train to its result
    wins (:func:`seconds_to_best`; costs within 10% of each other are equal, and the better
    accuracy then wins). Empty while no trial reached ``learned``: the best of trials at
    chance is noise."""
    scored = [(value, -t.number, t) for t in finished
              if (value := _best_value(t)) is not None and value >= learned]  # fmt: skip
    if not scored:
        return {}
    best_value = max(value for value, _, _ in scored)
    ties = [item for item in scored if tied(best_value, item[0], val_size)]
    costs = {item[2].number: seconds_to_best(item[2], val_size) for item in ties}
    if all(cost for cost in costs.values()):
        cheapest = min(costs.values())
        ties = [item for item in ties if costs[item[2].number] <= 1.1 * cheapest]
    return max(ties, key=lambda item: item[:2])[2].params


def seconds_to_best(trial: FrozenTrial, val_size: int | None) -> float | None:
    """What ``trial``'s result cost: its seconds per epoch times the epochs it took to first
    come within noise (:func:`tied`) of its own best. None when its cost is unknown.

    Per epoch alone, a recipe with twice the batch looks half as dear; on all_cnn on digits
    such a recipe (batch 64, translation) tied the baseline at 0.99 after 16 epochs, where the
    baseline was there at 8, and as the incumbent it passed its slow start (0.26, 0.43, 0.39
    at epochs 1-3) to every later trial, which the median then cut. What a user pays for a
    score is the time to reach it. Without a curve, the epochs are unknown: the cost per epoch
    stands for it."""
    per_epoch = trial.user_attrs.get(SECONDS_PER_EPOCH_ATTR)
    curve = {e: v for e, v in trial.intermediate_values.items() if math.isfinite(v)}
    if not per_epoch or not curve:
        return per_epoch or None
    best = max(curve.values())
    reached = min(epoch for epoch, value in curve.items() if tied(best, value, val_size))
    return per_epoch * reached


def live_rate_bounds(
    study: optuna.Study, optimizer: str, distribution: FloatDistribution, learned: float
) -> tuple[float, float]:
    """The learning rates still worth a trial of ``optimizer``: ``distribution``'s range,
    narrowed by the finished trials of the same family that never reached ``learned``.

    A rate at which a family never left chance is an edge, as a diverging range test is: on
    all_cnn (whose class convolution keeps its ReLU) Adam at 0.0023 left every logit dead at
    exactly chance, and the sweep then spent two more trials at nearby rates. A dead rate above
    every rate at which the family learned (the baseline's, other trials') was too high, and
    later trials of the family stay ``DEATH_MARGIN`` times below the lowest such rate; one
    below them all was too low, and they stay as far above the highest. all_cnn's baseline
    learned with SGD at 0.021 on the shapes folder and SGD died at 0.11: too high, though
    0.11 lies in the lower half of the range the range test measured (0.021..1). Where the
    family has not learned yet, the range's middle (on a log scale) tells the sides apart. A
    dead rate within ``DEATH_MARGIN`` of one that learned, or between two, bounds nothing: it
    died of something else (an unlucky start, another answer). Without ``learned`` (chance
    unknown) nothing is dead, and the range stands."""
    low, high = distribution.low, distribution.high
    family = _family(optimizer)
    if learned <= 0.0 or family is None:
        return low, high
    dead, alive = [], []
    for trial in study.get_trials(deepcopy=False):
        rate, other = trial.params.get(RATE), trial.params.get("optimizer")
        if not isinstance(rate, float) or _family(other) != family:
            continue
        best = _best_value(trial)
        if best is not None and best >= learned:
            alive.append(rate)  # a running trial that learned is evidence too
        elif trial.state in FINISHED:
            dead.append(rate)
    middle = math.sqrt(low * high)
    ceiling, floor = high, low
    top, bottom = max(alive, default=0.0), min(alive, default=math.inf)
    for rate in dead:  # the margin keeps every bound clear of the rates that learned
        if rate > DEATH_MARGIN * top and (alive or rate >= middle):
            ceiling = min(ceiling, rate / DEATH_MARGIN)
        elif rate < bottom / DEATH_MARGIN and (alive or rate < middle):
            floor = max(floor, rate * DEATH_MARGIN)
    if floor >= ceiling:  # dead on both sides: the whole range is suspect, keep it
        return low, high
    return floor, ceiling


def _family(optimizer: Any) -> str | None:
    """``optimizer``'s learning-rate family (search_spaces.tunables), None for another answer."""
    from search_spaces.tunables import family_of

    try:
        return family_of(optimizer)
    except ValueError:
        return None


def tied(best: float, other: float, val_size: int | None) -> bool:
    """Whether accuracy ``other`` is within one standard error of its difference from
    ``best``, both measured on the same ``val_size`` images (never, when the size is unknown):
    on 288 images, 0.9861 and 0.9792 (two images apart) are tied, 0.9861 and 0.9688 are not."""
    if not val_size:
        return other >= best
    variance = best * (1.0 - best) + other * (1.0 - other)
    return best - other <= math.sqrt(max(variance, 0.0) / val_size)


def _ended_at_chance(study: optuna.Study, learned: float) -> bool:
    """Whether the baseline finished without ever reaching ``learned``."""
    for trial in study.get_trials(deepcopy=False, states=FINISHED):
        if trial.user_attrs.get(BASELINE_ATTR):
            best = _best_value(trial)
            return best is not None and best < learned
    return False


def _best_value(trial: FrozenTrial) -> float | None:
    values = [
        *trial.intermediate_values.values(),
        *([trial.value] if trial.value is not None else []),
    ]
    return max(values) if values else None


def fits(value: Any, distribution: BaseDistribution) -> bool:
    """Whether ``value`` is one of the answers ``distribution`` allows."""
    if isinstance(distribution, CategoricalDistribution):
        return value in distribution.choices
    low, high = getattr(distribution, "low", None), getattr(distribution, "high", None)
    if low is None or isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return low <= value <= high

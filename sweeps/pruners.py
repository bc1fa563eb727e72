"""Pruning rules of our own, on top of Optuna's pruners."""

from __future__ import annotations

import math
import statistics

import optuna
from optuna.trial import FrozenTrial, TrialState

from storage.optuna_tables import BASELINE_ATTR
from sweeps.samplers import tied

__all__ = [
    "ChanceLevelPruner",
    "PacedMedianPruner",
    "SparesRisingPruner",
    "left_chance_at",
    "rising_trend",
]

TREND_STANDARD_ERRORS = 2.0  # how clear a rise over the last epochs must be (rising_trend)


def left_chance_at(chance: float, margin: float = 0.1) -> float:
    """The accuracy a trial must reach to count as learning: ``margin`` of the way from
    chance to perfect (0.19 for ten classes, 0.55 for two)."""
    return chance + margin * (1.0 - chance)


def baseline_curve(study: optuna.Study) -> tuple[dict[int, float], bool]:
    """The baseline's validation curve, epoch -> value (the baseline and its retries: one
    curve), and whether it is still running or queued."""
    curve: dict[int, float] = {}
    running = False
    for other in study.get_trials(deepcopy=False):
        if other.user_attrs.get(BASELINE_ATTR):
            curve.update(other.intermediate_values)
            running |= other.state in (TrialState.RUNNING, TrialState.WAITING)
    return curve, running


def rising_trend(values: list[float], val_size: int | None) -> bool:
    """Whether ``values`` (one validation accuracy per epoch, oldest first) clearly rise: the
    least-squares slope is more than two standard errors above zero.

    Early stopping asks whether the best epoch was beaten by a clear step, and on a small
    split a slow learner's single epochs bounce by more than it gains in one: all_cnn's own
    recipe on the 240 validation images of the shapes folder read 0.42 after a lucky epoch 4,
    sat within noise of it for five epochs while its curve went on climbing, and was stopped
    at epoch 9 (seed 0 reached 0.90 at epoch 20). A slope fitted over the epochs of the wait
    sees the climb that no single epoch shows. The noise of each point is the larger of the
    binomial error on ``val_size`` images and the fit's own residuals, so a curve that bounces
    more than sampling explains (a large learning rate) needs a steeper climb. Fewer than
    three values, or no ``val_size``, show no trend."""
    n = len(values)
    if n < 3 or not val_size:
        return False
    epochs = range(n)
    slope, intercept = statistics.linear_regression(epochs, values)
    fitted = [intercept + slope * x for x in epochs]
    residual = sum((y - f) ** 2 for y, f in zip(values, fitted, strict=True)) / (n - 2)
    mean = statistics.fmean(values)
    spread = sum((x - (n - 1) / 2) ** 2 for x in epochs)
    sampling = mean * (1.0 - mean) / val_size
    standard_error = math.sqrt(max(residual, sampling) / spread)
    return slope > TREND_STANDARD_ERRORS * standard_error


class ChanceLevelPruner(optuna.pruners.BasePruner):
    """Prune a trial whose best validation accuracy is still at chance after a few epochs,
    unless the notebook's own recipe shows that a trial may sit there and still learn.

    A learning rate far too low for the steps a trial gets, or one that diverged, leaves a
    trial at chance level (1 / classes) from its first epoch on, and a median of other trials
    only notices once enough of them reported. This rule needs no other trial: after
    ``after_epochs`` epochs, a best value that has not gone ``margin`` of the way from chance
    to perfect (0.19 for ten classes, 0.55 for two) stops the trial. Otherwise ``base``
    decides.

    The baseline (the trial marked with ``sweeps:baseline``) is the reference: neither rule
    ever stops it. A deep batch-norm network on small, resized images can sit at chance for
    a few epochs and then learn, and the baseline's curve says so: when it first rose above
    the threshold at epoch ``r``, every trial gets ``r - 1`` epochs more than ``after_epochs``
    (a baseline that left chance in its first epoch changes nothing). While the baseline has
    not yet shown whether it leaves chance, the rule waits for it; a baseline that ended at
    chance shows nothing, and the plain rule applies.
    """

    def __init__(
        self,
        base: optuna.pruners.BasePruner,
        chance: float,
        *,
        after_epochs: int = 2,
        margin: float = 0.1,
    ):
        if not 0.0 < chance < 1.0:
            raise ValueError(f"chance must be between 0 and 1, but got {chance=}.")
        self.base, self.chance = base, chance
        self.after_epochs, self.margin = after_epochs, margin

    @property
    def threshold(self) -> float:
        return left_chance_at(self.chance, self.margin)

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        if trial.user_attrs.get(BASELINE_ATTR):
            return False
        values = trial.intermediate_values
        if values and max(values.values()) < self.threshold:
            grace = self.grace_epochs(study)
            if grace is not None and max(values) >= grace:
                return True
        return self.base.prune(study, trial)

    def grace_epochs(self, study: optuna.Study) -> int | None:
        """Epochs a trial may spend at chance before the rule stops it; None while the
        baseline, still running below the threshold, has not yet shown how long it needs."""
        curve, running = baseline_curve(study)
        risen = [epoch for epoch, value in curve.items() if value >= self.threshold]
        if risen:
            return self.after_epochs + min(risen) - 1
        if running:
            return None
        return self.after_epochs


class SparesRisingPruner(optuna.pruners.BasePruner):
    """``base`` decides only for a trial whose last epoch did not rise ``min_rise`` above its
    best before.

    A median pruner compares a trial with the others at the same epoch, so it cuts every slow
    starter, and on a network that starts slowly the slow starters are the winners: all_cnn
    on digits, recipes that ended at 0.99 read 0.24, 0.39, 0.54, 0.66 at epochs 1-4, below a
    median of 0.9, and their twins were cut there. A trial still rising is spared until it
    stalls; a stalled one is judged as before. A point of accuracy (0.01) is the rise: a slow
    starter gains several an epoch, while a trial creeping up by an image or two near its
    plateau is judged. Optuna's ``PatientPruner`` spares any trial that did not get *worse*,
    a flat one included, which is not the same.
    """

    def __init__(self, base: optuna.pruners.BasePruner, min_rise: float = 0.01):
        self.base, self.min_rise = base, min_rise

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        values, last = trial.intermediate_values, trial.last_step
        if last is None:
            return False
        earlier = [value for step, value in values.items() if step < last]
        if earlier and values[last] >= max(earlier) + self.min_rise:
            return False
        return self.base.prune(study, trial)


class PacedMedianPruner(optuna.pruners.BasePruner):
    """Optuna's median rule (a trial whose best value so far is below the median of finished
    trials at the same epoch stops), made for small validation splits and slow networks.

    - **Within noise is not below.** With ``val_size``, a trial whose best so far is
      :func:`~sweeps.samplers.tied` with the median (within one standard error of their
      difference) is spared: on 240 validation images at 35% accuracy one standard error is
      4.4 points, and the median pruner cut all_cnn recipes 3 points under it at epoch 4.
    - **The warm-up follows the recipes that trained.** The median judges no trial before
      the epoch at which the baseline (the notebook's recipe, ``sweeps:baseline``) first got
      halfway from chance (``1 / classes``) to its best, nor before the epoch at which the best
      finished trial did, nor before ``n_warmup_steps``. At epoch 4 of all_cnn on the shapes
      folder the baseline itself read 0.33 and reached 0.90 at epoch 20: every trial pruned
      there ended "below 0.5", whatever it would have become. The best trial counts too
      because the baseline may end early at a low plateau (all_cnn's, early-stopped at 0.42,
      set a pace of epoch 6 while the best recipes got halfway to 0.9 at epoch 9). On a
      network that learns at once (mnist_cnn on digits: halfway after epoch 1) the warm-up
      stays ``n_warmup_steps``. A baseline still running paces with its curve so far.

    Like Optuna's, the median is taken over COMPLETE trials, once ``n_startup_trials`` of them
    finished and at least ``n_min_trials`` reported the epoch.
    """

    def __init__(
        self,
        *,
        n_startup_trials: int,
        n_warmup_steps: int,
        n_min_trials: int,
        val_size: int | None = None,
        chance: float | None = None,
    ):
        self.n_startup_trials, self.n_warmup_steps = n_startup_trials, n_warmup_steps
        self.n_min_trials, self.val_size, self.chance = n_min_trials, val_size, chance

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        step = trial.last_step
        # The fixed warm-up first: the baseline's pace needs a pass over every trial.
        if step is None or step < self.n_warmup_steps:
            return False
        completed = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if len(completed) < self.n_startup_trials or step < self.warmup(study, completed):
            return False
        at_step = [t.intermediate_values[step] for t in completed if step in t.intermediate_values]
        if len(at_step) < self.n_min_trials:
            return False
        median = statistics.median(at_step)
        best = max(value for epoch, value in trial.intermediate_values.items() if epoch <= step)
        return best < median and not tied(median, best, self.val_size)

    def warmup(self, study: optuna.Study, completed: list[FrozenTrial] | None = None) -> int:
        """Epochs before the median judges: ``n_warmup_steps``, or the epoch at which the
        baseline or the best of the ``completed`` trials got halfway from chance to its best,
        if later (see the class)."""
        if self.chance is None:
            return self.n_warmup_steps
        if completed is None:
            completed = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        curve, _ = baseline_curve(study)
        paces = [self.n_warmup_steps, self.halfway_epoch(curve)]
        if completed:
            best = max(
                completed, key=lambda t: max(_finite(t.intermediate_values).values(), default=0.0)
            )
            paces.append(self.halfway_epoch(best.intermediate_values))
        return max(pace for pace in paces if pace is not None)

    def halfway_epoch(self, curve: dict[int, float]) -> int | None:
        """The first epoch at which ``curve`` got halfway from chance to its best; None for a
        curve that never left chance (or diverged): it shows no pace."""
        finite = _finite(curve)
        best = max(finite.values(), default=self.chance)
        if best <= self.chance:
            return None
        halfway = self.chance + 0.5 * (best - self.chance)
        return min(epoch for epoch, value in finite.items() if value >= halfway)


def _finite(curve: dict[int, float]) -> dict[int, float]:
    return {epoch: value for epoch, value in curve.items() if math.isfinite(value)}

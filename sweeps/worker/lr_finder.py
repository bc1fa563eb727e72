"""The learning-rate range test (Leslie Smith 2015; fastai's ``lr_find``), per optimizer family.

Before a sweep's first trial, one worker trains the space's baseline network for sixty
steps per optimizer family while the learning rate grows exponentially, and records the loss
of every step. The rate where the smoothed loss is lowest is the edge of stable training for
this space, dataset and batch size: the sweep then searches the decade below a fifth of it
instead of the family's generic range, so it stops spending trials on rates that
cannot train in the steps a trial gets, or that diverge. The range always holds the
notebook's own rate for its family (:func:`covering_baseline`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import keras
import numpy as np

from search_spaces import SearchSpace, tunables
from sweeps.data import Splits
from sweeps.trial_questions import RateRamp, TrialSettings
from sweeps.worker.recipe import build_trial

__all__ = [
    "FAMILIES",
    "RangeTest",
    "affordable",
    "covering_baseline",
    "run_range_tests",
    "suggest_range",
]

STEPS = 60  # fastai takes 100 over 7 decades; 60 over 4.5 is as fine a grid, at 60% the cost
DECADES = 1.0  # the searched range spans this many decades, below
# ... the rate of lowest loss divided by this: near the edge, networks without batch norm,
# smaller batches than the test's and rising schedules (cyclical) diverge; a decade and more
# below it, trials of mnist_cnn, leaky_cnn and all_cnn on digits were still at chance after
# their first epochs. fastai's advice for one run, a tenth of the edge, lies inside.
BACKOFF = 5.0
SMOOTHING = 0.85  # moving average of the loss; lags ~0.5 decade, as fastai's 0.9 over 100
DIVERGED = 4.0  # a smoothed loss this many times its minimum: stop, the rate diverged
MAX_SHARE = 0.1  # the test may cost at most this share of the sweep's training steps
MIN_DROP = 0.01  # the smoothed loss must fall this share below its start to say anything
# Each family's test sweeps from its generic lower bound to ten times its upper.
REPRESENTATIVES = {"adam": "adam", "sgd": "nesterov", "adadelta": "adadelta"}


@dataclass(frozen=True)
class RangeTest:
    """One family's measurement: the rates tried, their losses, and the range it suggests."""

    family: str
    learning_rates: list[float]
    losses: list[float]
    low: float
    high: float


def smooth(losses: list[float], beta: float = SMOOTHING) -> list[float]:
    """Bias-corrected exponential moving average (the first values are not pulled to 0)."""
    average, out = 0.0, []
    for i, loss in enumerate(losses, start=1):
        average = beta * average + (1 - beta) * loss
        out.append(average / (1 - beta**i))
    return out


def suggest_range(
    learning_rates: list[float], losses: list[float], *, decades: float = DECADES
) -> tuple[float, float] | None:
    """``(low, high)``: ``high`` is the rate of lowest smoothed loss over BACKOFF, ``low``
    ``decades`` below it.

    The smoothing lags the raw curve by a few steps, so the minimum can sit a little past the
    onset of divergence; fastai suggests a tenth of it for a single run, inside the searched
    range here.

    None when the curve says nothing: too short, or the loss never fell below where it began
    (the test had too few steps to move, and the generic range is kept).
    """
    finite = [(r, loss) for r, loss in zip(learning_rates, losses, strict=True)
              if math.isfinite(loss)]  # fmt: skip
    if len(finite) < 10:
        return None
    rates, smoothed = [r for r, _ in finite], smooth([loss for _, loss in finite])
    best = int(np.argmin(smoothed))
    # Where the loss started: the plateau of the first steps, whose rates are too small to
    # move it. A minimum within noise of it means no rate trained.
    start = float(np.median(smoothed[:10]))
    if smoothed[best] > (1 - MIN_DROP) * start:
        return None
    return below(rates[best], decades=decades)


def below(edge: float, *, decades: float = DECADES) -> tuple[float, float]:
    """The searched range under ``edge``, the rate where training stops improving or diverges.

    Also used when the loss never fell (a family too slow to move in the test's steps, as
    plain SGD on some networks) but diverged: where it diverged is an edge all the same.
    """
    high = edge / BACKOFF
    return high / 10**decades, high


class _LossRecorder(keras.callbacks.Callback):
    """Records each step's own loss and stops fit once the loss diverges.

    Keras logs the running mean of the epoch's batch losses; with equal batches, step ``n``'s
    own loss is ``n * mean_n - (n - 1) * mean_(n-1)``.
    """

    def __init__(self) -> None:
        super().__init__()
        self.losses: list[float] = []
        self._total = 0.0

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        mean = float((logs or {}).get("loss", math.nan))
        total = mean * (batch + 1)
        loss = total - self._total
        self._total = total
        self.losses.append(loss)
        smoothed = smooth(self.losses)
        if not math.isfinite(loss) or smoothed[-1] > DIVERGED * min(smoothed):
            self.model.stop_training = True


def _test_family(
    space: SearchSpace, splits: Splits, family: str, bounds: tuple[float, float], seed: int
) -> RangeTest:
    import keras_tuner as kt

    # The baseline network and recipe, with this family's optimizer and a constant rate that
    # the ramp replaces: Fixed values are what KerasTuner answers later questions with.
    hp = kt.HyperParameters()
    hp.Fixed("optimizer", REPRESENTATIVES[family])
    hp.Fixed("schedule", "constant")
    hp.Fixed("momentum", 0.9)
    # The rate grows by a constant factor every step, from the family's lower bound to ten
    # times its upper; the loss is measured on the plain images (no augmentation), in equal
    # batches (_LossRecorder's arithmetic needs them).
    start, end = bounds[0], bounds[1] * 10
    growth = (end / start) ** (1 / (STEPS - 1))
    settings = TrialSettings(
        epochs=STEPS, seed=seed, augment=False, rate_ramp=RateRamp(start, growth)
    )
    trial = build_trial(space, hp, splits, settings)
    rates = [start * growth**i for i in range(STEPS)]
    # One fit call for all the steps: a train_on_batch call per step cost 4x the time.
    recorder = _LossRecorder()
    trial.model.fit(
        trial.train.repeat(), steps_per_epoch=STEPS, epochs=1, callbacks=[recorder], verbose=0,
        shuffle=False,  # the stream shuffles itself
    )  # fmt: skip
    losses = recorder.losses
    keras.backend.clear_session()
    tried = rates[: len(losses)]
    diverged = len(losses) < STEPS  # the recorder stopped the test
    suggested = suggest_range(tried, losses) or (diverged and below(tried[-1])) or bounds
    low, high = covering_baseline(space.baseline, family, suggested)
    return RangeTest(family, [float(r) for r in tried], losses, float(low), float(high))


def covering_baseline(
    baseline: dict, family: str, suggested: tuple[float, float]
) -> tuple[float, float]:
    """``suggested``, widened to the baseline's own learning rate where the baseline uses an
    optimizer of ``family`` at a rate outside it.

    The notebook's rate is known to train this network; sixty steps are a proxy. On batch-norm
    networks the loss of a short test keeps falling at rates that die over a whole run (the
    weights grow and hide the rate): all_cnn's test on the shapes folder put SGD at 0.1..1
    around a baseline at 0.021, and its first two SGD trials sat at chance. A range without the
    baseline's rate also resamples that rate in every trial that keeps the baseline's
    optimizer, however close to the notebook it means to stay.
    """
    low, high = suggested
    optimizer, rate = baseline.get("optimizer"), baseline.get("learning_rate")
    if not isinstance(optimizer, str) or not isinstance(rate, int | float) or rate <= 0:
        return low, high
    try:
        if tunables.family_of(optimizer) != family:
            return low, high
    except ValueError:
        return low, high
    return min(low, float(rate)), max(high, float(rate))


def affordable(space: SearchSpace, splits: Splits, trials: int, epochs: int) -> bool:
    """Whether the test costs at most MAX_SHARE of the sweep's own training steps (counted at
    the baseline's batch size): a sweep of a few short trials is better off without it."""
    batch = int(space.baseline.get("batch_size", 64))
    sweep_steps = trials * epochs * math.ceil(len(splits.y_train) / batch)
    return STEPS * len(tunables.LEARNING_RATES) <= MAX_SHARE * sweep_steps


FAMILIES = tuple(optimizers[0] for optimizers in tunables.LEARNING_RATES)


def run_range_tests(
    space: SearchSpace, splits: Splits, seed: int, families: tuple[str, ...] = FAMILIES
) -> list[RangeTest]:
    """One range test per optimizer family in ``families`` (by default, every family)."""
    tests = []
    for optimizers, (low, high, _) in tunables.LEARNING_RATES.items():
        if optimizers[0] in families:
            tests.append(_test_family(space, splits, optimizers[0], (low, high), seed))
    return tests

"""The tunables every space shares, written once.

Each function asks ``hp`` one family of questions. Defaults come from the space's ``BASELINE``
so that a plain ``kt.HyperParameters()`` builds the notebook's own recipe, and every baseline
value is added to the choices it belongs to (KerasTuner insists a default is one of them).
Training-side questions (optimizer, learning rate, schedule, batch size, augmentation) are
asked by :func:`ask_training`; model-side ones (dropout, batch norm, weight decay) by the
space's ``build`` through :func:`dropout`, :func:`batch_norm` and :func:`regularizer`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "AUGMENTATIONS",
    "LEARNING_RATES",
    "OPTIMIZERS",
    "SCHEDULES",
    "TrainingBudget",
    "TrainingRecipe",
    "adapt_batch_norm",
    "ask_training",
    "batch_norm",
    "batch_norm_momentum",
    "compile_model",
    "dropout",
    "family_of",
    "learning_rate_range",
    "make_optimizer",
    "make_schedule",
    "regularizer",
]

OPTIMIZERS = ("sgd", "nesterov", "adam", "adamax", "adadelta", "rmsprop")
SCHEDULES = ("constant", "step", "exponential", "staircase", "time_based", "cosine", "cyclical")
AUGMENTATIONS = ("flip", "translation", "rotation")
BATCH_SIZES = (32, 64, 100, 128, 256)
# Optimizer family -> (lowest, highest, usual) learning rate, log-sampled.
LEARNING_RATES = {
    ("adam", "adamax", "rmsprop"): (1e-5, 3e-2, 1e-3),
    ("sgd", "nesterov"): (1e-4, 0.5, 1e-2),
    ("adadelta",): (1e-2, 2.0, 1.0),
}
WEIGHT_DECAYS = (0.0, 1e-5, 1e-4, 5e-4, 1e-3, 5e-3)
STEP_EPOCHS = ("3,6,9", "5,10,15", "10,20,30")  # "e1,e2,..": epochs (from 1) the rate drops at
CYCLE_STEPS = (50, 200, 800, 2000)  # half-cycle length of the cyclical rate, in iterations
MOMENTUM = (0.8, 0.95)  # SGD without enough momentum barely moves in a short trial
TRANSLATION_MAX, ROTATION_MAX = 0.1, 0.05  # beyond, augmentation fights a short trial
# With a budget (the images and epochs a trial gets), the ranges shrink to what can train in it:
MIN_TRIAL_STEPS = 200  # a batch size must give a trial at least this many optimizer steps
MIN_FINAL_SHARE = 0.01  # a decaying schedule keeps at least this share of its rate to the end
STEP_FRACTIONS = ((0.5,), (1 / 3, 2 / 3), (0.5, 0.75))  # step-decay points, shares of the run
CYCLE_EPOCHS = (1, 2, 4)  # half-cycle lengths, in epochs (Smith 2017 advises 2 to 10)
BATCH_NORM_FORGET = 0.05  # weight of batch norm's initial statistics left after one epoch


@dataclass(frozen=True)
class TrainingBudget:
    """What one trial gets: its training images and its epochs.

    Given to :func:`ask_training`, it keeps every range inside what can train in that budget:
    batch sizes that leave too few steps, decays that shrink the rate a hundredfold before the
    last epoch, and cycles longer than the run drop out (the baseline's own values stay).
    """

    train_size: int
    epochs: int

    def steps(self, batch_size: int) -> int:
        """Optimizer steps of a whole trial at ``batch_size`` (a partial batch is dropped)."""
        return self.epochs * max(1, self.train_size // batch_size)


@dataclass(frozen=True)
class TrainingRecipe:
    """The training-side answers of one trial."""

    optimizer: str
    learning_rate: float
    schedule: str
    schedule_args: dict[str, Any] = field(default_factory=dict)
    momentum: float = 0.0
    batch_size: int = 64
    flip: bool = False
    translation: float = 0.0
    rotation: float = 0.0
    normalization: str = "unit"


def _with(values: tuple, extra: Any) -> list:
    """``values`` plus ``extra`` (a baseline value) when it is not already among them."""
    return list(values) if extra is None or extra in values else [*values, extra]


def ask_training(
    hp: Any,
    baseline: dict[str, Any],
    *,
    normalization: str = "unit",
    augmentations: tuple[str, ...] = (),
    learning_rates: dict[str, list[float]] | None = None,
    budget: TrainingBudget | None = None,
) -> TrainingRecipe:
    """Ask the shared training questions; ``augmentations`` names the tunable ones.

    ``learning_rates`` maps an optimizer to the (low, high) learning rates a range test
    measured for its family on this space and dataset; it replaces the family's default range
    (widened to keep the baseline's own rate inside). ``budget`` narrows the batch sizes and
    the schedules to what a trial of that size can use (see :class:`TrainingBudget`).
    """
    b = baseline.get
    optimizer = hp.Choice("optimizer", list(OPTIMIZERS), default=b("optimizer", "adam"))
    # The range follows the chosen optimizer (Adadelta wants ~1, Adam ~1e-3): one 1e-5..1 axis
    # spends most trials on rates that cannot train in a short sweep. One name with a dynamic
    # range, not one conditional name per family: KerasTuner drops the value of a name that
    # is also registered under an inactive condition.
    low, high, usual = learning_rate_range(optimizer)
    same_family = learning_rate_range(b("optimizer", "adam")) == (low, high, usual)
    measured = (learning_rates or {}).get(family_of(optimizer))
    if measured:
        low, high = measured
        usual = math.sqrt(low * high)
        if same_family and b("learning_rate") is not None:
            low, high = min(low, b("learning_rate")), max(high, b("learning_rate"))
    learning_rate = hp.Float(
        "learning_rate",
        low,
        high,
        sampling="log",
        default=b("learning_rate", usual) if same_family else usual,
    )
    momentum = 0.0
    with hp.conditional_scope("optimizer", ["sgd", "nesterov"]):
        baseline_momentum = b("momentum", 0.9)
        asked = hp.Float(
            "momentum",
            min(MOMENTUM[0], baseline_momentum),
            max(MOMENTUM[1], baseline_momentum),
            default=baseline_momentum,
        )
        if optimizer in ("sgd", "nesterov"):
            momentum = asked
    schedule = hp.Choice("schedule", list(SCHEDULES), default=b("schedule", "constant"))
    schedule_args = _ask_schedule_args(hp, schedule, baseline, budget)
    sizes = _with(_batch_sizes(budget), b("batch_size"))
    batch_size = hp.Choice(
        "batch_size", sizes, default=b("batch_size", 64 if 64 in sizes else sizes[-1])
    )
    normalization = hp.Fixed("normalization", normalization)
    flip = translation = rotation = None
    if "flip" in augmentations:
        flip = hp.Boolean("flip", default=b("flip", False))
    if "translation" in augmentations:
        most = max(TRANSLATION_MAX, b("translation", 0.0))
        translation = hp.Float("translation", 0.0, most, step=0.05, default=b("translation", 0.0))
    if "rotation" in augmentations:
        most = max(ROTATION_MAX, b("rotation", 0.0))
        rotation = hp.Float("rotation", 0.0, most, step=0.025, default=b("rotation", 0.0))
    return TrainingRecipe(
        optimizer=optimizer,
        learning_rate=float(learning_rate),
        schedule=schedule,
        schedule_args=schedule_args,
        momentum=float(momentum),
        batch_size=int(batch_size),
        flip=bool(flip),
        translation=float(translation or 0.0),
        rotation=float(rotation or 0.0),
        normalization=normalization,
    )


def family_of(optimizer: str) -> str:
    """The first optimizer of ``optimizer``'s learning-rate family (its representative)."""
    for optimizers in LEARNING_RATES:
        if optimizer in optimizers:
            return optimizers[0]
    raise ValueError(f"optimizer must be one of {OPTIMIZERS}, but got {optimizer=}.")


def learning_rate_range(optimizer: str) -> tuple[float, float, float]:
    """(lowest, highest, usual) learning rate of ``optimizer``'s family."""
    for optimizers, bounds in LEARNING_RATES.items():
        if optimizer in optimizers:
            return bounds
    raise ValueError(f"optimizer must be one of {OPTIMIZERS}, but got {optimizer=}.")


def _batch_sizes(budget: TrainingBudget | None) -> tuple[int, ...]:
    """The batch sizes that give a trial of ``budget`` enough steps (at least the smallest)."""
    if budget is None:
        return BATCH_SIZES
    enough = tuple(b for b in BATCH_SIZES if budget.steps(b) >= MIN_TRIAL_STEPS)
    return enough or BATCH_SIZES[:1]


def _step_epochs(budget: TrainingBudget | None) -> tuple[str, ...]:
    """Step-decay boundaries: fixed epochs, or shares of the budget's epochs."""
    if budget is None or budget.epochs < 4:
        return STEP_EPOCHS
    choices = []
    for fractions in STEP_FRACTIONS:
        boundaries = sorted({max(2, round(f * budget.epochs)) for f in fractions})
        choices.append(",".join(map(str, boundaries)))
    return tuple(dict.fromkeys(choices))


def _lowest_decay_rate(budget: TrainingBudget | None) -> float:
    """The per-epoch rate whose decay leaves MIN_FINAL_SHARE at the budget's last epoch."""
    if budget is None or budget.epochs < 2:
        return 0.5
    return max(0.5, MIN_FINAL_SHARE ** (1 / (budget.epochs - 1)))


def _highest_time_decay(budget: TrainingBudget | None) -> float:
    """The time-based decay whose compounded divisions leave MIN_FINAL_SHARE at the last epoch
    (``prod(1 + d * k)`` for k up to the last epoch equals 1 / MIN_FINAL_SHARE), by bisection."""
    if budget is None or budget.epochs < 2:
        return 0.5
    target = -math.log(MIN_FINAL_SHARE)
    low, high = 0.0, 0.5
    for _ in range(60):
        middle = (low + high) / 2
        total = sum(math.log1p(middle * k) for k in range(1, budget.epochs))
        low, high = (middle, high) if total < target else (low, middle)
    return low


def _cycle_steps(budget: TrainingBudget | None, baseline: dict[str, Any]) -> tuple[int, ...]:
    """Half-cycle lengths: fixed iteration counts, or CYCLE_EPOCHS epochs of the baseline's
    batches, no longer than half the run (so a trial sees at least one full cycle)."""
    if budget is None:
        return CYCLE_STEPS
    per_epoch = max(1, budget.train_size // int(baseline.get("batch_size", 64)))
    longest = max(1, budget.epochs * per_epoch // 2)
    return tuple(sorted({min(longest, e * per_epoch) for e in CYCLE_EPOCHS}))


def _ask_schedule_args(
    hp: Any, schedule: str, baseline: dict[str, Any], budget: TrainingBudget | None = None
) -> dict[str, Any]:
    """Each schedule's own parameters, asked only while that schedule is chosen."""
    b = baseline.get
    args: dict[str, Any] = {}
    with hp.conditional_scope("schedule", ["step"]):
        step_choices = _step_epochs(budget)
        epochs = hp.Choice(
            "step_epochs",
            _with(step_choices, b("step_epochs")),
            default=b("step_epochs", step_choices[0]),
        )
        factor = hp.Float("step_factor", 0.1, 0.9, step=0.1, default=b("step_factor", 0.5))
        if schedule == "step":
            args = {"boundaries": [int(e) for e in epochs.split(",")], "factor": factor}
    with hp.conditional_scope("schedule", ["exponential", "staircase"]):
        lowest = min(_lowest_decay_rate(budget), b("decay_rate", 1.0))
        rate = hp.Float("decay_rate", lowest, 0.99, default=b("decay_rate", max(0.9, lowest)))
        if schedule == "exponential":
            args = {"rate": rate, "every": 1}
    with hp.conditional_scope("schedule", ["staircase"]):
        every = hp.Int("decay_epochs", 1, 10, default=b("decay_epochs", 2))
        if schedule == "staircase":
            args = {"rate": rate, "every": every}
    with hp.conditional_scope("schedule", ["time_based"]):
        highest = max(_highest_time_decay(budget), b("time_decay", 0.0))
        decay = hp.Float(
            "time_decay",
            min(1e-4, highest / 10),
            highest,
            sampling="log",
            default=b("time_decay", min(0.01, highest)),
        )
        if schedule == "time_based":
            args = {"decay": decay}
    with hp.conditional_scope("schedule", ["cyclical"]):
        cycle_choices = _cycle_steps(budget, baseline)
        step_size = hp.Choice(
            "cycle_steps",
            _with(cycle_choices, b("cycle_steps")),
            default=b("cycle_steps", cycle_choices[min(1, len(cycle_choices) - 1)]),
        )
        base_ratio = hp.Float(
            "cycle_base_ratio", 0.001, 0.5, sampling="log", default=b("cycle_base_ratio", 0.01)
        )
        amplitude_decay = hp.Float("cycle_decay", 1.0, 2.0, default=b("cycle_decay", 1.0))
        if schedule == "cyclical":
            args = {
                "step_size": step_size,
                "base_ratio": base_ratio,
                "amplitude_decay": amplitude_decay,
            }
    return args


def dropout(hp: Any, name: str, default: float, max_value: float = 0.5) -> float:
    """A dropout rate in [0, max_value] on a 0.05 grid."""
    return hp.Float(name, 0.0, max_value, step=0.05, default=default)


def batch_norm(hp: Any, default: bool) -> bool:
    """Whether the space inserts batch normalization."""
    return hp.Boolean("batch_norm", default=default)


def regularizer(hp: Any, default: float) -> Any:
    """An L2 kernel regularizer for the chosen weight decay, or None for 0."""
    import keras

    decay = hp.Choice("weight_decay", _with(WEIGHT_DECAYS, default), default=default)
    return keras.regularizers.L2(decay) if decay else None


def make_schedule(recipe: TrainingRecipe, steps_per_epoch: int, epochs: int) -> Any:
    """The recipe's learning-rate schedule as a ``LearningRateSchedule``."""
    from search_spaces import schedules as s

    lr, args, name = recipe.learning_rate, recipe.schedule_args, recipe.schedule
    if name == "constant":
        return s.ConstantSchedule(lr, steps_per_epoch)
    if name == "step":
        return s.StepDecaySchedule(lr, steps_per_epoch, args["boundaries"], args["factor"])
    if name in ("exponential", "staircase"):
        return s.ExponentialSchedule(lr, steps_per_epoch, args["rate"], args["every"])
    if name == "time_based":
        return s.TimeBasedSchedule(lr, steps_per_epoch, args["decay"])
    if name == "cosine":
        return s.CosineSchedule(lr, steps_per_epoch, epochs)
    if name == "cyclical":
        return s.CyclicalSchedule(
            lr * args["base_ratio"], lr, args["step_size"], args["amplitude_decay"]
        )
    raise ValueError(f"schedule must be one of {SCHEDULES}, but got {name=}.")


def make_optimizer(recipe: TrainingRecipe, steps_per_epoch: int, epochs: int) -> Any:
    """A fresh Keras optimizer driven by the recipe's schedule."""
    import keras

    schedule = make_schedule(recipe, steps_per_epoch, epochs)
    name = recipe.optimizer
    if name in ("sgd", "nesterov"):
        return keras.optimizers.SGD(schedule, momentum=recipe.momentum, nesterov=name == "nesterov")
    classes = {
        "adam": keras.optimizers.Adam,
        "adamax": keras.optimizers.Adamax,
        "adadelta": keras.optimizers.Adadelta,
        "rmsprop": keras.optimizers.RMSprop,
    }
    if name not in classes:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, but got {name=}.")
    return classes[name](schedule)


def batch_norm_momentum(steps_per_epoch: int) -> float:
    """The moving-average momentum that lets batch norm's statistics forget their start
    within one epoch (at most Keras' 0.99).

    At 0.99 the averages need a few hundred steps: a digits trial of 11 steps an epoch is
    scored on statistics that are mostly their initial values, and validates at chance for
    a dozen epochs while it trains well. Datasets of the notebooks' size keep 0.99.
    """
    return min(0.99, BATCH_NORM_FORGET ** (1 / max(1, steps_per_epoch)))


def adapt_batch_norm(model: Any, steps_per_epoch: int) -> None:
    """Set every trainable BatchNormalization layer's momentum for ``steps_per_epoch``."""
    import keras

    momentum = batch_norm_momentum(steps_per_epoch)
    layers = list(model.layers)
    while layers:  # nested models (a pretrained base) hold layers of their own
        layer = layers.pop()
        layers.extend(getattr(layer, "layers", []))
        if isinstance(layer, keras.layers.BatchNormalization) and layer.trainable:
            layer.momentum = min(layer.momentum, momentum)


def compile_model(model: Any, recipe: TrainingRecipe, steps_per_epoch: int, epochs: int) -> Any:
    """Compile with the recipe's optimizer (built), batch norm adapted to the epoch's length
    (see :func:`batch_norm_momentum`); spaces output logits.

    XLA stays off: on CPU it made training 13x slower.
    """
    import keras

    adapt_batch_norm(model, steps_per_epoch)

    model.compile(
        optimizer=make_optimizer(recipe, steps_per_epoch, epochs),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        jit_compile=False,
    )
    # Built now, eagerly: left to fit, the optimizer creates its variables inside the traced
    # train step, which costs about half a second per trial on a small network.
    model.optimizer.build(model.trainable_variables)
    return model

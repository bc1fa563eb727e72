"""Learning-rate schedules of the notebooks, as functions of the optimizer's step.

Every schedule is a ``keras.optimizers.schedules.LearningRateSchedule`` driven by the
optimizer's iteration counter. Epoch-based schedules convert steps to epochs with
``steps_per_epoch``. Because the iteration counter is part of the optimizer state that a
checkpoint restores, a trial resumed at any epoch continues at the same point of its schedule.
"""

from __future__ import annotations

import math
from typing import Any

import keras
from keras import ops

__all__ = [
    "ConstantSchedule",
    "CosineSchedule",
    "CyclicalSchedule",
    "ExponentialSchedule",
    "StepDecaySchedule",
    "TimeBasedSchedule",
    "learning_rate_at_epoch",
]


class _EpochSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Base for schedules whose value is a function of the (integer) epoch."""

    def __init__(self, initial_learning_rate: float, steps_per_epoch: int):
        self.initial_learning_rate = float(initial_learning_rate)
        self.steps_per_epoch = int(steps_per_epoch)

    def _epoch(self, step: Any) -> Any:
        """The 0-based epoch of ``step``, by integer division (float32 loses steps past 2**24)."""
        return ops.cast(ops.floor_divide(ops.cast(step, "int64"), self.steps_per_epoch), "float32")

    def get_config(self) -> dict[str, Any]:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "steps_per_epoch": self.steps_per_epoch,
        }


@keras.saving.register_keras_serializable(package="sweeps")
class ConstantSchedule(_EpochSchedule):
    def __call__(self, step):
        return ops.cast(self.initial_learning_rate, "float32") + 0.0 * ops.cast(step, "float32")


@keras.saving.register_keras_serializable(package="sweeps")
class StepDecaySchedule(_EpochSchedule):
    """Multiply by ``factor`` from each epoch in ``boundaries`` on (000: x0.7 at 15, 40, ...).

    Boundaries count epochs from 1, as notebook 000's loop (``for epoch in range(1, 150)``) and
    Keras' progress log ("Epoch 15/150") do: with boundary 15, the 15th epoch is the first to
    run at the lower rate, which is 0-based epoch 14.
    """

    def __init__(self, initial_learning_rate, steps_per_epoch, boundaries, factor):
        super().__init__(initial_learning_rate, steps_per_epoch)
        self.boundaries = [int(b) for b in boundaries]
        self.factor = float(factor)

    def __call__(self, step):
        epoch_number = self._epoch(step) + 1.0  # 1-based, like the boundaries
        passed = ops.zeros((), "float32")
        for boundary in self.boundaries:
            passed = passed + ops.cast(epoch_number >= boundary, "float32")
        return self.initial_learning_rate * ops.power(self.factor, passed)

    def get_config(self):
        return {**super().get_config(), "boundaries": self.boundaries, "factor": self.factor}


@keras.saving.register_keras_serializable(package="sweeps")
class ExponentialSchedule(_EpochSchedule):
    """``lr * rate ** (epoch // every)``: per epoch (002) or staircase every N epochs (003)."""

    def __init__(self, initial_learning_rate, steps_per_epoch, rate, every=1):
        super().__init__(initial_learning_rate, steps_per_epoch)
        self.rate = float(rate)
        self.every = int(every)

    def __call__(self, step):
        periods = ops.floor(self._epoch(step) / float(self.every))
        return self.initial_learning_rate * ops.power(self.rate, periods)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "every": self.every}


@keras.saving.register_keras_serializable(package="sweeps")
class TimeBasedSchedule(_EpochSchedule):
    """Notebook 004's time-based decay: each epoch divides the running rate by ``1 + decay * e``.

    The notebook's ``LearningRateScheduler`` hands ``lr / (1 + lr0/150 * epoch)`` the optimizer's
    *current* rate, so the divisions compound: the rate of epoch ``e`` is
    ``lr0 / prod(1 + decay * k for k in 1..e)``, not ``lr0 / (1 + decay * e)``. The product is
    summed in log space over a fixed table of epochs, past whose end the rate holds (it is
    below 1e-100 of the initial rate there for any decay the tunables allow).
    """

    MAX_EPOCHS = 10_000

    def __init__(self, initial_learning_rate, steps_per_epoch, decay):
        super().__init__(initial_learning_rate, steps_per_epoch)
        self.decay = float(decay)

    def __call__(self, step):
        epoch = ops.minimum(self._epoch(step), float(self.MAX_EPOCHS))
        k = ops.arange(1, self.MAX_EPOCHS + 1, dtype="float32")
        log_divisor = ops.sum(ops.where(k <= epoch, ops.log1p(self.decay * k), 0.0))
        return self.initial_learning_rate * ops.exp(-log_divisor)

    def get_config(self):
        return {**super().get_config(), "decay": self.decay}


@keras.saving.register_keras_serializable(package="sweeps")
class CosineSchedule(_EpochSchedule):
    """Cosine from ``lr`` to 0 over ``total_epochs``, stepped per epoch."""

    def __init__(self, initial_learning_rate, steps_per_epoch, total_epochs):
        super().__init__(initial_learning_rate, steps_per_epoch)
        self.total_epochs = int(total_epochs)

    def __call__(self, step):
        progress = ops.minimum(self._epoch(step) / float(max(self.total_epochs, 1)), 1.0)
        return self.initial_learning_rate * 0.5 * (1.0 + ops.cos(math.pi * progress))

    def get_config(self):
        return {**super().get_config(), "total_epochs": self.total_epochs}


@keras.saving.register_keras_serializable(package="sweeps")
class CyclicalSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Triangular cyclical learning rate (Smith 2017, notebook 004's CLR), per step.

    Rises from ``base`` to ``maximum`` over ``step_size`` iterations and back; the amplitude of
    cycle ``c`` (1-based) is scaled by ``1 / amplitude_decay ** (c - 1)`` (004 uses 1.2).
    """

    def __init__(self, base, maximum, step_size, amplitude_decay=1.0):
        self.base = float(base)
        self.maximum = float(maximum)
        self.step_size = int(step_size)
        self.amplitude_decay = float(amplitude_decay)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        cycle = ops.floor(1.0 + step / (2.0 * self.step_size))
        x = ops.abs(step / self.step_size - 2.0 * cycle + 1.0)
        scale = 1.0 / ops.power(self.amplitude_decay, cycle - 1.0)
        return self.base + (self.maximum - self.base) * ops.maximum(0.0, 1.0 - x) * scale

    def get_config(self):
        return {
            "base": self.base,
            "maximum": self.maximum,
            "step_size": self.step_size,
            "amplitude_decay": self.amplitude_decay,
        }


def learning_rate_at_epoch(schedule: Any, epoch: int, steps_per_epoch: int) -> float:
    """The rate the schedule gives at the first step of ``epoch`` (0-based)."""
    return float(ops.convert_to_numpy(schedule(epoch * steps_per_epoch)))

"""A test space whose ``mode`` decides how a trial ends, each through real Keras training.

- "ok" trains normally;
- "diverge" turns the logits to NaN after ``DIVERGE_AFTER_STEPS`` training steps, so the loss
  really becomes NaN partway through (in epoch 2 on digits at batch 64);
- "io" raises an OSError while building, once per marker file named by ``$OUTCOME_IO_MARKER``
  (a transient fault: the retry, with the same parameters, succeeds);
- "bug" raises a ValueError while building (deterministic: the same parameters raise again).
"""

from __future__ import annotations

import os
from pathlib import Path

from search_spaces import SpaceInfo

INFO = SpaceInfo(
    name="outcomes",
    notebook="test",
    title="test space that ends trials on demand",
    published="-",
    min_input=(8, 8),
)
BASELINE = {
    "optimizer": "adam",
    "learning_rate": 1e-3,
    "schedule": "constant",
    "batch_size": 64,
    "normalization": "unit",
    "mode": "ok",
}
DIVERGE_AFTER_STEPS = 20
IO_MARKER_ENV = "OUTCOME_IO_MARKER"


def build(hp, spec):
    import keras

    mode = hp.Choice("mode", ["ok", "diverge", "io", "bug"], default="ok")
    if mode == "bug":
        raise ValueError("mode 'bug' is a bug in the space")
    if mode == "io":
        marker = Path(os.environ[IO_MARKER_ENV])
        if not marker.exists():
            marker.touch()
            raise OSError("the disk hiccupped")
    inputs = keras.Input(spec.shape)
    x = keras.layers.Flatten()(inputs)
    logits = keras.layers.Dense(spec.num_classes)(x)
    if mode == "diverge":
        logits = _DivergeAfter(DIVERGE_AFTER_STEPS)(logits)
    return keras.Model(inputs, logits)


def _diverge_layer():
    import keras

    class DivergeAfter(keras.layers.Layer):
        """Passes its input through, then NaN once it has seen ``steps`` training batches."""

        def __init__(self, steps: int, **kwargs):
            super().__init__(**kwargs)
            self.steps = steps

        def build(self, input_shape):
            self.seen = self.add_weight(shape=(), initializer="zeros", trainable=False)

        def call(self, x, training=False):
            if training:
                self.seen.assign_add(1.0)
            scale = keras.ops.where(self.seen > self.steps, float("nan"), 1.0)
            return x * scale

    return DivergeAfter


def _DivergeAfter(steps: int):  # noqa: N802 - reads as the layer it builds
    return _diverge_layer()(steps)

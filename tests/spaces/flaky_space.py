"""A test space whose ``mode`` decides whether a trial works, fails, turns to NaN or cannot learn.

Real Keras all the way: "nan" multiplies the logits by NaN, so the loss really becomes NaN;
"frozen" makes the only layer untrainable, so validation accuracy never moves.
"""

from __future__ import annotations

from search_spaces import SpaceInfo

INFO = SpaceInfo(
    name="flaky",
    notebook="test",
    title="test space that fails on demand",
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


def build(hp, spec):
    import keras

    mode = hp.Choice("mode", ["ok", "fail", "nan", "frozen"], default="ok")
    if mode == "fail":
        raise ValueError("mode 'fail' is a bad combination")
    inputs = keras.Input(spec.shape)
    x = keras.layers.Flatten()(inputs)
    logits = keras.layers.Dense(spec.num_classes, trainable=mode != "frozen")(x)
    if mode == "nan":
        logits = keras.layers.Lambda(lambda t: t * float("nan"))(logits)
    return keras.Model(inputs, logits)

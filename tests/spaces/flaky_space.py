"""A test space whose ``mode`` choice decides whether the trial works, fails, or turns to NaN.

Real Keras all the way: "nan" multiplies the logits by NaN, so the loss really becomes NaN.
"""

from __future__ import annotations

from search_spaces import SpaceInfo

INFO = SpaceInfo(name="flaky", notebook="test", title="test space that fails on demand",
                 published="-", min_input=(8, 8))
BASELINE = {"optimizer": "adam", "learning_rate": 1e-3, "schedule": "constant",
            "batch_size": 64, "normalization": "unit", "mode": "ok"}


def build(hp, spec):
    import keras

    mode = hp.Choice("mode", ["ok", "fail", "nan"], default="ok")
    if mode == "fail":
        raise ValueError("mode 'fail' is a bad combination")
    inputs = keras.Input(spec.shape)
    x = keras.layers.Flatten()(inputs)
    logits = keras.layers.Dense(spec.num_classes)(x)
    if mode == "nan":
        logits = keras.layers.Lambda(lambda t: t * float("nan"))(logits)
    return keras.Model(inputs, logits)

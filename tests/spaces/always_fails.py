"""A test space that builds but cannot train: every trial fails the same way.

It builds, so the preflight (which builds the first model and runs it once, not training)
lets the sweep start; its layer refuses the training pass, which only a trial makes.
"""

from __future__ import annotations

from search_spaces import SpaceInfo

INFO = SpaceInfo(name="always_fails", notebook="test", title="fails", published="-")
BASELINE: dict = {}


def build(hp, spec):
    import keras

    class NeverTrains(keras.layers.Layer):
        def call(self, inputs, training=None):
            if training:
                raise ValueError("this space never trains")
            return inputs

    hp.Float("x", 0.0, 1.0)
    inputs = keras.Input(spec.shape)
    x = NeverTrains()(keras.layers.Flatten()(inputs))
    return keras.Model(inputs, keras.layers.Dense(spec.num_classes)(x))

"""Notebook 002's CIFAR-10 CNN with LeakyReLU(0.1) everywhere.

conv 16, conv 32, maxpool, dropout .25, conv 32, conv 64, maxpool, dropout .25, dense 256,
dropout .5, dense 10. Tunable: width (first conv's filters; the rest keep the notebook's
ratios), dense units, the two dropout rates, LeakyReLU slope, batch norm, weight decay.
"""

from __future__ import annotations

from typing import Any

from search_spaces import tunables
from search_spaces.base import InputSpec, SpaceInfo

INFO = SpaceInfo(
    name="leaky_cnn",
    notebook="002",
    title="LeakyReLU CNN: 4 convs, 2 pools, dense 256",
    published="CIFAR-10 test 79.13% (Adamax 5e-3, x0.9 per epoch, 10 epochs)",
    min_input=(8, 8),
    fits=("cifar10",),
    normalization="centered",  # inputs scaled to [-0.5, 0.5]
    augmentations=("flip", "translation"),
)

BASELINE: dict[str, Any] = {
    "optimizer": "adamax",
    "learning_rate": 5e-3,
    "schedule": "exponential",
    "decay_rate": 0.9,
    "batch_size": 64,
    "normalization": "centered",
    "filters": 16,
    "dense_units": 256,
    "dropout_conv": 0.25,
    "dropout_dense": 0.5,
    "leaky_slope": 0.1,
    "batch_norm": False,
    "weight_decay": 0.0,
    "flip": False,
    "translation": 0.0,
}


def build(hp: Any, spec: InputSpec) -> Any:
    import keras
    from keras import layers

    b = BASELINE
    filters = hp.Choice("filters", [8, 16, 32], default=b["filters"])
    dense_units = hp.Choice("dense_units", [128, 256, 512], default=b["dense_units"])
    dropout_conv = tunables.dropout(hp, "dropout_conv", b["dropout_conv"])
    dropout_dense = tunables.dropout(hp, "dropout_dense", b["dropout_dense"])
    slope = hp.Choice("leaky_slope", [0.0, 0.1, 0.2, 0.3], default=b["leaky_slope"])
    use_bn = tunables.batch_norm(hp, b["batch_norm"])
    l2 = tunables.regularizer(hp, b["weight_decay"])

    def conv(x, n):
        x = layers.Conv2D(n, 3, padding="same", kernel_regularizer=l2, use_bias=not use_bn)(x)
        if use_bn:
            x = layers.BatchNormalization()(x)
        return layers.LeakyReLU(negative_slope=slope)(x)

    inputs = keras.Input(spec.shape)
    x = conv(inputs, filters)
    x = conv(x, filters * 2)
    x = layers.MaxPooling2D()(x)
    x = layers.Dropout(dropout_conv)(x)
    x = conv(x, filters * 2)
    x = conv(x, filters * 4)
    x = layers.MaxPooling2D()(x)
    x = layers.Dropout(dropout_conv)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(dense_units, kernel_regularizer=l2)(x)
    x = layers.LeakyReLU(negative_slope=slope)(x)
    x = layers.Dropout(dropout_dense)(x)
    outputs = layers.Dense(spec.num_classes)(x)  # logits
    return keras.Model(inputs, outputs, name="leaky_cnn")

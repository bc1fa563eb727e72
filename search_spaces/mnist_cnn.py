"""Notebook 003's MNIST CNN, plain or in its ConvBNRelu / DenseBNRelu form.

3 x [conv 3x3 (32, 64, 128) + maxpool 'same'], flatten, dense 256, dropout 0.4, dense 10.
``batch_norm`` picks the notebook's BN variant (conv/dense without bias, BN, ReLU, glorot_normal
init). Tunable: width (first conv's filters, doubled per block), dense units, dropout, weight
decay. The notebook's Sequential, Functional and subclassed forms are the same network.
"""

from __future__ import annotations

from typing import Any

from search_spaces import tunables
from search_spaces.base import InputSpec, SpaceInfo

INFO = SpaceInfo(
    name="mnist_cnn",
    notebook="003",
    title="MNIST CNN: 3 x (conv + pool), dense 256, dropout 0.4",
    published="MNIST test 99.3% single model (Adam 1e-3, batch 100, 15 epochs)",
    min_input=(8, 8),  # 'same' pooling: 8 -> 4 -> 2 -> 1
    fits=("mnist", "fashion_mnist"),
    normalization="unit",  # pixels / 255
    augmentations=("translation", "rotation"),
)

BASELINE: dict[str, Any] = {
    "optimizer": "adam",
    "learning_rate": 1e-3,
    "schedule": "constant",
    "batch_size": 100,
    "normalization": "unit",
    "filters": 32,
    "dense_units": 256,
    "dropout": 0.4,
    "batch_norm": False,
    "weight_decay": 0.0,
    "translation": 0.0,
    "rotation": 0.0,
}


def build(hp: Any, spec: InputSpec) -> Any:
    import keras
    from keras import layers

    b = BASELINE
    filters = hp.Choice("filters", [16, 32, 64], default=b["filters"])
    dense_units = hp.Choice("dense_units", [128, 256, 512], default=b["dense_units"])
    rate = tunables.dropout(hp, "dropout", b["dropout"])
    use_bn = tunables.batch_norm(hp, b["batch_norm"])
    l2 = tunables.regularizer(hp, b["weight_decay"])
    init = "glorot_normal" if use_bn else "glorot_uniform"

    def bn_relu(x):
        if use_bn:
            x = layers.BatchNormalization()(x)
        return layers.ReLU()(x)

    inputs = keras.Input(spec.shape)
    x = inputs
    for block in range(3):
        x = layers.Conv2D(
            filters * 2**block,
            3,
            padding="same",
            use_bias=not use_bn,
            kernel_initializer=init,
            kernel_regularizer=l2,
        )(x)
        x = bn_relu(x)
        x = layers.MaxPooling2D(padding="same")(x)
    x = layers.Flatten()(x)
    x = layers.Dense(
        dense_units, use_bias=not use_bn, kernel_initializer=init, kernel_regularizer=l2
    )(x)
    x = bn_relu(x)
    x = layers.Dropout(rate)(x)
    outputs = layers.Dense(spec.num_classes, kernel_initializer=init)(x)  # logits
    return keras.Model(inputs, outputs, name="mnist_cnn")

"""Notebook 004's shallow VGG-style CIFAR-10 net.

3 x [2 x conv 3x3 'same' + ReLU (32, 64, 128 filters), maxpool], flatten, dense 256 + ReLU,
dropout 0.4, dense 128 + ReLU, dropout 0.2, dense 10; he_uniform init on the convs. Tunable:
depth (VGG blocks, filters doubling per block), width (first block's filters), dense units
(the second dense layer has half), the two dropout rates, batch norm after each conv, weight
decay.
"""

from __future__ import annotations

from typing import Any

from search_spaces import tunables
from search_spaces.base import InputSpec, SpaceInfo

INFO = SpaceInfo(
    name="shallow_vgg",
    notebook="004c",
    title="Shallow VGG: 3 x (2 convs + pool), dense 256, dense 128",
    published="CIFAR-10 test about 80% (Adadelta 0.5, batch 64, augmentation)",
    min_input=(16, 16),  # up to 4 blocks, each ending in a 2x2 'valid' pool: 16 -> 1
    fits=("cifar10",),
    normalization="unit",  # pixels / 255
    augmentations=("flip", "translation", "rotation"),
)

BASELINE: dict[str, Any] = {
    "optimizer": "adadelta",
    "learning_rate": 0.5,
    "schedule": "constant",
    "batch_size": 64,
    "normalization": "unit",
    "flip": False,
    "translation": 0.05,
    "rotation": 0.05,
    "blocks": 3,
    "filters": 32,
    "dense_units": 256,
    "dropout_1": 0.4,
    "dropout_2": 0.2,
    "batch_norm": False,
    "weight_decay": 0.0,
    "initializer": "he_uniform",
}


def build(hp: Any, spec: InputSpec) -> Any:
    import keras
    from keras import layers

    b = BASELINE
    blocks = hp.Int("blocks", 2, 4, default=b["blocks"])
    filters = hp.Choice("filters", [16, 32, 64], default=b["filters"])
    dense_units = hp.Choice("dense_units", [128, 256, 512], default=b["dense_units"])
    dropout_1 = tunables.dropout(hp, "dropout_1", b["dropout_1"])
    dropout_2 = tunables.dropout(hp, "dropout_2", b["dropout_2"])
    use_bn = tunables.batch_norm(hp, b["batch_norm"])
    l2 = tunables.regularizer(hp, b["weight_decay"])
    init = hp.Fixed("initializer", b["initializer"])

    inputs = keras.Input(spec.shape)
    x = inputs
    for block in range(blocks):
        for _ in range(2):
            x = layers.Conv2D(
                filters * 2**block,
                3,
                padding="same",
                use_bias=not use_bn,
                kernel_initializer=init,
                kernel_regularizer=l2,
            )(x)
            if use_bn:
                x = layers.BatchNormalization()(x)
            x = layers.ReLU()(x)
        x = layers.MaxPooling2D()(x)
    x = layers.Flatten()(x)
    x = layers.Dense(dense_units, activation="relu", kernel_regularizer=l2)(x)
    x = layers.Dropout(dropout_1)(x)
    x = layers.Dense(dense_units // 2, activation="relu", kernel_regularizer=l2)(x)
    x = layers.Dropout(dropout_2)(x)
    outputs = layers.Dense(spec.num_classes)(x)  # logits
    return keras.Model(inputs, outputs, name="shallow_vgg")

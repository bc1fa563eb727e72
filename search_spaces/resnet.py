"""Notebook 004's custom ResNet for CIFAR-10.

Batch norm on the input, stem conv 3x3 16, then three stages, each one identity block at the
incoming width followed by two conv blocks (16, 32, 64 filters; stride 2). A block is
BN-ReLU-conv3x3-BN-ReLU-conv3x3 plus a shortcut (identity, or BN + 1x1 conv with the block's
stride), then a ReLU after the sum, as in the notebook. 2x2 average pool ('same'), flatten,
dense 256 + ReLU, dropout 0.4, dense 128 + ReLU, dropout 0.2, dense 10. Tunable: width (stem
and first stage filters, doubled per stage), depth (identity and conv blocks per stage), dense
units (the second dense layer has half), the two dropout rates, weight decay.
"""

from __future__ import annotations

from typing import Any

from search_spaces import tunables
from search_spaces.base import InputSpec, SpaceInfo

INFO = SpaceInfo(
    name="resnet",
    notebook="004d",
    title="Custom ResNet: stem conv 16, 3 stages of identity + conv blocks, dense 256, 128",
    published="CIFAR-10 test 76.86% (Adadelta 0.5); 72.13% (Adam, cyclical lr 5e-5..5e-3)",
    # Six stride-2 blocks ('same' padding): at the notebook's 32x32 the maps reach 1x1 after
    # five, so smaller inputs would leave ever more of the network working on 1x1 maps.
    min_input=(32, 32),
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
    "filters": 16,
    "identity_blocks": 1,
    "conv_blocks": 2,
    "dense_units": 256,
    "dropout_1": 0.4,
    "dropout_2": 0.2,
    "weight_decay": 0.0,
}


def build(hp: Any, spec: InputSpec) -> Any:
    import keras
    from keras import layers

    b = BASELINE
    filters = hp.Choice("filters", [8, 16, 32], default=b["filters"])
    identity_blocks = hp.Int("identity_blocks", 1, 3, default=b["identity_blocks"])
    conv_blocks = hp.Int("conv_blocks", 1, 2, default=b["conv_blocks"])
    dense_units = hp.Choice("dense_units", [128, 256, 512], default=b["dense_units"])
    dropout_1 = tunables.dropout(hp, "dropout_1", b["dropout_1"])
    dropout_2 = tunables.dropout(hp, "dropout_2", b["dropout_2"])
    l2 = tunables.regularizer(hp, b["weight_decay"])

    def conv(x, n, size=3, strides=1):
        return layers.Conv2D(n, size, strides=strides, padding="same", kernel_regularizer=l2)(x)

    def block(x, n, strides):
        shortcut = x
        x = conv(layers.ReLU()(layers.BatchNormalization()(x)), n, strides=strides)
        x = conv(layers.ReLU()(layers.BatchNormalization()(x)), n)
        if strides != 1 or shortcut.shape[-1] != n:  # the notebook's conv block
            shortcut = conv(layers.BatchNormalization()(shortcut), n, size=1, strides=strides)
        return layers.ReLU()(layers.Add()([x, shortcut]))

    inputs = keras.Input(spec.shape)
    x = conv(layers.BatchNormalization()(inputs), filters)
    for stage in range(3):
        for _ in range(identity_blocks):
            x = block(x, x.shape[-1], strides=1)
        for _ in range(conv_blocks):
            x = block(x, filters * 2**stage, strides=2)
    x = layers.AveragePooling2D(2, padding="same")(x)
    x = layers.Flatten()(x)
    x = layers.Dense(dense_units, activation="relu", kernel_regularizer=l2)(x)
    x = layers.Dropout(dropout_1)(x)
    x = layers.Dense(dense_units // 2, activation="relu", kernel_regularizer=l2)(x)
    x = layers.Dropout(dropout_2)(x)
    outputs = layers.Dense(spec.num_classes)(x)  # logits
    return keras.Model(inputs, outputs, name="resnet")

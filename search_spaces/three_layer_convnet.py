"""Notebook 001's CS231n three-layer convnet, in its barebones and Keras Sequential forms.

conv 5x5 (zero padding 2) + ReLU, conv 3x3 (zero padding 1) + ReLU, fully connected to the
classes; no pooling. ``variant`` picks the filter counts: barebones 32 then 16, the Keras
Sequential variant 16 then 32. Both initialise with variance scaling (He normal). Tunable:
width (a multiplier of the variant's filters) and, from the notebook's open challenge, batch
norm and weight decay.
"""

from __future__ import annotations

from typing import Any

from search_spaces import tunables
from search_spaces.base import InputSpec, SpaceInfo

VARIANTS = {"barebones": (32, 16), "keras": (16, 32)}  # filters of the two convs

INFO = SpaceInfo(
    name="three_layer_convnet",
    notebook="001",
    title="CS231n three-layer convnet: conv 5x5, conv 3x3, fully connected",
    published="CIFAR-10 val >= 43-45% after 1 epoch (barebones SGD 3e-3 / Keras Nesterov 5e-4); "
    "open challenge: >= 70% val within 10 epochs",
    min_input=(8, 8),  # 'same' padding and no pooling: any size works
    fits=("cifar10",),
    normalization="train_stats",  # the training set's per-channel mean and std
    augmentations=("flip", "translation"),
)

BASELINE: dict[str, Any] = {
    "optimizer": "sgd",
    "learning_rate": 3e-3,
    "momentum": 0.0,
    "schedule": "constant",
    "batch_size": 64,
    "normalization": "train_stats",
    "flip": False,
    "translation": 0.0,
    "variant": "barebones",
    "width": 1,
    "batch_norm": False,
    "weight_decay": 0.0,
}


def build(hp: Any, spec: InputSpec) -> Any:
    import keras
    from keras import layers

    b = BASELINE
    variant = hp.Choice("variant", list(VARIANTS), default=b["variant"])
    width = hp.Choice("width", [1, 2, 4], default=b["width"])
    use_bn = tunables.batch_norm(hp, b["batch_norm"])
    l2 = tunables.regularizer(hp, b["weight_decay"])

    def conv_relu(x, n, size):
        x = layers.Conv2D(
            n * width,
            size,
            padding="same",
            use_bias=not use_bn,
            kernel_initializer="he_normal",
            kernel_regularizer=l2,
        )(x)
        if use_bn:
            x = layers.BatchNormalization()(x)
        return layers.ReLU()(x)

    first, second = VARIANTS[variant]
    inputs = keras.Input(spec.shape)
    x = conv_relu(inputs, first, 5)
    x = conv_relu(x, second, 3)
    x = layers.Flatten()(x)
    head = layers.Dense(spec.num_classes, kernel_initializer="he_normal", kernel_regularizer=l2)
    outputs = head(x)  # logits
    return keras.Model(inputs, outputs, name="three_layer_convnet")

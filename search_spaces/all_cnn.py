"""Notebook 000's All-CNN "Strided-CNN-C" (Springenberg et al. 2014) for CIFAR-10.

3x3 conv 96 + BN + ReLU, 3x3/2 conv 96, dropout 0.5, 3x3 conv 192, 3x3/2 conv 192, dropout 0.5,
3x3 conv 192, 1x1 conv 192, 1x1 conv 10, global average pool: strided convolutions instead of
pooling. The class conv keeps its ReLU, as in the paper and the notebook; its pooled maps are
the logits. Tunable: width (first conv's filters; the later convs double it), dropout, batch
norm on the first conv (the notebook's addition to the paper), L2 weight decay on every conv.
"""

from __future__ import annotations

from typing import Any

from search_spaces import tunables
from search_spaces.base import InputSpec, SpaceInfo

INFO = SpaceInfo(
    name="all_cnn",
    notebook="000",
    title="All-CNN Strided-CNN-C: 9 convs, strided instead of pooled, global average pool",
    published="CIFAR-10 test 63.56% after 150 epochs (SGD momentum 0.9, lr 0.021 x0.7 at "
    "epochs 15, 40, 75, 90, 115, 140)",
    min_input=(8, 8),  # 'same' padding and two stride-2 convs: 8 -> 4 -> 2
    fits=("cifar10",),
    normalization="per_image",  # tf.image.per_image_standardization
    augmentations=("flip", "translation"),
)

BASELINE: dict[str, Any] = {
    "optimizer": "sgd",
    "learning_rate": 0.021,
    "momentum": 0.9,
    "schedule": "step",
    "step_epochs": "15,40,75,90,115,140",
    "step_factor": 0.7,
    "batch_size": 32,
    "normalization": "per_image",
    "flip": False,
    "translation": 0.0,
    "filters": 96,
    "dropout": 0.5,
    "batch_norm": True,
    "weight_decay": 0.001,
}


def build(hp: Any, spec: InputSpec) -> Any:
    import keras
    from keras import layers

    b = BASELINE
    filters = hp.Choice("filters", [32, 64, 96, 128], default=b["filters"])
    rate = tunables.dropout(hp, "dropout", b["dropout"])
    use_bn = tunables.batch_norm(hp, b["batch_norm"])
    l2 = tunables.regularizer(hp, b["weight_decay"])

    def conv(x, n, size=3, strides=1):
        return layers.Conv2D(
            n, size, strides=strides, padding="same", activation="relu", kernel_regularizer=l2
        )(x)

    inputs = keras.Input(spec.shape)
    x = layers.Conv2D(filters, 3, padding="same", kernel_regularizer=l2)(inputs)  # biased, as 000
    if use_bn:
        x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
    x = conv(x, filters, strides=2)
    x = layers.Dropout(rate)(x)
    x = conv(x, filters * 2)
    x = conv(x, filters * 2, strides=2)
    x = layers.Dropout(rate)(x)
    x = conv(x, filters * 2)
    x = conv(x, filters * 2, size=1)
    x = conv(x, spec.num_classes, size=1)
    outputs = layers.GlobalAveragePooling2D()(x)  # logits
    return keras.Model(inputs, outputs, name="all_cnn")

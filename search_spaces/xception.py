"""Notebook 004's Xception (``keras.applications``) on CIFAR-10 resized to 71x71.

The Xception base without its top, global max pooling, then a head of dense 256 + ReLU, BN,
dropout 0.4 and dense 10. The notebook trains it from random weights; ``InputSpec.weights``
may ask for ImageNet weights or a weights file instead (see :mod:`search_spaces.pretrained`).
Tunable: the base's global pooling, the head's units, batch norm and dropout.
"""

from __future__ import annotations

from typing import Any

from search_spaces import pretrained
from search_spaces.base import InputSpec, SpaceInfo

WEIGHTS_FILE = "xception_weights_tf_dim_ordering_tf_kernels_notop.h5"
WEIGHTS_URL = (
    f"https://storage.googleapis.com/tensorflow/keras-applications/xception/{WEIGHTS_FILE}"
)

INFO = SpaceInfo(
    name="xception",
    notebook="004e",
    title="Xception (keras.applications, random init), max pool, dense 256 + BN + dropout head",
    published="CIFAR-10 test 85.03% (71x71 inputs, Adadelta 0.9, batch 64, 20 epochs)",
    min_input=(71, 71),  # keras.applications.Xception refuses smaller inputs
    channels=(3,),
    fits=("cifar10",),
    normalization="unit",  # pixels / 255
    augmentations=("flip", "translation", "rotation"),
)

BASELINE: dict[str, Any] = {
    "optimizer": "adadelta",
    "learning_rate": 0.9,
    "schedule": "constant",
    "batch_size": 64,
    "normalization": "unit",
    "flip": False,
    "translation": 0.05,
    "rotation": 0.05,
    "pooling": "max",
    "dense_units": 256,
    "batch_norm": True,
    "dropout": 0.4,
}


def build(hp: Any, spec: InputSpec) -> Any:
    import keras

    b = BASELINE
    pooling = hp.Choice("pooling", ["max", "avg"], default=b["pooling"])
    weights = pretrained.resolve_weights(spec.weights, INFO.name, WEIGHTS_FILE, WEIGHTS_URL)

    base = keras.applications.Xception(
        weights=weights, include_top=False, input_shape=spec.shape, pooling=pooling
    )
    inputs = keras.Input(spec.shape)
    outputs = pretrained.head(hp, base(inputs), b, spec.num_classes)
    return keras.Model(inputs, outputs, name="xception")

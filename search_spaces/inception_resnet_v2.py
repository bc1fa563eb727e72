"""Notebook 004's transfer learning: InceptionResNetV2 on MNIST resized to 84x84 RGB.

The InceptionResNetV2 base (``keras.applications``) without its top, global max pooling, then
a head of dense 256 + ReLU, BN, dropout 0.4 and dense 10. ``fine_tune`` picks the notebook's two
runs: the base frozen (only the head trains) or trained with the head. The notebook loads
ImageNet weights; here ``InputSpec.weights`` chooses: None (random init), "imagenet" (Keras'
cached file, never downloaded) or a weights file (see :mod:`search_spaces.pretrained`).
Tunable: fine-tuning, the base's global pooling, the head's units, batch norm and dropout.
"""

from __future__ import annotations

from typing import Any

from search_spaces import pretrained
from search_spaces.base import InputSpec, SpaceInfo

WEIGHTS_FILE = "inception_resnet_v2_weights_tf_dim_ordering_tf_kernels_notop.h5"
WEIGHTS_URL = (
    f"https://storage.googleapis.com/tensorflow/keras-applications/inception_resnet_v2/"
    f"{WEIGHTS_FILE}"
)

INFO = SpaceInfo(
    name="inception_resnet_v2",
    notebook="004f",
    title="InceptionResNetV2 (keras.applications), frozen or fine-tuned, dense 256 head",
    published="MNIST test 99.53% frozen, 99.50% fine-tuned (ImageNet weights, 84x84 RGB, "
    "Adam 1e-4, batch 64)",
    min_input=(75, 75),  # keras.applications.InceptionResNetV2 refuses smaller inputs
    channels=(3,),
    fits=("mnist", "fashion_mnist"),
    normalization="unit",  # pixels / 255, as the notebook fed the ImageNet-trained base
    augmentations=("translation", "rotation"),
)

BASELINE: dict[str, Any] = {
    "optimizer": "adam",
    "learning_rate": 1e-4,
    "schedule": "constant",
    "batch_size": 64,
    "normalization": "unit",
    "translation": 0.05,
    "rotation": 0.1,
    "fine_tune": False,
    "pooling": "max",
    "dense_units": 256,
    "batch_norm": True,
    "dropout": 0.4,
}


def build(hp: Any, spec: InputSpec) -> Any:
    import keras

    b = BASELINE
    fine_tune = hp.Boolean("fine_tune", default=b["fine_tune"])
    pooling = hp.Choice("pooling", ["max", "avg"], default=b["pooling"])
    weights = pretrained.resolve_weights(spec.weights, INFO.name, WEIGHTS_FILE, WEIGHTS_URL)

    base = keras.applications.InceptionResNetV2(
        weights=weights, include_top=False, input_shape=spec.shape, pooling=pooling
    )
    base.trainable = fine_tune  # frozen: its batch norms also run in inference mode
    inputs = keras.Input(spec.shape)
    outputs = pretrained.head(hp, base(inputs), b, spec.num_classes)
    return keras.Model(inputs, outputs, name="inception_resnet_v2")

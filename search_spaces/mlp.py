"""Notebook 004's fully connected MNIST net with dropout, batch norm and max-norm.

dropout 0.2 on the input, dense 256 + ReLU, BN, dropout 0.2, dense 128 + ReLU, BN, dropout 0.2,
dense 10; every dense layer's kernel constrained to max_norm(3). The notebook switches dropout
and batch norm on and off; here they are the tunables, with depth (hidden layers, each half as
wide as the one before), width (the first hidden layer's units) and the max-norm bound
(0 turns the constraint off).
"""

from __future__ import annotations

from typing import Any

from search_spaces import tunables
from search_spaces.base import InputSpec, SpaceInfo

INFO = SpaceInfo(
    name="mlp",
    notebook="004a",
    title="MLP: dropout, dense 256, BN, dropout, dense 128, BN, dropout; max_norm(3)",
    published="MNIST test 98.7% (Adadelta; lr 0.1/0.5/0.8 x constant/time-based decay)",
    min_input=(8, 8),  # flattened: any size works
    fits=("mnist", "fashion_mnist"),
    normalization="unit",  # pixels / 255
    augmentations=("translation", "rotation"),
)

BASELINE: dict[str, Any] = {
    "optimizer": "adadelta",
    "learning_rate": 0.1,
    "schedule": "time_based",
    "time_decay": 0.1 / 150,  # the notebook's lr / (1 + lr/150 * epoch), lr = 0.1
    "batch_size": 64,
    "normalization": "unit",
    "translation": 0.0,
    "rotation": 0.0,
    "hidden_layers": 2,
    "units": 256,
    "dropout_input": 0.2,
    "dropout": 0.2,
    "batch_norm": True,
    "max_norm": 3.0,
}


def build(hp: Any, spec: InputSpec) -> Any:
    import keras
    from keras import layers

    b = BASELINE
    hidden_layers = hp.Int("hidden_layers", 1, 3, default=b["hidden_layers"])
    units = hp.Choice("units", [128, 256, 512, 1024], default=b["units"])
    dropout_input = tunables.dropout(hp, "dropout_input", b["dropout_input"])
    rate = tunables.dropout(hp, "dropout", b["dropout"])
    use_bn = tunables.batch_norm(hp, b["batch_norm"])
    bound = hp.Choice("max_norm", [0.0, 2.0, 3.0, 4.0], default=b["max_norm"])
    constraint = keras.constraints.MaxNorm(bound) if bound else None

    inputs = keras.Input(spec.shape)
    x = layers.Flatten()(inputs)
    x = layers.Dropout(dropout_input)(x)
    for layer in range(hidden_layers):
        x = layers.Dense(units // 2**layer, activation="relu", kernel_constraint=constraint)(x)
        if use_bn:
            x = layers.BatchNormalization()(x)  # after the ReLU, as in the notebook
        x = layers.Dropout(rate)(x)
    outputs = layers.Dense(spec.num_classes, kernel_constraint=constraint)(x)  # logits
    return keras.Model(inputs, outputs, name="mlp")

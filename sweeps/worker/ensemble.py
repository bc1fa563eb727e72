"""``sweeps ensemble``: several trials' models behind one input, their logits averaged.

Notebook 003 sums its five models' logits; the mean has the same argmax and keeps the logits'
scale. Each member keeps its own input path (they share the raw image), so members that
normalise differently still combine. The caller chooses the members, on validation only.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

from sweeps.data import Splits
from sweeps.model_tasks import EnsembleResult, InputContract, TrialSpec
from sweeps.worker.evaluation import PREDICT_BATCH
from sweeps.worker.export import (
    input_contract,
    raw_image_model,
    restored_network,
    save_with_metadata,
    trial_splits,
    use_gpu_memory_growth,
)

__all__ = ["ensemble_model", "ensemble_trials"]


def ensemble_model(members: list[keras.Model], name: str) -> keras.Model:
    """One model from raw images to the mean of the members' logits; the members' own logits
    are further outputs of :func:`ensemble_trials`'s scoring model, not of this one."""
    raw = keras.Input(shape=tuple(members[0].inputs[0].shape[1:]), dtype="uint8", name="image")
    outputs = [member(raw) for member in members]
    mean = layers.Average(name="mean_logits")(outputs) if len(outputs) > 1 else outputs[0]
    return keras.Model(raw, mean, name=name)


def _contract(
    specs: list[TrialSpec], preprocessing: list[list[str]], splits: Splits
) -> InputContract:
    """The ensemble's input contract: its members' shared preprocessing, or each member's
    (trial by trial) should they differ."""
    networks = f"each of the {len(specs)} members' networks, their logits averaged"
    if all(steps == preprocessing[0] for steps in preprocessing):
        return input_contract(preprocessing[0], splits, networks)
    each = [
        f"for trial {spec.number}'s member: {', '.join(steps)}"
        for spec, steps in zip(specs, preprocessing, strict=True)
    ]
    return input_contract(each, splits, networks)


def _accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(logits.argmax(axis=1) == labels))


def ensemble_trials(specs: list[TrialSpec], out: str | None = None) -> EnsembleResult:
    """Average the logits of ``specs``' models; score the ensemble and each member on val and
    test; with ``out``, save the ensemble as one ``.keras`` model.

    Runs in a spawned child (:func:`sweeps.spawn.run_in_child`). All members come from one
    study, so they share its splits.

    Raises:
        ConfigError: a member's model was not kept.
    """
    use_gpu_memory_growth()
    splits = trial_splits(specs[0])
    members, preprocessing = [], []
    for rank, spec in enumerate(specs, start=1):
        rebuilt = restored_network(spec, splits)
        name = f"member_{rank}_trial_{spec.number}"
        shape = splits.x_train.shape[1:]
        members.append(raw_image_model(rebuilt.model, rebuilt.block, shape, name))
        preprocessing.append(rebuilt.block.steps())
    model = ensemble_model(members, name=f"ensemble_of_{len(specs)}")
    # One pass gives the ensemble's logits and every member's.
    scoring = keras.Model(model.input, [model.output, *[m(model.input) for m in members]])
    scores = {}
    for split, images, labels in (
        ("val", splits.x_val, splits.y_val),
        ("test", splits.x_test, splits.y_test),
    ):
        outputs = scoring.predict(images, batch_size=PREDICT_BATCH, verbose=0)
        scores[split] = [_accuracy(np.asarray(logits), labels) for logits in outputs]
    export = None
    if out is not None:
        metadata = {
            "study": specs[0].study,
            "ensemble_of": [spec.number for spec in specs],
            "combined_by": "mean of the members' logits",
            "chosen_by": "validation accuracy",
            "val_accuracy": scores["val"][0],
            "test_accuracy": scores["test"][0],
            "members": [spec.metadata(list(splits.class_names)) for spec in specs],
            "class_names": list(splits.class_names),
        }
        export = save_with_metadata(model, out, metadata, _contract(specs, preprocessing, splits))
    return EnsembleResult(
        numbers=[spec.number for spec in specs],
        val_accuracy=scores["val"][0],
        test_accuracy=scores["test"][0],
        member_val_accuracy=scores["val"][1:],
        member_test_accuracy=scores["test"][1:],
        export=export,
    )

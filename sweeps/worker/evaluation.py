"""``sweeps evaluate``: a trial's model scored on val and test, and notebook 002's figures.

The model scored is the exported one (:func:`sweeps.worker.export.trial_model`): raw images in,
the trial's whole input path inside, so the numbers are those of what a user takes away.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from sweeps.model_tasks import EvaluationResult, SplitEvaluation, TrialSpec
from sweeps.prediction_plots import plot_confusion, plot_samples
from sweeps.worker.export import trial_model, trial_splits, use_gpu_memory_growth

__all__ = ["evaluate_trial", "predict_logits"]

PREDICT_BATCH = 256


def predict_logits(model: keras.Model, images: np.ndarray) -> np.ndarray:
    """The model's logits for uint8 images, batch by batch."""
    return np.asarray(model.predict(images, batch_size=PREDICT_BATCH, verbose=0))


def evaluate_trial(spec: TrialSpec, confusion_image: str, samples_image: str) -> EvaluationResult:
    """Score the trial's model on val and test; draw the test split's two figures.

    Runs in a spawned child (:func:`sweeps.spawn.run_in_child`).

    Raises:
        ConfigError: the trial's model was not kept.
    """
    use_gpu_memory_growth()
    splits = trial_splits(spec)
    model = trial_model(spec, splits)
    names = list(splits.class_names)
    val_logits = predict_logits(model, splits.x_val)
    test_logits = predict_logits(model, splits.x_test)
    val = SplitEvaluation.from_predictions("val", splits.y_val, val_logits.argmax(1), names)
    test = SplitEvaluation.from_predictions("test", splits.y_test, test_logits.argmax(1), names)
    title = f"{spec.study}, trial {spec.number}"
    plot_confusion(test, Path(confusion_image), title)
    probabilities = np.asarray(keras.ops.softmax(test_logits, axis=-1))
    plot_samples(splits.x_test, splits.y_test, probabilities, names, Path(samples_image), title)
    return EvaluationResult(
        val=val, test=test, confusion_image=confusion_image, samples_image=samples_image
    )

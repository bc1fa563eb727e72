"""What the API hands the worker-side model tasks (export, evaluate, ensemble, refit) and what
they hand back: picklable dataclasses, free of TensorFlow, as :mod:`sweeps.protocol` is for
the dispatcher and its workers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sweeps.config import SweepConfig

__all__ = [
    "EnsembleResult",
    "EvaluationResult",
    "ExportResult",
    "InputContract",
    "RefitResult",
    "SplitEvaluation",
    "TrialSpec",
    "metadata_path",
]


def metadata_path(model_path: str | Path) -> Path:
    """Where a model's metadata JSON lives: beside it, ``best.keras`` -> ``best.json``."""
    return Path(model_path).with_suffix(".json")


@dataclass(frozen=True)
class TrialSpec:
    """One finished trial, as much as rebuilding its network and finding its weights needs."""

    study: str
    number: int
    config: SweepConfig  # the sweep's saved configuration: space, dataset, seed, splits
    params: dict[str, Any]  # the trial's Optuna parameters
    checkpoint_dir: str | None
    best_epoch: int | None
    val_accuracy: float | None
    test_accuracy: float | None

    def metadata(self, class_names: list[str]) -> dict[str, Any]:
        """What a saved model records about where it came from (written beside it as JSON)."""
        return {
            "study": self.study,
            "trial": self.number,
            "space": self.config.space,
            "dataset": self.config.dataset,
            "params": self.params,
            "best_epoch": self.best_epoch,
            "val_accuracy": self.val_accuracy,
            "test_accuracy": self.test_accuracy,
            "class_names": class_names,
        }


# Keras casts a model's input to its declared dtype without a word: floats in 0..1 become 0,
# values past 255 wrap around. Said wherever the contract is, since nothing else would tell.
_CAST_WARNING = (
    "Scale images to 0..255 first: Keras casts any other input to uint8 silently (floats in "
    "0..1 become 0, values above 255 wrap around)."
)


@dataclass(frozen=True)
class InputContract:
    """What a saved model takes and gives: the one statement of it, written into the JSON beside
    the model (:meth:`as_json`) and printed by the commands that save one (:meth:`lines`)."""

    shape: tuple[int, ...]  # one image: (height, width, channels); a batch adds N in front
    pixels: str  # how the dataset's images became the uint8 0..255 arrays trained on
    preprocessing: list[str]  # what the model does to them before its network, in order
    class_names: list[str]  # output index -> class
    network: str = "the network"  # what follows the preprocessing
    dtype: str = "uint8"
    value_range: tuple[int, int] = (0, 255)

    def as_json(self) -> dict[str, Any]:
        """The ``input``, ``output`` and ``class_names`` entries of the model's metadata JSON."""
        return {
            "input": {
                "shape": list(self.shape),
                "batch_shape": [None, *self.shape],
                "dtype": self.dtype,
                "value_range": list(self.value_range),
                "pixels": self.pixels,
                "preprocessing_inside_the_model": self.preprocessing,
                "then": self.network,
                "note": _CAST_WARNING,
            },
            "output": {
                "what": "logits",
                "shape": [None, len(self.class_names)],
                "probabilities": "keras.ops.softmax(logits, axis=-1)",
            },
            "class_names": self.class_names,  # output index -> class
        }

    def lines(self) -> list[str]:
        """The contract as the CLI prints it: input, a warning, preprocessing, output."""
        low, high = self.value_range
        names = self.class_names
        shown = ", ".join(names if len(names) <= 12 else [*names[:10], "...", names[-1]])
        return [
            f"Input: {self.dtype} images of shape (N, {', '.join(map(str, self.shape))}), "
            f"values {low}..{high}: {self.pixels}.",
            _CAST_WARNING,
            f"Inside the model: {'; '.join(self.preprocessing)}; then {self.network}.",
            f"Output: logits of {len(names)} classes ({shown}); keras.ops.softmax gives "
            "probabilities.",
        ]


@dataclass(frozen=True)
class ExportResult:
    """A model written as a ``.keras`` file, with its metadata JSON beside it."""

    path: str
    metadata_path: str
    contract: InputContract

    @property
    def input_shape(self) -> tuple[int, ...]:
        """One raw image: (height, width, channels), uint8."""
        return self.contract.shape

    @property
    def class_names(self) -> list[str]:
        """The class of each output index."""
        return self.contract.class_names


@dataclass(frozen=True)
class SplitEvaluation:
    """A model's predictions on one split, scored: confusion matrix and per-class numbers.

    ``confusion[i][j]`` counts images of class ``i`` predicted as ``j``. A class's recall is
    its accuracy: the share of its images classified correctly.
    """

    split: str
    class_names: list[str]
    confusion: list[list[int]]
    precision: list[float]
    recall: list[float]

    @classmethod
    def from_predictions(
        cls, split: str, labels: np.ndarray, predicted: np.ndarray, class_names: list[str]
    ) -> SplitEvaluation:
        """Score ``predicted`` class indices against ``labels`` (both 1-D integer arrays)."""
        from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

        classes = list(range(len(class_names)))
        confusion = confusion_matrix(labels, predicted, labels=classes)
        precision, recall, _, _ = precision_recall_fscore_support(
            labels, predicted, labels=classes, zero_division=0
        )
        return cls(
            split=split,
            class_names=list(class_names),
            confusion=confusion.tolist(),
            precision=[float(p) for p in precision],
            recall=[float(r) for r in recall],
        )

    @property
    def images(self) -> int:
        """Images in the split."""
        return int(np.sum(self.confusion))

    @property
    def support(self) -> list[int]:
        """Images of each class."""
        return [int(sum(row)) for row in self.confusion]

    @property
    def correct(self) -> list[int]:
        """Images of each class classified correctly."""
        return [int(self.confusion[i][i]) for i in range(len(self.confusion))]

    @property
    def accuracy(self) -> float:
        """The share of all images classified correctly."""
        return sum(self.correct) / max(self.images, 1)

    def confused_pairs(self, n: int = 5) -> list[tuple[str, str, int]]:
        """The ``n`` most frequent mistakes as (true class, predicted class, count)."""
        pairs = [
            (count, i, j)
            for i, row in enumerate(self.confusion)
            for j, count in enumerate(row)
            if i != j and count
        ]
        pairs.sort(key=lambda p: (-p[0], p[1], p[2]))
        return [(self.class_names[i], self.class_names[j], c) for c, i, j in pairs[:n]]

    def class_rows(self) -> list[dict[str, Any]]:
        """One dict per class, as :func:`storage.records.record_evaluation` stores them."""
        return [
            {
                "class_name": name,
                "support": support,
                "correct": correct,
                "precision": precision,
                "recall": recall,
            }
            for name, support, correct, precision, recall in zip(
                self.class_names,
                self.support,
                self.correct,
                self.precision,
                self.recall,
                strict=True,
            )
        ]


@dataclass(frozen=True)
class EvaluationResult:
    """``sweeps evaluate``: both splits scored, and the two figures of the test split."""

    val: SplitEvaluation
    test: SplitEvaluation
    confusion_image: str
    samples_image: str


@dataclass(frozen=True)
class EnsembleResult:
    """Averaged logits of several trials, scored on val and test; each member re-scored too."""

    numbers: list[int]
    val_accuracy: float
    test_accuracy: float
    member_val_accuracy: list[float]  # each member alone, recomputed from its weights
    member_test_accuracy: list[float]
    export: ExportResult | None = None


@dataclass(frozen=True)
class RefitResult:
    """A trial retrained on train+val for its best epoch count, scored once on test."""

    epochs: int
    train_images: int
    iterations: int  # optimizer steps taken: epochs x ceil(train_images / batch size)
    test_accuracy: float
    test_loss: float
    seconds: float
    export: ExportResult
    history: dict[str, list[float]] = field(default_factory=dict)  # per-epoch loss, accuracy

"""Notebook 002's two figures of a trained model: the confusion matrix and a grid of sample
predictions, the mistakes framed in red. Drawn with matplotlib; no TensorFlow."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sweeps.model_tasks import SplitEvaluation

__all__ = ["plot_confusion", "plot_samples", "sample_indices"]

_ANNOTATE_UP_TO = 20  # classes; beyond that the counts no longer fit their cells


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    return plt


def plot_confusion(evaluation: SplitEvaluation, out: Path, title: str) -> Path:
    """The confusion matrix as counts, rows the true class, columns the predicted one."""
    plt = _pyplot()
    matrix = np.asarray(evaluation.confusion)
    names = evaluation.class_names
    n = len(names)
    size = max(6.0, min(0.55 * n + 2.5, 24.0))
    fig, ax = plt.subplots(figsize=(size + 1.2, size))
    image = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="images")
    ticks = np.arange(n)
    ax.set_xticks(ticks, names, rotation=45 if max(map(len, names)) > 2 else 0, ha="right")
    ax.set_yticks(ticks, names)
    if n <= _ANNOTATE_UP_TO:
        threshold = matrix.max() / 2 if matrix.size else 0
        for i in range(n):
            for j in range(n):
                if matrix[i, j]:
                    color = "white" if matrix[i, j] > threshold else "black"
                    ax.text(j, i, str(matrix[i, j]), ha="center", va="center", color=color)
    ax.set(xlabel="predicted class", ylabel="true class")
    ax.set_title(
        f"{title}\n{evaluation.split} split: {evaluation.accuracy:.2%} of "
        f"{evaluation.images} images correct"
    )
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def sample_indices(labels: np.ndarray, predicted: np.ndarray, count: int, seed: int = 0):
    """Which images the grid shows: up to a third mistakes (so there are some to see), the
    rest drawn at random from the correct ones, in a seeded random order."""
    rng = np.random.default_rng(seed)
    wrong = np.flatnonzero(labels != predicted)
    right = np.flatnonzero(labels == predicted)
    take_wrong = min(len(wrong), count // 3)
    chosen = np.concatenate(
        [
            rng.choice(wrong, take_wrong, replace=False),
            rng.choice(right, min(len(right), count - take_wrong), replace=False),
        ]
    ).astype(int)
    rng.shuffle(chosen)
    return chosen


def plot_samples(
    images: np.ndarray,
    labels: np.ndarray,
    probabilities: np.ndarray,
    class_names: list[str],
    out: Path,
    title: str,
    columns: int = 8,
    rows: int = 4,
) -> Path:
    """A grid of images with their true and predicted class and the predicted probability;
    mistakes have a red frame and a red caption."""
    plt = _pyplot()
    predicted = probabilities.argmax(axis=1)
    shown = sample_indices(labels, predicted, columns * rows)
    rows = max(1, -(-len(shown) // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(1.9 * columns, 2.5 * rows), squeeze=False)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_frame_on(False)
    for ax, index in zip(axes.flat, shown, strict=False):
        image = images[index]
        if image.shape[-1] == 1:
            ax.imshow(image[..., 0], cmap="gray_r", interpolation="nearest")
        else:
            ax.imshow(image[..., :3], interpolation="nearest")
        true, guess = int(labels[index]), int(predicted[index])
        mistake = true != guess
        color = "red" if mistake else "black"
        ax.set_title(
            f"true: {class_names[true]}\npred: {class_names[guess]} "
            f"({probabilities[index, guess]:.2f})",
            fontsize=9,
            color=color,
        )
        if mistake:
            ax.set_frame_on(True)
            for spine in ax.spines.values():
                spine.set_edgecolor("red")
                spine.set_linewidth(3)
    wrong = int((labels[shown] != predicted[shown]).sum())
    fig.suptitle(
        f"{title}\n{len(shown)} test images drawn at random: {wrong} mistakes (framed in red; "
        f"up to a third of the grid is kept for them) and {len(shown) - wrong} correct ones"
    )
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out

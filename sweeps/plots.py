"""Figures of a sweep, drawn from the store with matplotlib (no TensorFlow, no Optuna)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from storage.models import FINISHED

__all__ = ["PLOTS", "plot_sweep"]

PLOTS = ("history", "curves", "params")


def _history(ax, trials: pd.DataFrame) -> None:
    """Validation accuracy of each finished trial in order, the best so far, test beside it."""
    done = trials[trials["status"].isin(FINISHED)].sort_values("number")
    ax.scatter(done["number"], done["val_accuracy"], s=18, label="val accuracy")
    ax.scatter(
        done["number"],
        done["test_accuracy"],
        s=10,
        marker="x",
        alpha=0.6,
        label="test accuracy (not used to select)",
    )
    ax.step(
        done["number"],
        done["val_accuracy"].cummax(),
        where="post",
        color="C2",
        label="best val so far",
    )
    baseline = done[done["is_baseline"]]
    ax.scatter(
        baseline["number"],
        baseline["val_accuracy"],
        s=80,
        facecolors="none",
        edgecolors="C3",
        label="baseline (notebook recipe)",
    )
    ax.set(xlabel="trial", ylabel="accuracy", title="Optimization history")
    ax.legend(loc="lower right", fontsize=8)


def _curves(ax, trials: pd.DataFrame, epochs: pd.DataFrame, top: int = 5) -> None:
    """Validation curves of the best trials by validation accuracy."""
    best = (
        trials[trials["status"].isin(FINISHED)]
        .sort_values("val_accuracy", ascending=False)
        .head(top)["number"]
    )
    for number in best:
        curve = epochs[epochs["trial"] == number]
        ax.plot(curve["epoch"], curve["val_accuracy"], marker=".", label=f"trial {number}")
    ax.set(xlabel="epoch", ylabel="val accuracy", title=f"Learning curves of the top {top}")
    ax.legend(loc="lower right", fontsize=8)


def _varied_numeric(done: pd.DataFrame) -> list[str]:
    return [
        c
        for c in done.columns
        if c.startswith("hp_") and pd.api.types.is_numeric_dtype(done[c]) and done[c].nunique() > 1
    ]


def _params(plt, done: pd.DataFrame) -> Any:
    """Validation accuracy against each numeric parameter that varied, four to a row."""
    names = _varied_numeric(done)
    columns = min(4, max(1, len(names)))
    rows = max(1, -(-len(names) // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(3.5 * columns, 3 * rows), squeeze=False)
    for ax in axes.flat[len(names) :]:
        ax.axis("off")
    for ax, name in zip(axes.flat, names, strict=False):
        values = done[name].dropna()
        ax.scatter(values, done.loc[values.index, "val_accuracy"], s=14)
        if name.endswith(("learning_rate", "weight_decay")) and (values > 0).all():
            ax.set_xscale("log")
        ax.set(xlabel=name.removeprefix("hp_"), ylabel="val accuracy")
    if not names:
        fig.text(0.5, 0.5, "no numeric parameter varied", ha="center")
    return fig


def plot_sweep(
    kind: str, trials: pd.DataFrame, epochs: pd.DataFrame, out: Path, title: str
) -> Path:
    """Draw one figure of ``kind`` (one of PLOTS) into ``out`` (PNG, PDF or SVG)."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    if kind == "params":
        fig = _params(plt, trials[trials["status"].isin(FINISHED)])
    else:
        fig, ax = plt.subplots(figsize=(8, 5))
        if kind == "history":
            _history(ax, trials)
        else:
            _curves(ax, trials, epochs)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out

"""Per-epoch checkpoints of a running trial: weights, optimizer state and loop state.

Layout of a trial's folder (one folder per retry lineage, so a retry finds its parent's)::

    state.json           {"epoch": 7, "last": "epoch-0007", "best": "epoch-0005", ...}
    epoch-0007/model.weights.h5     (Keras saves the optimizer's variables with the model's)
    epoch-0005/...       kept while it holds the best validation weights

Each epoch is written to its own folder and only then named in ``state.json`` (replaced
atomically), so a process killed mid-write leaves the previous checkpoint intact. The
optimizer's variables include its iteration counter, which drives every learning-rate schedule:
restoring them continues the schedule where it stopped.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = ["LoopState", "load_state", "restore", "restore_best", "save"]

STATE_FILE = "state.json"


@dataclass
class LoopState:
    """What the training loop needs besides weights to continue exactly."""

    epoch: int = 0  # epochs completed
    last: str | None = None
    best: str | None = None
    best_val_accuracy: float = float("-inf")
    best_epoch: int = 0
    wait: int = 0  # epochs since the best, for early stopping


def load_state(folder: Path) -> LoopState | None:
    path = folder / STATE_FILE
    if not path.is_file():
        return None
    try:
        return LoopState(**json.loads(path.read_text()))
    except (ValueError, TypeError):
        return None  # a torn or foreign file: start the trial from scratch


def save(folder: Path, model: Any, state: LoopState, improved: bool) -> LoopState:
    """Write epoch ``state.epoch``'s checkpoint and make it the current one."""
    folder.mkdir(parents=True, exist_ok=True)
    name = f"epoch-{state.epoch:04d}"
    target = folder / name
    partial = folder / f"{name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    model.save_weights(partial / "model.weights.h5")
    shutil.rmtree(target, ignore_errors=True)
    os.replace(partial, target)

    state.last = name
    if improved:
        state.best = name
    tmp = folder / f"{STATE_FILE}.tmp"
    tmp.write_text(json.dumps(asdict(state)))
    os.replace(tmp, folder / STATE_FILE)
    for old in folder.glob("epoch-*"):
        if old.name not in (state.last, state.best):
            shutil.rmtree(old, ignore_errors=True)
    return state


def restore(folder: Path, model: Any, state: LoopState) -> None:
    """Load the last checkpoint's weights and optimizer state into a compiled ``model``."""
    # Build the optimizer first: Keras restores its variables (the step counter among them)
    # only into an optimizer that already has them.
    model.optimizer.build(model.trainable_variables)
    model.load_weights(folder / str(state.last) / "model.weights.h5")


def restore_best(folder: Path, model: Any, state: LoopState) -> bool:
    """Load the best-validation weights; False when there are none."""
    if state.best is None or not (folder / state.best / "model.weights.h5").is_file():
        return False
    model.load_weights(folder / state.best / "model.weights.h5")
    return True

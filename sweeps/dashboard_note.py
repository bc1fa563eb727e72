"""The study note ``sweeps dashboard`` keeps: the finished trials ranked by val accuracy, test
accuracy beside it, as ``sweeps best`` prints them.

optuna-dashboard (0.21) has no view that puts a user attribute beside the objective for every
trial: its trial list shows one trial at a time, and its trial table (under Smart Selection)
puts the user attributes, test accuracy among them, after every parameter, off to the right.
The study note is Markdown of our own on its own tab, so the ranking is written there, and
written again whenever it changes while the dashboard serves. A note that someone wrote
themselves (one that does not open with our heading) is left alone.
"""

from __future__ import annotations

import math
import threading
from typing import Any

import optuna
import sqlalchemy.exc

from sweeps.results import Study

__all__ = ["HEADING", "NoteKeeper", "ranking_note"]

HEADING = "## Trials by validation accuracy"
MAX_ROWS = 100  # a note is for reading; `sweeps best --top N` lists any number
REFRESH_SECONDS = 5.0
_COLUMNS = "| rank | trial | val acc | test acc | val loss | best epoch | status | note |"
_ALIGN = "|---:|---:|---:|---:|---:|---:|:--|:--|"


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def ranking_note(study: Study) -> str:
    """The note's Markdown: the best :data:`MAX_ROWS` finished trials, as ``sweeps best``."""
    status = study.status()
    rows = study.ranking(MAX_ROWS, params=False)
    shown = (
        f"; the best {MAX_ROWS} are listed (`sweeps best --top {status.finished}` lists all)"
        if status.finished > MAX_ROWS
        else ""
    )
    lines = [
        HEADING,
        "",
        f"{status.finished} of {status.budget} trials finished{shown}. "
        "Val accuracy is the best epoch's, the one each trial keeps; elsewhere in the "
        "dashboard a pruned trial's value is its last epoch's. Test accuracy is the same "
        "weights' score on the test split, recorded and never used to select.",
        "",
        _COLUMNS,
        _ALIGN,
    ]
    for row in rows:
        best_epoch = f"{_fmt(row['best_epoch'])}/{_fmt(row['epochs'])}"
        lines.append(
            f"| {row['rank']} | {row['trial']} | {_fmt(row['val_accuracy'])} "
            f"| {_fmt(row['test_accuracy'])} | {_fmt(row['val_loss'])} | {best_epoch} "
            f"| {row['status']} | {'baseline' if row['baseline'] else ''} |"
        )
    lines += [
        "",
        "The hyperparameter importance on the study page is optuna-dashboard's PED-ANOVA (what "
        "sets the best tenth of the complete trials apart); `sweeps plot --kind importance` "
        "is fANOVA (how much of the val accuracy's variance each parameter explains), so "
        "their orders can differ.",
        "",
        f"*Rewritten by `sweeps dashboard` as trials finish. To keep a note of your own, "
        f"remove the heading {HEADING.lstrip('# ')!r}.*",
    ]
    return "\n".join(lines) + "\n"


class NoteKeeper:
    """Keeps ``study``'s note the ranking, through optuna-dashboard's public note API."""

    def __init__(self, study: Study, storage: optuna.storages.BaseStorage) -> None:
        self.study = study
        self.optuna_study = optuna.load_study(study_name=study.name, storage=storage)
        self.written: str | None = None

    def refresh(self) -> bool:
        """Write the ranking if it changed and the note is not someone's own; whether it did.

        A store the dashboard cannot write (a read-only file, a busy database) leaves the
        note as it is: the dashboard serves all the same.
        """
        from optuna_dashboard import get_note, save_note

        try:
            body = ranking_note(self.study)
            if body == self.written:
                return False
            current = get_note(self.optuna_study)
            if current not in ("", self.written) and not current.startswith(HEADING):
                return False  # someone's own note
            save_note(self.optuna_study, body)
        except (optuna.exceptions.StorageInternalError, sqlalchemy.exc.SQLAlchemyError):
            return False
        self.written = body
        return True

    def keep(self, stop: threading.Event) -> None:
        """Refresh every few seconds until ``stop`` is set (run it in a thread)."""
        while not stop.wait(REFRESH_SECONDS):
            self.refresh()

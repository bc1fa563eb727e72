"""The live display of a sweep: trials done of the budget, best so far, each worker's trial.

Each worker's line is its current trial: the bar counts that trial's epochs and the clock
runs from the trial's start, so it restarts with every trial and stops when the trial ends.
When a trial ends, its line keeps how it ended (a pruned trial's bar stays at the epoch it
was stopped at, and says so); when a worker exits, its line says so; so the last frame on
the terminal is the true state of every worker.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from sweeps.protocol import EpochEnded, Event, TrialEnded, TrialStarted, WorkerFatal, WorkerMessage

__all__ = ["SweepProgress"]


class _Clock(TimeElapsedColumn):
    """The time since the task's start, or the time it ``took`` once that field is set: rich's
    own column stops when the bar fills, but a trial still evaluates on test after its last
    epoch (and a pruned trial's bar never fills)."""

    def render(self, task: Task) -> Text:
        took = task.fields.get("took")
        seconds = max(0, int((took if took is not None else task.elapsed) or 0))
        return Text(str(timedelta(seconds=seconds)), style="progress.elapsed")


class SweepProgress:
    """A rich progress display fed by the workers' events: each trial's end carries the
    study's finished count, so the display needs no poll of the store.

    Args:
        finished: Trials finished before this display started (a resume, a joining machine).
        best: The best val accuracy of those trials, among trials with a model.
        get_time: rich's clock (seconds); default the monotonic clock.
    """

    def __init__(
        self,
        console: Console,
        study_name: str,
        budget: int,
        epochs: int,
        slots: int,
        *,
        finished: int = 0,
        best: float | None = None,
        get_time: Callable[[], float] | None = None,
    ):
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[extra]}"),
            _Clock(),
            console=console,
            transient=False,
            get_time=get_time,
        )
        self.best = best
        self.total = self.progress.add_task(
            f"[bold]{study_name}[/bold] trials",
            total=budget,
            completed=finished,
            extra=self._best_text(),
        )
        self.workers = [
            self.progress.add_task(f"  worker {i}", total=epochs, extra="starting")
            for i in range(slots)
        ]
        # Per worker: the trial it is running, and whether any trial ended on its line.
        self.running: list[int | None] = [None] * slots
        self.ended_one = [False] * slots

    def __enter__(self) -> SweepProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.stop()

    def note(self, text: str) -> None:
        self.progress.console.print(text)

    def update_totals(self, finished: int) -> None:
        """The study's finished trials, as read at some moment: they only ever grow, so an
        older reading that arrives late (a worker's event, a poll) never moves them back."""
        task = next(task for task in self.progress.tasks if task.id == self.total)
        self.progress.update(self.total, completed=max(task.completed, finished))

    def worker_exited(self, slot: int, *, restarting: str | None = None) -> None:
        """A worker's process ended: its line says that a fresh one takes over (and why), or
        that the worker is done; a done worker's line keeps its last trial's outcome."""
        task = self.workers[slot]
        stopped, self.running[slot] = self.running[slot], None
        if restarting is not None:  # the fresh process's start-up is timed from now
            self.ended_one[slot] = False
            self.progress.reset(task, extra=f"restarting ({restarting})")
            return
        if stopped is not None:  # killed inside its trial (a second Ctrl-C)
            self._stop_clock(task, extra=f"trial {stopped} stopped")
        elif not self.ended_one[slot]:
            self._stop_clock(task, extra="done (no trial was left for it)")
        # Otherwise the line keeps its last trial's outcome, and that trial's time.

    def on_event(self, event: Event) -> None:
        task = self.workers[event.slot] if event.slot < len(self.workers) else None
        match event:
            case TrialStarted() if task is not None:
                label = (
                    "baseline"
                    if event.baseline
                    else (f"retry of {event.retry_of}" if event.retry_of is not None else "")
                )
                self.running[event.slot] = event.number
                # reset, not update: it restarts the clock and clears the last trial's time.
                self.progress.reset(task, extra=f"trial {event.number} {label}".strip())
            case EpochEnded() if task is not None:
                self.progress.update(
                    task,
                    total=event.epochs,
                    completed=event.epoch,
                    extra=f"trial {event.number} val {event.val_accuracy:.4f}",
                )
            case TrialEnded():
                if event.finished is not None:
                    self.update_totals(event.finished)
                self._trial_ended(event)
                if task is not None:  # the clock keeps the trial's time until the next one
                    self.running[event.slot], self.ended_one[event.slot] = None, True
                    self._stop_clock(task, extra=self._outcome_text(event))
            case WorkerFatal():
                self.note(f"[red]fatal: {event.reason}[/red]")
            case WorkerMessage():
                self.note(f"[dim]{event.text}[/dim]")

    def _stop_clock(self, task_id: TaskID, **fields: Any) -> None:
        task = next(task for task in self.progress.tasks if task.id == task_id)
        self.progress.update(task_id, took=task.elapsed, **fields)

    def _best_text(self) -> str:
        return f"best val {self.best:.4f}" if self.best is not None else "best val -"

    @staticmethod
    def _outcome_text(event: TrialEnded) -> str:
        text = f"trial {event.number} {event.status}"
        if event.val_accuracy is not None:
            text += f" val {event.val_accuracy:.4f}"
        return text

    def _trial_ended(self, event: TrialEnded) -> None:
        val, test = event.val_accuracy, event.test_accuracy
        # A diverged trial keeps its last finite val accuracy but has no model: never the best.
        trained = test is not None
        if trained and val is not None and (self.best is None or val > self.best):
            self.best = val
            self.progress.update(self.total, extra=self._best_text())
        line = f"trial {event.number:>3} {event.status:<13}"
        if val is not None:
            line += f" val {val:.4f}  test {f'{test:.4f}' if trained else '-'}"
        if event.reason:
            line += f"  ({event.reason})"
        self.note(line)

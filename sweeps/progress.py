"""The live display of a sweep: trials done of the budget, best so far, each worker's trial."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from sweeps.protocol import EpochEnded, Event, TrialEnded, TrialStarted, WorkerFatal, WorkerMessage

__all__ = ["SweepProgress"]


class SweepProgress:
    """A rich progress display fed by the workers' events."""

    def __init__(self, console: Console, study_name: str, budget: int, epochs: int, slots: int):
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[extra]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self.best: float | None = None
        self.total = self.progress.add_task(
            f"[bold]{study_name}[/bold] trials", total=budget, extra="best val -"
        )
        self.workers = [
            self.progress.add_task(f"  worker {i}", total=epochs, extra="starting")
            for i in range(slots)
        ]

    def __enter__(self) -> SweepProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.stop()

    def note(self, text: str) -> None:
        self.progress.console.print(text)

    def update_totals(self, finished: int) -> None:
        self.progress.update(self.total, completed=finished)

    def on_event(self, event: Event) -> None:
        task = self.workers[event.slot] if event.slot < len(self.workers) else None
        match event:
            case TrialStarted() if task is not None:
                label = (
                    "baseline"
                    if event.baseline
                    else (f"retry of {event.retry_of}" if event.retry_of is not None else "")
                )
                self.progress.update(
                    task, completed=0, extra=f"trial {event.number} {label}".strip()
                )
            case EpochEnded() if task is not None:
                self.progress.update(
                    task,
                    completed=event.epoch,
                    extra=f"trial {event.number} val {event.val_accuracy:.4f}",
                )
            case TrialEnded():
                self._trial_ended(event)
            case WorkerFatal():
                self.note(f"[red]fatal: {event.reason}[/red]")
            case WorkerMessage():
                self.note(f"[dim]{event.text}[/dim]")

    def _trial_ended(self, event: TrialEnded) -> None:
        val, test = event.val_accuracy, event.test_accuracy
        # A diverged trial keeps its last finite val accuracy but has no model: never the best.
        trained = test is not None
        if trained and val is not None and (self.best is None or val > self.best):
            self.best = val
            self.progress.update(self.total, extra=f"best val {val:.4f}")
        line = f"trial {event.number:>3} {event.status:<13}"
        if val is not None:
            line += f" val {val:.4f}  test {f'{test:.4f}' if trained else '-'}"
        if event.reason:
            line += f"  ({event.reason})"
        self.note(line)

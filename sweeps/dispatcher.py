"""Run a study's trials in worker processes, one per device slot, and watch over them.

The dispatcher never imports TensorFlow. It starts the workers, refills a slot whose worker
asked to be recycled or died (giving the dead worker's trial back at once), reaps workers of
other hosts whose heartbeat stopped, shows progress, and turns Ctrl-C or SIGTERM into a
graceful stop: the workers stop at the next batch, their trials are queued to continue from
the last checkpoint. A second Ctrl-C kills the workers at once.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import signal
import time
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from storage import records
from storage.models import utcnow
from storage.queries import finished_count, state_counts
from sweeps.devices import Slot
from sweeps.reaper import reap_dead_workers
from sweeps.study import StudyHandle
from sweeps.worker import EXIT_DONE, EXIT_FATAL, EXIT_RECYCLE, WorkerOptions, worker_main

__all__ = ["DispatchResult", "Dispatcher"]

REAP_EVERY_SECONDS = 5.0
MAX_CRASHES_IN_A_ROW = 3  # a slot whose worker dies this often without finishing a trial


@dataclass
class DispatchResult:
    finished: int
    budget: int
    interrupted: bool = False
    fatal_reason: str | None = None
    given_back: list[int] = field(default_factory=list)


def _worker_entry(options: WorkerOptions, events: Any, stop_event: Any) -> None:
    import sys

    sys.exit(worker_main(options, events, stop_event))


class Dispatcher:
    def __init__(self, handle: StudyHandle, slots: list[Slot], artifacts: str,
                 console: Console | None = None):
        self.handle, self.slots, self.artifacts = handle, slots, artifacts
        self.console = console or Console(stderr=True)
        self.context = mp.get_context("spawn")  # never fork a process that may hold TF state
        self.events = self.context.Queue()
        self.stop_event = self.context.Event()
        self.processes: dict[int, Any] = {}
        self.done_slots: set[int] = set()
        self.interrupts = 0
        self.fatal_reason: str | None = None
        self.given_back: list[int] = []
        self.crashes: dict[int, int] = {}
        self.started_at = utcnow()

    # Processes ---------------------------------------------------------------------------

    def _start(self, slot: Slot) -> None:
        options = WorkerOptions(
            study_name=self.handle.name, storage_url=self.handle.url, slot=slot.index,
            device=slot.device, threads=slot.threads, memory_limit_mb=slot.memory_limit_mb,
            artifacts=self.artifacts, failures_since=self.started_at,
        )
        process = self.context.Process(
            target=_worker_entry, args=(options, self.events, self.stop_event),
            name=f"sweeps-worker-{slot.index}", daemon=False,
        )
        process.start()
        self.processes[slot.index] = process

    def _on_signal(self, signum: int, _frame: Any) -> None:
        self.interrupts += 1
        if self.interrupts == 1:
            self.stop_event.set()
            self.console.print("[yellow]Stopping: running trials stop at the next batch and "
                               "continue from their checkpoint on `sweeps resume` "
                               "(Ctrl-C again to stop at once).[/yellow]")
        else:
            for process in self.processes.values():
                if process.is_alive():
                    process.kill()

    # The watch loop -----------------------------------------------------------------------

    def run(self) -> DispatchResult:
        budget = self.handle.config.trials
        self.given_back += reap_dead_workers(self.handle)
        records.reconcile_claims(self.handle.engine, self.handle.sweep.study_id)
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            with self._progress() as progress:
                for slot in self.slots:
                    self._start(slot)
                self._watch(progress)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            for process in self.processes.values():
                process.join(timeout=30)
                if process.is_alive():
                    process.kill()
            if self.interrupts > 1:
                self.given_back += reap_dead_workers(self.handle)
        return DispatchResult(
            finished=self._finished(), budget=budget, interrupted=self.interrupts > 0,
            fatal_reason=self.fatal_reason, given_back=self.given_back,
        )

    def _finished(self) -> int:
        counts = state_counts(self.handle.engine, self.handle.sweep.study_id)
        return finished_count(counts)

    def _watch(self, progress: _SweepProgress) -> None:
        last_reap = time.monotonic()
        while len(self.done_slots) < len(self.slots):
            self._drain(progress, timeout=0.5)
            for slot in self.slots:
                process = self.processes[slot.index]
                if slot.index in self.done_slots or process.is_alive():
                    continue
                code = process.exitcode
                if code == EXIT_FATAL:
                    self.fatal_reason = self.fatal_reason or "a worker hit a fatal error"
                    self.stop_event.set()
                    self.done_slots.add(slot.index)
                elif code == EXIT_DONE or self.stop_event.is_set():
                    self.done_slots.add(slot.index)
                    if code != EXIT_DONE:
                        self.given_back += reap_dead_workers(self.handle)
                elif code == EXIT_RECYCLE:
                    self._start(slot)
                else:  # killed or crashed: give its trial back now, then refill the slot
                    lost = reap_dead_workers(self.handle)
                    self.given_back += lost
                    progress.note(f"worker {slot.index} died (exit {code}); trial(s) "
                                  f"{', '.join(map(str, lost)) or 'none'} will continue from "
                                  "their last checkpoint")
                    self.crashes[slot.index] = self.crashes.get(slot.index, 0) + 1
                    if self.crashes[slot.index] >= MAX_CRASHES_IN_A_ROW:
                        self.fatal_reason = (f"worker processes died {MAX_CRASHES_IN_A_ROW} "
                                             f"times in a row (exit code {code}); the output "
                                             "above says why")
                        self.stop_event.set()
                        self.done_slots.add(slot.index)
                    else:
                        self._start(slot)
            if time.monotonic() - last_reap > REAP_EVERY_SECONDS:
                self.given_back += reap_dead_workers(self.handle)  # workers on other hosts
                last_reap = time.monotonic()
            progress.update_totals(self._finished())
        self._drain(progress, timeout=0.1)

    def _drain(self, progress: _SweepProgress, timeout: float) -> None:
        try:
            kind, slot, payload = self.events.get(timeout=timeout)
        except queue.Empty:
            return
        while True:
            if kind == "fatal":
                self.fatal_reason = payload["reason"]
            elif kind == "trial_end":
                self.crashes[slot] = 0
            progress.on_event(kind, slot, payload)
            try:
                kind, slot, payload = self.events.get_nowait()
            except queue.Empty:
                return

    def _progress(self) -> _SweepProgress:
        return _SweepProgress(self.console, self.handle, len(self.slots))


class _SweepProgress:
    """A rich display: trials done of the budget, best so far, each worker's trial and epoch."""

    def __init__(self, console: Console, handle: StudyHandle, slots: int):
        self.console, self.handle = console, handle
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[extra]}"), TimeElapsedColumn(),
            console=console, transient=False,
        )
        self.best: float | None = None
        self.total = self.progress.add_task(
            f"[bold]{handle.name}[/bold] trials", total=handle.config.trials, extra="best val -")
        self.workers = [
            self.progress.add_task(f"  worker {i}", total=handle.config.epochs,
                                   extra="starting", visible=True)
            for i in range(slots)
        ]

    def __enter__(self) -> _SweepProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.stop()

    def note(self, text: str) -> None:
        self.progress.console.print(text)

    def update_totals(self, finished: int) -> None:
        self.progress.update(self.total, completed=finished)

    def on_event(self, kind: str, slot: int, payload: dict[str, Any]) -> None:
        task = self.workers[slot] if slot < len(self.workers) else None
        if kind == "trial_start" and task is not None:
            label = "baseline" if payload.get("baseline") else (
                f"retry of {payload['retry_of']}" if payload.get("retry_of") is not None else "")
            self.progress.update(task, completed=0,
                                 extra=f"trial {payload['number']} {label}".strip())
        elif kind == "epoch" and task is not None:
            self.progress.update(task, completed=payload["epoch"],
                                 extra=f"trial {payload['number']} val "
                                       f"{payload['val_accuracy']:.4f}")
        elif kind == "trial_end":
            val, test = payload.get("val_accuracy"), payload.get("test_accuracy")
            if val is not None and (self.best is None or val > self.best):
                self.best = val
                self.progress.update(self.total, extra=f"best val {val:.4f}")
            line = f"trial {payload['number']:>3} {payload['status']:<11}"
            if val is not None:
                line += f" val {val:.4f}  test {test:.4f}"
            if payload.get("reason"):
                line += f"  ({payload['reason']})"
            self.note(line)
        elif kind == "fatal":
            self.note(f"[red]fatal: {payload['reason']}[/red]")
        elif kind == "message":
            self.note(f"[dim]{payload['text']}[/dim]")

"""Run a study's trials in worker processes, one per device slot, and watch over them.

The dispatcher never imports TensorFlow. It starts the workers, refills a slot whose worker
asked to be recycled or died (giving the dead worker's trial back at once), reaps dead workers
of any host (every few seconds: a gone process here, a stopped heartbeat anywhere), shows
progress as its workers' events tell it (the store is counted every few seconds, for the
trials of workers on other machines, which send it none, and once at the end), and turns
Ctrl-C or SIGTERM into a graceful stop: the workers stop at the next batch, their trials are
queued to continue from the last checkpoint. A second Ctrl-C kills the workers at once.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import signal
import sys
import threading
import time
import warnings
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

from rich.console import Console

from storage.queries import ranked_rows, results_recorded, trial_counts
from storage.tables import utcnow
from sweeps.devices import Slot
from sweeps.optuna_study import StudyHandle
from sweeps.phrasing import next_step
from sweeps.progress import SweepProgress
from sweeps.protocol import Event, TrialEnded, WorkerExit, WorkerFatal, WorkerOptions
from sweeps.reaper import reap_dead_workers
from sweeps.spawn import without_main_module

__all__ = ["DispatchResult", "Dispatcher"]

REAP_EVERY_SECONDS = 5.0
# Workers on other machines send no events: their trials are counted from the store this
# often (one deferred read). Ours are counted from their events as they end.
COUNT_EVERY_SECONDS = 5.0
MAX_CRASHES_IN_A_ROW = 3  # a slot whose worker dies this often without finishing a trial


@dataclass
class DispatchResult:
    """How a dispatch ended: finished trials of the budget, and why it stopped."""

    finished: int
    budget: int
    interrupted: bool = False
    fatal_reason: str | None = None
    given_back: list[int] = field(default_factory=list)
    started: int = 0  # trials any worker has started in the study, ever


def _worker_entry(options: WorkerOptions, events: Connection) -> None:
    """The spawned process's target: the only place that imports the worker package."""
    from sweeps.worker.process import worker_main

    code = int(worker_main(options, events))
    # Everything is recorded, closed and flushed by now; TensorFlow's interpreter teardown
    # would keep the sweep waiting a second or two more for nothing.
    events.close()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


class Dispatcher:
    """Runs a study's trials in one spawned worker process per slot until the budget is met.

    ``run()`` returns a :class:`DispatchResult`; Ctrl-C (SIGINT, or KeyboardInterrupt where
    no signal handler can be installed) and SIGTERM stop it gracefully.
    """

    def __init__(
        self, handle: StudyHandle, slots: list[Slot], artifacts: str, console: Console | None = None
    ):
        self.handle, self.slots, self.artifacts = handle, slots, artifacts
        self.console = console or Console(stderr=True)
        self.context = mp.get_context("spawn")  # never fork a process that may hold TF state
        # Starting a worker after the resource tracker was killed relaunches it with a warning;
        # nothing of ours depends on it, so the warning is noise.
        warnings.filterwarnings("ignore", message="resource_tracker: process died")
        # One pipe per worker for its events, and SIGTERM for a graceful stop: no semaphores
        # (a Queue or an Event would need multiprocessing's resource tracker, whose death
        # then prints tracebacks from every process).
        self.pipes: dict[int, Connection] = {}
        self.stopping = False
        self.processes: dict[int, Any] = {}
        self.done_slots: set[int] = set()
        self.interrupts = 0
        self.fatal_reason: str | None = None
        self.given_back: list[int] = []
        self.crashes: dict[int, int] = {}
        self.started_at = utcnow()

    # Processes ---------------------------------------------------------------------------

    def _options(self, slot: Slot) -> WorkerOptions:
        return WorkerOptions(
            study_name=self.handle.name,
            storage_url=self.handle.url,
            slot=slot.index,
            slot_count=len(self.slots),
            device=slot.device,
            threads=slot.threads,
            memory_limit_mb=slot.memory_limit_mb,
            artifacts=self.artifacts,
            failures_since=self.started_at,
        )

    def _start(self, slot: Slot) -> None:
        options = self._options(slot)
        receiver, sender = self.context.Pipe(duplex=False)
        process = self.context.Process(
            target=_worker_entry,
            args=(options, sender),
            name=f"sweeps-worker-{slot.index}",
            daemon=False,
        )
        with without_main_module():
            process.start()
        sender.close()  # the worker holds the only writing end: EOF when it exits
        self.processes[slot.index] = process
        self.pipes[slot.index] = receiver

    def _stop(self) -> None:
        """Ask every worker to stop at its next batch (its trial continues on resume)."""
        self.stopping = True
        for process in self.processes.values():
            if process.is_alive():
                process.terminate()  # SIGTERM: the worker's graceful stop

    def _on_signal(self, signum: int, _frame: Any) -> None:
        self.interrupts += 1
        if self.interrupts == 1:
            self._stop()
            self.console.print(
                "[yellow]Stopping: running trials stop at the next batch and "
                f"continue from their checkpoint on {next_step('sweeps resume', 'sweeps.resume')} "
                "(Ctrl-C again to stop at once).[/yellow]"
            )
        else:
            for process in self.processes.values():
                if process.is_alive():
                    process.kill()

    def _reap(self) -> list[int]:
        """Give back the trials of dead workers; returns their numbers."""
        return reap_dead_workers(self.handle)

    # The watch loop -----------------------------------------------------------------------

    def run(self) -> DispatchResult:
        budget = self.handle.config.trials
        self.given_back += self._reap()  # their slots are free again
        # Signal handlers can only be set from the main thread (a notebook cell runs there);
        # elsewhere Ctrl-C arrives as KeyboardInterrupt and is turned into the same stop.
        in_main = threading.current_thread() is threading.main_thread()
        signals = (signal.SIGINT, signal.SIGTERM) if in_main else ()
        previous = {s: signal.signal(s, self._on_signal) for s in signals}
        try:
            with self._progress() as progress:
                for slot in self.slots:
                    self._start(slot)
                while True:
                    try:
                        self._watch(progress)
                        break
                    except KeyboardInterrupt:
                        self._on_signal(signal.SIGINT, None)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            for process in self.processes.values():
                process.join(timeout=30)
                if process.is_alive():
                    process.kill()
            if self.interrupts > 1:
                self.given_back += self._reap()
        return DispatchResult(
            finished=self._finished(),
            budget=budget,
            interrupted=self.interrupts > 0,
            fatal_reason=self.fatal_reason,
            given_back=self.given_back,
            started=results_recorded(self.handle.engine, self.handle.study_id),
        )

    def _finished(self) -> int:
        return trial_counts(self.handle.engine, self.handle.study_id).finished

    def _watch(self, progress: SweepProgress) -> None:
        last_reap = last_count = time.monotonic()
        while len(self.done_slots) < len(self.slots):
            self._drain(progress, timeout=0.5)
            for slot in self.slots:
                process = self.processes[slot.index]
                if slot.index in self.done_slots or process.is_alive():
                    continue
                code = process.exitcode
                self._drain(progress, timeout=0)  # what it sent before it exited comes first
                if code == WorkerExit.FATAL:
                    self.fatal_reason = self.fatal_reason or "a worker hit a fatal error"
                    self._stop()
                    self.done_slots.add(slot.index)
                    progress.worker_exited(slot.index)
                elif code == WorkerExit.DONE or self.stopping:
                    self.done_slots.add(slot.index)
                    progress.worker_exited(slot.index)
                    if code != WorkerExit.DONE:
                        self.given_back += self._reap()
                elif code == WorkerExit.RECYCLE:
                    progress.worker_exited(slot.index, restarting="a fresh process")
                    self._start(slot)
                else:  # killed or crashed: give its trial back now, then refill the slot
                    lost = self._reap()
                    self.given_back += lost
                    progress.note(
                        f"worker {slot.index} died (exit {code}); trial(s) "
                        f"{', '.join(map(str, lost)) or 'none'} will continue from "
                        "their last checkpoint"
                    )
                    self.crashes[slot.index] = self.crashes.get(slot.index, 0) + 1
                    if self.crashes[slot.index] >= MAX_CRASHES_IN_A_ROW:
                        self.fatal_reason = (
                            f"worker processes died {MAX_CRASHES_IN_A_ROW} "
                            f"times in a row (exit code {code}); the output "
                            "above says why"
                        )
                        self._stop()
                        self.done_slots.add(slot.index)
                        progress.worker_exited(slot.index)
                    else:
                        progress.worker_exited(slot.index, restarting=f"died, exit {code}")
                        self._start(slot)
            if time.monotonic() - last_reap > REAP_EVERY_SECONDS:
                self.given_back += self._reap()  # workers on other hosts
                last_reap = time.monotonic()
            if time.monotonic() - last_count > COUNT_EVERY_SECONDS:
                progress.update_totals(self._finished())  # workers on other machines
                last_count = time.monotonic()
        self._drain(progress, timeout=0.1)
        progress.update_totals(self._finished())  # the last frame counts the last trials

    def _drain(self, progress: SweepProgress, timeout: float) -> None:
        """Show every event the workers sent, waiting up to ``timeout`` for the first."""
        ready = wait(list(self.pipes.values()), timeout=timeout)
        while ready:
            for pipe in ready:
                try:
                    event = pipe.recv()
                except (EOFError, OSError, pickle.UnpicklingError):
                    # The worker exited (or was killed mid-message): its pipe is done.
                    self.pipes = {k: v for k, v in self.pipes.items() if v is not pipe}
                    pipe.close()
                    continue
                self._on_event(progress, event)
            ready = wait(list(self.pipes.values()), timeout=0)

    def _on_event(self, progress: SweepProgress, event: Event) -> None:
        if isinstance(event, WorkerFatal):
            self.fatal_reason = event.reason
        elif isinstance(event, TrialEnded):
            self.crashes[event.slot] = 0
        progress.on_event(event)

    def _progress(self) -> SweepProgress:
        """The display, starting from what the store holds: a resume or a joining machine
        shows the trials finished before it and their best val at once."""
        config = self.handle.config
        best = ranked_rows(self.handle.engine, self.handle.sweep, limit=1, trained_only=True)
        return SweepProgress(
            self.console,
            self.handle.name,
            config.trials,
            config.epochs,
            len(self.slots),
            finished=self._finished(),
            best=best[0]["val_accuracy"] if best else None,
        )

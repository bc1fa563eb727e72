"""The dispatcher, driving Ray actors instead of local worker processes.

Everything the local dispatcher decides stays its own (:class:`sweeps.dispatcher.Dispatcher`:
refill a slot whose worker died, stop on a fatal fault, Ctrl-C as a graceful stop, the budget
read from the store); only the worker handle and the event source change. An
:class:`_ActorWorker` answers as a ``multiprocessing.Process`` does (``is_alive``, ``exitcode``,
``terminate``, ``kill``, ``join``), and events come from each actor's queue instead of a pipe.

A lost node: Ray restarts its actors on other nodes (``max_restarts``); the dispatcher sees the
actor's ``run`` fail, gives the worker's trial back at once (the reaper, told which worker
died, wherever it was) and runs the loop again in the restarted actor, where the trial's retry
continues from its checkpoint. A lost driver: Ray ends the actors it owns, so nothing trains
unrecorded; ``sweeps resume`` reaps their trials.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from rich.console import Console

from sweeps.artifacts import study_path
from sweeps.cluster.actor import ActorPlace, WorkerActor
from sweeps.cluster.connect import RayCluster
from sweeps.cluster.plan import ActorPlan
from sweeps.cluster.shared_storage import SharedChecks, absolute_sqlite_url
from sweeps.devices import Slot
from sweeps.dispatcher import Dispatcher, DispatchResult
from sweeps.optuna_study import StudyHandle
from sweeps.progress import SweepProgress
from sweeps.protocol import Event, WorkerExit, WorkerMessage, WorkerOptions
from sweeps.reaper import reap_dead_workers

__all__ = ["RayDispatcher"]

EVENT_WAIT_SECONDS = 0.5  # how long an actor holds the driver's poll open for its next event
ACTOR_LOST = -9  # the exit code of a worker whose actor died (as a killed process's)
TASK_FAILED = 1  # the loop raised: as a local worker process that crashed


def _last_line(exc: BaseException) -> str:
    """The worker's own exception, the last line of Ray's report of it."""
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    return lines[-1][:500] if lines else type(exc).__name__


class _ActorWorker:
    """One slot's actor, seen as a process: the dispatcher's watch loop needs no other."""

    def __init__(self, ray: Any, actor: Any, options: Any, gpu_share: float, done: Any):
        self.ray, self.actor, self.gpu_share = ray, actor, gpu_share
        self.slot = options.slot
        self.nothing_left = done  # () -> bool: the budget is met
        self.place: ActorPlace | None = None
        self.lost = False
        self.leftover: list[Event] = []
        self.begin(options)

    def begin(self, options: Any) -> None:
        """Run the worker loop in this actor (Ray queues the call while it restarts)."""
        self.exitcode: int | None = None
        self.lost, self.place = False, None
        self.place_ref = self.actor.place.remote()
        self.run_ref = self.actor.run.remote(options, self.gpu_share)
        self.events_ref: Any = self.actor.next_events.remote(EVENT_WAIT_SECONDS)

    def placed(self) -> bool:
        if self.place is None and self.ray.wait([self.place_ref], timeout=0)[0]:
            try:
                self.place = self.ray.get(self.place_ref)
            except self.ray.exceptions.RayError:
                return False
        return self.place is not None

    def is_alive(self) -> bool:
        if self.exitcode is not None:
            return False
        if not self.ray.wait([self.run_ref], timeout=0)[0]:
            if not self.placed() and self.nothing_left():
                # Never placed (no room since its node was lost) and nothing left to run.
                self.kill()
                self.exitcode = int(WorkerExit.DONE)
                return False
            return True
        errors = self.ray.exceptions
        try:
            self.exitcode = int(self.ray.get(self.run_ref))
        except errors.RayActorError:
            self.exitcode, self.lost = ACTOR_LOST, True
        except errors.RayTaskError as exc:  # the loop raised: say what, as a process's stderr
            self.exitcode = TASK_FAILED
            self.leftover.append(WorkerMessage(self.slot, text=_last_line(exc)))
        if not self.lost:  # what it sent before it returned comes before its exit
            self.leftover += self._events(self.events_ref) + self._events(
                self.actor.next_events.remote(0)
            )
        self.events_ref = None
        return False

    def _events(self, ref: Any) -> list[Event]:
        try:
            return self.ray.get(ref, timeout=30)
        except self.ray.exceptions.RayError:
            return []

    def poll_events(self) -> list[Event]:
        """The events of a finished poll, and the next poll started while the loop runs."""
        found = self._events(self.events_ref)
        self.events_ref = (
            self.actor.next_events.remote(EVENT_WAIT_SECONDS) if self.exitcode is None else None
        )
        return found

    def terminate(self) -> None:
        self.actor.stop.remote()

    def kill(self) -> None:
        try:
            self.ray.kill(self.actor, no_restart=True)
        except self.ray.exceptions.RayError:
            pass  # gone already

    def join(self, timeout: float) -> None:
        if self.placed():
            self.ray.wait([self.run_ref], timeout=timeout)


class RayDispatcher(Dispatcher):
    """Runs a study's trials in Ray actors, ``plan.count`` of them, until the budget is met."""

    def __init__(
        self,
        handle: StudyHandle,
        plan: ActorPlan,
        cluster: RayCluster,
        artifacts: str,
        console: Console | None = None,
    ):
        super().__init__(handle, plan.slots(), artifacts, console=console)
        import ray

        self.ray, self.plan = ray, plan
        folder = study_path(artifacts, handle.config.study_folder or handle.name)
        checks = SharedChecks.written(folder, cluster.driver_host, handle.url)
        self.actor_class = ray.remote(WorkerActor)
        self.checks = checks

    def _options(self, slot: Slot) -> WorkerOptions:
        options = super()._options(slot)
        return dataclasses.replace(options, storage_url=absolute_sqlite_url(options.storage_url))

    def _new_actor(self) -> Any:
        return self.actor_class.options(
            num_cpus=self.plan.num_cpus,
            num_gpus=self.plan.num_gpus,
            # A lost node's actors start again elsewhere; the dispatcher bounds crash loops.
            max_restarts=-1,
            max_concurrency=4,  # run, next_events, stop and place answer side by side
            scheduling_strategy="SPREAD",
        ).remote(self.checks)

    def _start(self, slot: Slot) -> None:
        options = self._options(slot)
        old: _ActorWorker | None = self.processes.get(slot.index)
        if old is not None and old.lost:
            old.begin(options)  # in the actor Ray restarts elsewhere
            return
        if old is not None:  # asked to be recycled, or its loop failed: a fresh process
            old.kill()
        budget = self.handle.config.trials
        self.processes[slot.index] = _ActorWorker(
            self.ray,
            self._new_actor(),
            options,
            self.plan.num_gpus,
            done=lambda: self._finished() >= budget,
        )

    def _reap(self) -> list[int]:
        gone = [
            (w.place.hostname, w.place.pid)
            for w in self.processes.values()
            if w.lost and w.place is not None
        ]
        return reap_dead_workers(self.handle, gone=gone)

    def _drain(self, progress: SweepProgress, timeout: float) -> None:
        workers = list(self.processes.values())
        for worker in workers:
            events, worker.leftover = worker.leftover, []
            for event in events:
                self._on_event(progress, event)
        polls = {w.events_ref: w for w in workers if w.events_ref is not None}
        if not polls:
            time.sleep(timeout)
            return
        ready, _ = self.ray.wait(list(polls), num_returns=1, timeout=timeout)
        if ready:
            ready, _ = self.ray.wait(list(polls), num_returns=len(polls), timeout=0)
        for ref in ready:
            for event in polls[ref].poll_events():
                self._on_event(progress, event)

    def run(self) -> DispatchResult:
        try:
            return super().run()
        finally:
            for worker in self.processes.values():  # their resources back to the cluster
                worker.kill()

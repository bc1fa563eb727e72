"""A Ray actor that runs one worker loop: the same loop a local worker process runs.

The actor is only another place to run :func:`sweeps.worker.process.run_worker`. Its events,
which a local worker sends through a pipe, wait in a queue that the driver empties
(:meth:`WorkerActor.next_events`); the driver's graceful stop, a SIGTERM for a local worker,
is :meth:`WorkerActor.stop`. Methods run in threads of one actor process (``max_concurrency``),
so a stop or an event poll is answered while a trial trains. Ray sets the actor's
``CUDA_VISIBLE_DEVICES`` to the GPU it assigned before the actor starts; the worker pins that
GPU before it imports TensorFlow, as a local worker pins its slot's.

This module imports neither Ray nor TensorFlow: the dispatcher wraps the class with
``ray.remote``, and the worker package is imported in :meth:`WorkerActor.run`, in the actor.
"""

from __future__ import annotations

import dataclasses
import os
import queue
import socket
import threading
from dataclasses import dataclass

from sweeps.cluster.shared_storage import SharedChecks
from sweeps.protocol import Event, WorkerExit, WorkerFatal, WorkerOptions

__all__ = ["ActorPlace", "WorkerActor"]


@dataclass(frozen=True)
class ActorPlace:
    """Where an actor runs: its Ray node, host, process and assigned GPUs."""

    node_id: str
    node_host: str  # the IP Ray knows the node by
    hostname: str  # what the worker records as its host, with ``pid``
    pid: int
    gpu_ids: tuple[str, ...]
    cuda_visible_devices: str | None

    @property
    def node_label(self) -> str:
        return f"{self.node_id[:8]}@{self.node_host}"


class WorkerActor:
    """One worker of a sweep, placed by Ray; ``run`` trains until the budget or a stop."""

    def __init__(self, checks: SharedChecks):
        self.checks = checks
        self.events: queue.Queue[Event] = queue.Queue()
        self.stopping = threading.Event()

    def place(self) -> ActorPlace:
        import ray

        context = ray.get_runtime_context()
        return ActorPlace(
            node_id=context.get_node_id(),
            node_host=ray.util.get_node_ip_address(),
            hostname=socket.gethostname(),
            pid=os.getpid(),
            gpu_ids=tuple(str(g) for g in context.get_accelerator_ids().get("GPU", [])),
            cuda_visible_devices=os.environ.get("CUDA_VISIBLE_DEVICES"),
        )

    def run(self, options: WorkerOptions, gpu_share: float = 0.0) -> int:
        """The worker loop, once per actor process; returns its :class:`WorkerExit` code."""
        place = self.place()
        problem = self.checks.problem(place.node_label, place.node_host)
        if problem:
            self.events.put(WorkerFatal(options.slot, reason=problem))
            return int(WorkerExit.FATAL)
        options = dataclasses.replace(
            options, ray_node=place.node_label, **_assigned_device(place, gpu_share)
        )
        from sweeps.worker.process import run_worker

        return int(run_worker(options, self.events.put, self.stopping.is_set))

    def next_events(self, wait_seconds: float) -> list[Event]:
        """The events sent since the last call, waiting up to ``wait_seconds`` for the first."""
        try:
            found = [self.events.get(timeout=wait_seconds or None, block=bool(wait_seconds))]
        except queue.Empty:
            return []
        while True:
            try:
                found.append(self.events.get_nowait())
            except queue.Empty:
                return found

    def stop(self) -> None:
        """Stop at the next batch; the running trial is queued to continue (as SIGTERM)."""
        self.stopping.set()


def _assigned_device(place: ActorPlace, gpu_share: float) -> dict[str, object]:
    """The device Ray assigned: its first GPU (with a memory cap when the GPU is shared), or
    the CPU."""
    if not place.gpu_ids:
        return {"device": "cpu"}
    gpu = place.gpu_ids[0]
    memory = 0
    if 0 < gpu_share < 1:
        from sweeps.devices import discover_gpus

        # Leave 10% for the CUDA context of each process, as on one machine.
        total = {str(g.index): g.memory_mb for g in discover_gpus()}.get(gpu, 0)
        memory = int(total * 0.9 * gpu_share)
    return {"device": f"gpu:{gpu}", "memory_limit_mb": memory}

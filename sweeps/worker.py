"""A worker process: pin the device, import TensorFlow once, then run trials until the budget.

The loop per trial: take a budget slot (an atomic counter in the store), ask Optuna for a trial
(a queued retry or baseline first), train it, tell Optuna how it ended. A trial that fails by
itself gives its slot back and is queued again with the same parameters, a bounded number of
times; an interrupted one is queued to continue from its checkpoint.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

EXIT_DONE = 0
EXIT_RECYCLE = 3  # asked to be replaced by a fresh process (trial count or memory bound)
EXIT_FATAL = 4  # a fault that dooms every trial

HEARTBEAT_SECONDS = 5.0

__all__ = ["EXIT_DONE", "EXIT_FATAL", "EXIT_RECYCLE", "WorkerOptions", "worker_main"]


@dataclass(frozen=True)
class WorkerOptions:
    study_name: str
    storage_url: str
    slot: int = 0
    device: str = "cpu"
    threads: int = 0  # 0: TensorFlow's default
    memory_limit_mb: int = 0
    artifacts: str = "sweeps-artifacts"
    # Failures before this moment (UTC) do not count towards stopping the sweep: a resumed
    # sweep whose cause was fixed must not stop at once on the failures that stopped it.
    failures_since: datetime | None = None


def pin_device(options: WorkerOptions) -> None:
    """Choose the device BEFORE TensorFlow is imported: it grabs every visible GPU on import."""
    if options.device.startswith("gpu:"):
        os.environ["CUDA_VISIBLE_DEVICES"] = options.device.split(":")[1]
    else:
        os.environ["CUDA_VISIBLE_DEVICES"] = "-1"
    # 3 also hides the cuInit error that every CPU-only worker would print; real failures
    # still surface as Python exceptions.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    if options.threads:
        tf.config.threading.set_intra_op_parallelism_threads(options.threads)
        tf.config.threading.set_inter_op_parallelism_threads(max(1, options.threads // 2))
    for gpu in tf.config.list_physical_devices("GPU"):
        if options.memory_limit_mb:
            tf.config.set_logical_device_configuration(
                gpu, [tf.config.LogicalDeviceConfiguration(memory_limit=options.memory_limit_mb)]
            )
        else:
            tf.config.experimental.set_memory_growth(gpu, True)


def resident_memory_mb() -> float:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class _Heartbeat(threading.Thread):
    """Marks the worker alive every few seconds, so the reaper can tell a dead one."""

    def __init__(self, engine: Any, worker_id: int):
        super().__init__(daemon=True)
        self.engine, self.worker_id = engine, worker_id
        self.halt = threading.Event()

    def run(self) -> None:
        from storage.records import heartbeat

        while not self.halt.wait(HEARTBEAT_SECONDS):
            try:
                heartbeat(self.engine, self.worker_id)
            except Exception:  # a busy database must not kill the worker; retry next beat
                pass


def worker_main(options: WorkerOptions, events: Any = None, stop_event: Any = None) -> int:
    """Run trials until the study's budget is met; returns one of the EXIT_* codes."""
    # The terminal's Ctrl-C reaches every process of the group; the dispatcher decides what it
    # means and tells us through stop_event. SIGTERM sent to this worker alone stops it gently.
    local_stop = threading.Event()
    if stop_event is not None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: local_stop.set())
    pin_device(options)

    from sweeps.trial_loop import TrialLoop

    def should_stop() -> bool:
        return local_stop.is_set() or (stop_event is not None and stop_event.is_set())

    def emit(kind: str, **payload: Any) -> None:
        if events is not None:
            events.put((kind, options.slot, payload))
        elif kind in ("trial_end", "fatal", "message"):
            print(f"[worker {os.getpid()}] {kind}: {payload}", file=sys.stderr, flush=True)

    loop = TrialLoop(options, should_stop=should_stop, emit=emit,
                     host=socket.gethostname(), pid=os.getpid())
    heartbeat = _Heartbeat(loop.handle.engine, loop.worker_id)
    heartbeat.start()
    try:
        return loop.run()
    finally:
        heartbeat.halt.set()
        loop.close()


def artifacts_folder(artifacts: str, study_name: str) -> Path:
    return Path(artifacts).expanduser().resolve() / study_name


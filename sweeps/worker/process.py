"""A worker: pin the device, import TensorFlow once, then run trials until the budget.

The same loop runs in a local worker process (:func:`worker_main`, started by the dispatcher)
and in a Ray actor (:mod:`sweeps.cluster.actor`, which calls :func:`run_worker`): only how it
is stopped and where its events go differ.

The loop per trial: claim a trial of the budget (when Optuna's finished trials and the claims
other workers hold leave one; storage.records.claim_trial), ask Optuna for a trial
(a queued retry or baseline first), train it, tell Optuna how it ended. A failed trial gives
its claim back. It is queued again only when a second run may succeed, a bounded number of
times: after a transient fault, from its checkpoint; out of memory, at half its batch size. A
failure the same parameters would raise again is recorded, not retried. An interrupted trial is
queued to continue from its checkpoint (sweeps.worker.trial_loop's ``_retry``).
"""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from sweeps.protocol import Event, TrialEnded, WorkerExit, WorkerFatal, WorkerMessage, WorkerOptions
from sweeps.tf_logs import import_tensorflow_quietly

HEARTBEAT_SECONDS = 5.0

__all__ = ["pin_device", "run_worker", "worker_main"]


def pin_device(options: WorkerOptions) -> WorkerOptions:
    """Choose the device BEFORE TensorFlow is imported: it grabs every visible GPU on import.

    Returns the options as the worker really runs: a GPU that TensorFlow cannot see (no CUDA
    build, no driver, a logical GPU of a test cluster) leaves the worker on the CPU, and its
    ``device_note`` says so, so the store records where its trials really trained.
    """
    if options.device.startswith("gpu:"):
        os.environ["CUDA_VISIBLE_DEVICES"] = options.device.split(":")[1]
    else:
        os.environ["CUDA_VISIBLE_DEVICES"] = "-1"
    # Hides the start-up notices (and the cuInit error every CPU-only worker would print);
    # real failures still surface as Python exceptions.
    import_tensorflow_quietly()
    import tensorflow as tf

    if options.threads:
        tf.config.threading.set_intra_op_parallelism_threads(options.threads)
        # As many inter-op threads as intra-op, as TensorFlow's own default does for the
        # whole machine: one two-thread worker trained 5% more trials an hour than with one
        # inter-op thread (16 trials x 10 epochs of mnist_cnn on digits, two quiet cores).
        tf.config.threading.set_inter_op_parallelism_threads(options.threads)
    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        if options.memory_limit_mb:
            tf.config.set_logical_device_configuration(
                gpu, [tf.config.LogicalDeviceConfiguration(memory_limit=options.memory_limit_mb)]
            )
        else:
            tf.config.experimental.set_memory_growth(gpu, True)
    if options.device.startswith("gpu:") and not gpus:
        note = f"{options.device} not visible"
        return dataclasses.replace(options, device="cpu", device_note=note)
    return options


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


def worker_main(options: WorkerOptions, events: Connection | None = None) -> WorkerExit:
    """Run trials until the study's budget is met or a stop is asked; returns the exit code.

    ``events`` (the writing end of a pipe) receives :mod:`sweeps.protocol` events for the
    dispatcher; without one, trial ends and errors are printed to stderr. SIGTERM is the
    graceful stop: the running trial stops at its next batch and is queued to continue.
    """
    # The terminal's Ctrl-C reaches every process of the group; the dispatcher decides what it
    # means and tells us with SIGTERM.
    stop = threading.Event()
    if events is not None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    def emit(event: Event) -> None:
        if events is not None:
            try:
                events.send(event)
            except OSError:
                pass  # the dispatcher is gone; the store still records everything
        elif isinstance(event, TrialEnded | WorkerFatal | WorkerMessage):
            print(f"[worker {os.getpid()}] {event}", file=sys.stderr, flush=True)

    return run_worker(options, emit, stop.is_set)


def run_worker(
    options: WorkerOptions, emit: Callable[[Event], None], should_stop: Callable[[], bool]
) -> WorkerExit:
    """The worker loop itself, wherever it runs: pin the device, then trials until the budget,
    a stop (``should_stop``) or a fatal fault. Events go to ``emit``."""
    # joblib (through scikit-learn) probes named semaphores at import; a worker needs none,
    # and without them it never depends on multiprocessing's resource tracker.
    os.environ.setdefault("JOBLIB_MULTIPROCESSING", "0")
    options = pin_device(options)
    if options.device_note:
        emit(WorkerMessage(options.slot, text=f"{options.device_note} to TensorFlow: on the CPU"))

    from sweeps.worker.trial_loop import TrialLoop

    loop = TrialLoop(
        options, should_stop=should_stop, emit=emit, host=socket.gethostname(), pid=os.getpid()
    )
    heartbeat = _Heartbeat(loop.handle.engine, loop.worker_id)
    heartbeat.start()
    try:
        return loop.run()
    finally:
        heartbeat.halt.set()
        loop.close()

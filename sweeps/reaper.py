"""Find workers that died and give their trials back, without waiting for anyone to ask.

A worker is dead when its process is gone (same host), when its heartbeat is older than the
grace period (any host), or when the caller saw it die (a Ray actor whose node was lost: its
driver knows at once, wherever the node was). Its running trial is failed as "lost" and, while
the study's retries last, queued again with the same parameters to continue from its last
checkpoint; then its claim on the budget is free.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable

import optuna
import sqlalchemy as sa
from optuna.trial import TrialState

from storage import TrialStatus, WorkerState, records
from storage.engine import reader, session_scope
from storage.tables import WorkerRecord
from storage.trial_status import OUTCOME_ATTR
from sweeps.optuna_study import StudyHandle, enqueue_retry

__all__ = ["GRACE_SECONDS", "pid_alive", "reap_dead_workers"]

GRACE_SECONDS = 60.0


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _dead_here(handle: StudyHandle, gone: set[tuple[str, int]]) -> list[WorkerRecord]:
    """Workers of this host whose process no longer exists, and those known ``gone``."""
    host = socket.gethostname()
    with session_scope(reader(handle.engine)) as session:
        alive = session.scalars(
            sa.select(WorkerRecord).where(
                WorkerRecord.study_id == handle.study_id,
                WorkerRecord.state.in_(WorkerState.alive()),
            )
        ).all()
    return [
        w for w in alive if (w.host, w.pid) in gone or (w.host == host and not pid_alive(w.pid))
    ]


def reap_dead_workers(
    handle: StudyHandle,
    grace_seconds: float = GRACE_SECONDS,
    gone: Iterable[tuple[str, int]] = (),
) -> list[int]:
    """Reap dead workers of the study; returns the numbers of the trials given back.

    ``gone``: (host, pid) of workers the caller knows are dead, on any host.
    """
    dead = {w.id: w for w in _dead_here(handle, set(gone))}
    stale = records.stale_workers(handle.engine, handle.study_id, grace_seconds)
    dead.update({w.id: w for w in stale})
    given_back = []
    for worker in dead.values():
        number = _give_back(handle, worker) if worker.trial_id is not None else None
        if number is not None:
            given_back.append(number)
        # Only now is its slot free: its trial no longer runs (failed here, or it finished).
        records.set_worker(handle.engine, worker.id, state=WorkerState.DEAD, holds_claim=False)
    return given_back


def _give_back(handle: StudyHandle, worker: WorkerRecord) -> int | None:
    """Fail a dead worker's trial as lost and queue it to continue from its last checkpoint;
    returns its number, or None when it had finished (or another reaper got there first)."""
    trial_id, done = worker.trial_id, worker.epoch or 0  # the last epoch the worker recorded
    died = f"worker {worker.name} died during epoch {done + 1} after finishing {done}"
    # Optuna's tools see the outcome in our words too, as for every other ending (a finished
    # trial's attributes can no longer be set: before its state).
    attrs = {OUTCOME_ATTR: str(TrialStatus.LOST), "failure_reason": died}
    try:
        if not records.set_result_attrs(handle.engine, trial_id, attrs):
            return None
        handle.storage.set_trial_state_values(trial_id, state=TrialState.FAIL)
    except optuna.exceptions.UpdateFinishedTrialError:
        return None
    frozen = handle.storage.get_trial(trial_id)
    queued = enqueue_retry(
        handle.study,
        frozen,
        resume=True,
        counts_as_retry=True,
        max_retries=handle.config.max_retries,
    )
    reason = f"{died}; " + ("retried from its last checkpoint" if queued else "retries used up")
    records.finish_result(handle.engine, trial_id, failure_reason=reason, epochs_run=done)
    return frozen.number

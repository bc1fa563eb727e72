"""Find workers that died and give their trials back, without waiting for anyone to ask.

A worker is dead when its process is gone (same host) or its heartbeat is older than the grace
period (any host). Its running trial is failed as "lost" and queued again with the same
parameters to continue from its last checkpoint; its budget slot is freed.
"""

from __future__ import annotations

import os
import socket

import optuna
import sqlalchemy as sa
from optuna.trial import TrialState

from storage import TrialStatus, WorkerState, records
from storage.engine import reader, session_scope
from storage.models import WorkerRecord
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


def _dead_here(handle: StudyHandle) -> list[WorkerRecord]:
    """Workers of this host whose process no longer exists."""
    host = socket.gethostname()
    with session_scope(reader(handle.engine)) as session:
        alive = session.scalars(
            sa.select(WorkerRecord).where(
                WorkerRecord.study_id == handle.study_id,
                WorkerRecord.host == host,
                WorkerRecord.state.in_(WorkerState.alive()),
            )
        ).all()
    return [w for w in alive if not pid_alive(w.pid)]


def reap_dead_workers(handle: StudyHandle, grace_seconds: float = GRACE_SECONDS) -> list[int]:
    """Reap dead workers of the study; returns the numbers of the trials given back."""
    study_id = handle.study_id
    dead = {w.id: w for w in _dead_here(handle)}
    dead.update({w.id: w for w in records.stale_workers(handle.engine, study_id, grace_seconds)})
    if not dead:
        return []
    given_back = []
    storage = handle.storage
    for worker in dead.values():
        records.set_worker(handle.engine, worker.id, state=WorkerState.DEAD, holds_claim=False)
        if worker.trial_id is None:
            continue
        done = worker.epoch or 0  # the last epoch the worker recorded
        died = f"worker {worker.name} died during epoch {done + 1} after finishing {done}"
        try:
            # Optuna's tools see the outcome in our words too, as for every other ending (a
            # finished trial's attributes can no longer be set: before its state).
            storage.set_trial_user_attr(worker.trial_id, "status", str(TrialStatus.LOST))
            storage.set_trial_user_attr(worker.trial_id, "failure_reason", died)
            if not storage.set_trial_state_values(worker.trial_id, state=TrialState.FAIL):
                continue
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # it finished, or another reaper got there first
        frozen = storage.get_trial(worker.trial_id)
        queued = enqueue_retry(
            handle.study,
            frozen,
            resume=True,
            counts_as_retry=True,
            max_retries=handle.config.max_retries,
        )
        reason = f"{died}; " + ("retried from its last checkpoint" if queued else "retries used up")
        records.finish_result(
            handle.engine, worker.trial_id, TrialStatus.LOST, failure_reason=reason, epochs_run=done
        )
        given_back.append(frozen.number)
    records.reconcile_claims(handle.engine, study_id)
    return given_back

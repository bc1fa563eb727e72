"""Scripted trials for ranking, counting and display tests: each one a real Optuna trial in the
state its outcome is told as (sweeps.worker.trial_loop), with the outcome recorded beside it,
and our result row, as a worker leaves them; no training."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import optuna
from optuna.trial import TrialState

from storage import TrialStatus, records
from storage.trial_status import OUTCOME_ATTR
from sweeps.optuna_study import StudyHandle

# The Optuna state each outcome is told as (an early-stopped trial is COMPLETE: see
# sweeps.worker.trial_loop._optuna_state).
TOLD_AS = {
    TrialStatus.RUNNING: TrialState.RUNNING,
    TrialStatus.COMPLETE: TrialState.COMPLETE,
    TrialStatus.PRUNED: TrialState.PRUNED,
    TrialStatus.DIVERGED: TrialState.PRUNED,
    TrialStatus.FAILED: TrialState.FAIL,
    TrialStatus.OUT_OF_MEMORY: TrialState.FAIL,
    TrialStatus.LOST: TrialState.FAIL,
    TrialStatus.INTERRUPTED: TrialState.FAIL,
}


def add_trial(
    handle: StudyHandle,
    status: TrialStatus | str,
    *,
    val_accuracy: float | None = None,
    finished_at: datetime | None = None,
    params: dict[str, Any] | None = None,
    **result: Any,
) -> int:
    """Add a trial that ended in ``status`` (or runs) with our row of it; returns its number."""
    status = TrialStatus(status)
    state = TOLD_AS[status]
    params = params or {}
    trial = optuna.trial.create_trial(
        state=state,
        value=val_accuracy if state == TrialState.COMPLETE else None,
        params=params,
        distributions={name: optuna.distributions.FloatDistribution(0.0, 1e9) for name in params},
        user_attrs={} if status == TrialStatus.RUNNING else {OUTCOME_ATTR: status.value},
    )
    handle.study.add_trial(trial)
    number = len(handle.study.get_trials(deepcopy=False)) - 1
    trial_id = handle.trial_id(number)
    records.start_result(
        handle.engine,
        trial_id=trial_id,
        study_id=handle.study_id,
        number=number,
        space=handle.config.space,
        dataset=handle.config.dataset,
    )
    if status != TrialStatus.RUNNING:
        records.finish_result(handle.engine, trial_id, val_accuracy=val_accuracy, **result)
        if finished_at is not None:
            records.update_result(handle.engine, trial_id, finished_at=finished_at)
    elif result:
        records.update_result(handle.engine, trial_id, val_accuracy=val_accuracy, **result)
    return number

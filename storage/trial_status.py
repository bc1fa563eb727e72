"""A trial's status, derived where it is read, never stored: one rule, in Python and in SQL.

Optuna's state is the truth of where a trial is in its life: running (or queued), or finished
and how it counts (COMPLETE, PRUNED, FAIL). How it ended in our words (diverged, out of memory,
lost...) is its outcome, recorded by whoever ends it in the same transaction as the state: a
result attribute, ``status``, in Optuna's table, which Optuna's own tools show too. So:

- a trial Optuna has not finished is running, whatever its attribute says (a worker writes its
  result attributes before the state that makes them true);
- a finished trial is its outcome; one finished without an outcome (by Optuna's own tools, or
  a release that recorded none) is read from its state: COMPLETE complete, PRUNED pruned, FAIL
  failed.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from storage.optuna_tables import OptunaState, trial_user_attributes, trials
from storage.tables import TrialStatus

__all__ = ["OUTCOME_ATTR", "outcomes", "status_column", "trial_status", "with_status"]

# The trial user attribute that holds a finished trial's outcome (a TrialStatus value).
OUTCOME_ATTR = "status"

_NOT_FINISHED = (OptunaState.RUNNING, OptunaState.WAITING)
_FROM_STATE = {
    OptunaState.COMPLETE: TrialStatus.COMPLETE,
    OptunaState.PRUNED: TrialStatus.PRUNED,
    OptunaState.FAIL: TrialStatus.FAILED,
}
_ENDINGS = tuple(status for status in TrialStatus if status != TrialStatus.RUNNING)

# The outcome attribute's rows, joined to a trial by id (see :func:`with_status`).
outcomes = trial_user_attributes.alias("outcome")


def trial_status(state: str, outcome: Any) -> TrialStatus:
    """The status of a trial in Optuna ``state`` (a name) whose outcome attribute is
    ``outcome`` (None when it has none)."""
    if state in _NOT_FINISHED:
        return TrialStatus.RUNNING
    if outcome in _ENDINGS:
        return TrialStatus(outcome)
    return _FROM_STATE.get(OptunaState(state), TrialStatus.FAILED)


def status_column() -> sa.ColumnElement[str]:
    """:func:`trial_status` in SQL, over ``trials`` and :data:`outcomes` (joined by
    :func:`with_status`), labelled ``status``."""
    stored = outcomes.c.value_json  # the outcome as JSON: a quoted string
    return sa.case(
        (trials.c.state.in_(_NOT_FINISHED), TrialStatus.RUNNING.value),
        *((stored == json.dumps(status.value), status.value) for status in _ENDINGS),
        *((trials.c.state == state, status.value) for state, status in _FROM_STATE.items()),
        else_=TrialStatus.FAILED.value,
    ).label("status")


def with_status(query: sa.Select, trial_id: sa.ColumnElement[int]) -> sa.Select:
    """``query`` joined to what :func:`status_column` reads, for the trial ``trial_id``."""
    return query.join(trials, trials.c.trial_id == trial_id).outerjoin(
        outcomes, sa.and_(outcomes.c.trial_id == trial_id, outcomes.c.key == OUTCOME_ATTR)
    )

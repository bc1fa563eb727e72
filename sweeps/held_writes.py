"""A worker's running trial, written in a few transactions rather than one per answer.

Optuna writes each parameter a trial asks, each value it reports and each attribute in a
transaction of its own: a dozen or more per trial, every one of them taking SQLite's write lock.
A worker *holds* the trial it runs (:meth:`HeldWrites.hold`): those writes wait in memory,
and each of the trial's own transactions carries the ones waiting, written by Optuna's own
code (its ``*_without_commit`` helpers, which check what its one-by-one writes check):

- the transaction that records the built model's facts: every parameter the build asked, so
  other workers' samplers see a running trial's parameters before it trains (constant liar);
- each epoch's: the value reported for that epoch (the pruners of other workers read only
  finished trials);
- the tell: whatever is left, the trial's state and value, and our rows of its end, at once
  (:meth:`HeldWrites.finish_with`); nobody sees the trial finished without its attributes.

This process reads a held trial with its waiting writes applied, as if they were written. A
worker killed meanwhile loses only what waited: its trial is reaped as any other.
"""

from __future__ import annotations

import contextlib
import copy
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.storages._rdb import models
from optuna.storages._rdb.storage import _create_scoped_session
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy.orm import Session

__all__ = ["CAN_HOLD", "HeldWrites"]

_RDB = optuna.storages.RDBStorage
# Optuna's helpers that write within a caller's transaction. An Optuna release without one of
# them gets no holding: its trials are written one write at a time, as Optuna itself does.
_HELPERS = (
    "_set_trial_param",
    "_set_trial_param_without_commit",
    "_set_trial_intermediate_value_without_commit",
    "_set_trial_attr_without_commit",
    "_set_trial_value_without_commit",
    "check_trial_is_updatable",
)
CAN_HOLD = all(hasattr(_RDB, name) for name in _HELPERS)


@dataclass
class _Waiting:
    """A held trial's writes not yet in the store, in the order they were made."""

    params: dict[str, tuple[float, BaseDistribution, BaseDistribution | None]] = field(
        default_factory=dict
    )  # name: (internal value, distribution, the study's earlier distribution if known)
    values: dict[int, float] = field(default_factory=dict)  # step: intermediate value
    user_attrs: dict[str, Any] = field(default_factory=dict)
    finish: Callable[[Session], None] | None = None  # more writes of the tell's transaction

    def __bool__(self) -> bool:
        return bool(self.params or self.values or self.user_attrs)


class HeldWrites(_RDB):
    """Optuna's RDB storage that holds the writes of the trials this process runs."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._held: dict[int, _Waiting] = {}
        self._held_lock = threading.Lock()

    def __getstate__(self) -> dict[Any, Any]:
        state = super().__getstate__()
        state.pop("_held_lock", None)
        return state

    def __setstate__(self, state: dict[Any, Any]) -> None:
        super().__setstate__(state)
        self._held_lock = threading.Lock()

    # What the trial loop calls ----------------------------------------------------------

    def hold(self, trial_id: int) -> None:
        """Hold ``trial_id``'s writes from now until it is told."""
        if not CAN_HOLD:
            return
        with self._held_lock:
            self._held.setdefault(trial_id, _Waiting())

    @contextlib.contextmanager
    def writing_held(self, trial_id: int) -> Iterator[Callable[[Session], None]]:
        """A writer of ``trial_id``'s waiting writes into a transaction of the caller's (a
        session on the same database); they are forgotten only when the block ends without
        an error, so a transaction that rolls back leaves them waiting for the next."""
        with self._held_lock:
            waiting = self._held.get(trial_id) or _Waiting()
            # Copies: what is asked or reported meanwhile is not forgotten with these.
            taken = _Waiting(dict(waiting.params), dict(waiting.values), dict(waiting.user_attrs))
        yield lambda session: self._write(session, trial_id, taken)
        with self._held_lock:
            waiting = self._held.get(trial_id)
            if waiting:
                for name in taken.params:
                    waiting.params.pop(name, None)
                for step in taken.values:
                    waiting.values.pop(step, None)
                for key in taken.user_attrs:
                    waiting.user_attrs.pop(key, None)

    def finish_with(self, trial_id: int, write: Callable[[Session], None]) -> None:
        """Run ``write`` in the transaction that tells ``trial_id``'s end, after its checks."""
        with self._held_lock:
            self._held.setdefault(trial_id, _Waiting()).finish = write

    def release(self, trial_id: int) -> None:
        """Stop holding ``trial_id`` (once it is told); what still waited is dropped."""
        with self._held_lock:
            self._held.pop(trial_id, None)

    # Optuna's writes of a held trial wait ------------------------------------------------

    def _waiting(self, trial_id: int) -> _Waiting | None:
        return self._held.get(trial_id)

    def _set_trial_param(
        self,
        trial_id: int,
        param_name: str,
        param_value_internal: float,
        distribution: BaseDistribution,
        previous_distribution: BaseDistribution | None,
    ) -> None:
        with self._held_lock:
            waiting = self._waiting(trial_id)
            if waiting is not None:
                waiting.params[param_name] = (
                    param_value_internal,
                    distribution,
                    previous_distribution,
                )
                return
        super()._set_trial_param(
            trial_id, param_name, param_value_internal, distribution, previous_distribution
        )

    def set_trial_intermediate_value(
        self, trial_id: int, step: int, intermediate_value: float
    ) -> None:
        with self._held_lock:
            waiting = self._waiting(trial_id)
            if waiting is not None:
                waiting.values[step] = intermediate_value
                return
        super().set_trial_intermediate_value(trial_id, step, intermediate_value)

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        with self._held_lock:
            waiting = self._waiting(trial_id)
            if waiting is not None:
                waiting.user_attrs[key] = value
                return
        super().set_trial_user_attr(trial_id, key, value)

    def set_trial_state_values(self, trial_id: int, state: TrialState, values: Any = None) -> bool:
        with self._held_lock:
            waiting = self._waiting(trial_id)
        if waiting is None or not state.is_finished():
            return super().set_trial_state_values(trial_id, state=state, values=values)
        if not CAN_HOLD:  # nothing was held: told as Optuna tells, then our end
            told = super().set_trial_state_values(trial_id, state=state, values=values)
            if waiting.finish is not None:
                with _create_scoped_session(self.scoped_session) as session:
                    waiting.finish(session)
            self.release(trial_id)
            return told
        # Optuna's tell (RDBStorage.set_trial_state_values), with the waiting writes and our
        # end in its transaction: the trial's row locked first, so nobody finishes it meanwhile.
        with _create_scoped_session(self.scoped_session) as session:
            trial = models.TrialModel.find_or_raise_by_id(trial_id, session, for_update=True)
            self.check_trial_is_updatable(trial_id, trial.state)
            self._write(session, trial_id, waiting)
            for objective, value in enumerate(values or ()):
                self._set_trial_value_without_commit(session, trial, objective, value)
            trial.state = state
            trial.datetime_complete = datetime.now()
            if waiting.finish is not None:
                session.flush()  # Optuna's rows first: ours may read them back
                waiting.finish(session)
        self.release(trial_id)
        return True

    def _write(self, session: Session, trial_id: int, waiting: _Waiting) -> None:
        for name, (internal, distribution, previous) in waiting.params.items():
            self._set_trial_param_without_commit(
                session, trial_id, name, internal, distribution, previous
            )
        for step, value in waiting.values.items():
            self._set_trial_intermediate_value_without_commit(session, trial_id, step, value)
        for key, value in waiting.user_attrs.items():
            self._set_trial_attr_without_commit(
                session, models.TrialUserAttributeModel, trial_id, key, value
            )

    # This process reads a held trial as written -------------------------------------------

    def _applied(self, trial: FrozenTrial) -> FrozenTrial:
        with self._held_lock:
            waiting = self._waiting(trial._trial_id)
            if not waiting:
                return trial
            trial = copy.deepcopy(trial)
            for name, (internal, distribution, _) in waiting.params.items():
                trial.distributions[name] = distribution
                trial.params[name] = distribution.to_external_repr(internal)
            trial.intermediate_values.update(waiting.values)
            trial.user_attrs.update(waiting.user_attrs)
        return trial

    def get_trial(self, trial_id: int) -> FrozenTrial:
        return self._applied(super().get_trial(trial_id))

    def _get_trials(self, *args: Any, **kwargs: Any) -> list[FrozenTrial]:
        return [self._applied(trial) for trial in super()._get_trials(*args, **kwargs)]

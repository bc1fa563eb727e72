"""Optuna's storage for a store: its own engine, made like ours, and its reads lock-free.

Optuna writes through an engine of its own on the same database. On SQLite that engine is
hardened as ours is (storage.engine.harden_sqlite): a transaction that may write begins
``BEGIN IMMEDIATE``, since Optuna reads and then writes in one transaction (a new trial's
number is counted from the trials before it; on SQLite its ``FOR UPDATE`` is ignored).
Its reads (the sampler reads every trial on each ask) take no lock: each storage method
that only reads runs inside storage.engine.reading(), so its transaction begins deferred.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import optuna

from storage.engine import engine_options, harden_sqlite, reading
from sweeps.held_writes import HeldWrites

__all__ = ["READ_METHODS", "open_optuna_storage"]

_RDB = optuna.storages.RDBStorage
# A storage's getters only read (BaseStorage's contract); the two private ones are what
# Optuna's trial cache calls on the RDB storage. A name missing from another Optuna release
# is skipped: its reads then lock, as every transaction did before, which is never unsafe.
READ_METHODS = tuple(
    name
    for name in dir(_RDB)
    if name.startswith("get_") or name in ("_get_trials", "_get_best_trial_id")
)


def _deferred(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def read(self: Any, *args: Any, **kwargs: Any) -> Any:
        with reading():
            return method(self, *args, **kwargs)

    return read


class _Storage(HeldWrites):
    """Optuna's RDB storage with its getters in deferred transactions, holding the writes of
    the trials this process runs (sweeps.held_writes)."""


for _name in READ_METHODS:
    setattr(_Storage, _name, _deferred(getattr(HeldWrites, _name)))


def open_optuna_storage(url: str) -> optuna.storages.RDBStorage:
    """Optuna's storage for the store at ``url`` (already normalised)."""
    storage = _Storage(url, engine_kwargs=engine_options(url))
    harden_sqlite(storage.engine)
    return storage

"""The exceptions of sweeps: one root, kept apart below it by who is at fault.

``SweepsError`` is the root of every exception sweeps raises to its caller, each with a
one-line message, so one ``except SweepsError`` catches them all. The lower layers keep their
own errors (``search_spaces.SpaceError``; the store's ``storage.StorageURLError`` and
``SchemaVersionError``) and import nothing from sweeps: sweeps translates them at its boundary,
where it calls into them (:mod:`sweeps.space_access`, :mod:`sweeps.store_access`), into
``SpaceError`` and ``StorageError`` here, as requests wraps urllib3's errors in its own.

Below the root: bad input (``ConfigError``, ``DatasetError``, ``StorageError``, ``SpaceError``),
which the CLI prints as one line with exit code 2; ``FatalSweepError``, a fault that dooms every
trial and stops the sweep, and ``TaskFailedError``, a model command's process that failed, both
exit code 1. ``TrialFailedError`` dooms one trial, which is recorded as failed while the sweep
goes on: it never reaches a caller, so it stands outside the root (the split KerasTuner makes
between ``FailedTrialError`` and its ``Fatal*`` family).
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DatasetError",
    "FatalSweepError",
    "SpaceError",
    "StorageError",
    "SweepsError",
    "TaskFailedError",
    "TrialFailedError",
]


class SweepsError(Exception):
    """The root of what sweeps raises to its caller: the message is one line; for bad input
    (the subclasses other than FatalSweepError and TaskFailedError) it names the value and how
    to fix it."""


class ConfigError(SweepsError):
    """A sweep setting is out of range or unknown."""


class DatasetError(SweepsError):
    """A dataset name is unknown, or its files are missing, unreadable or truncated."""


class StorageError(SweepsError):
    """A storage URL is malformed or unreachable, a study does not exist, or the store's
    tables are at a schema this sweeps cannot use (written by a newer one, say)."""


class SpaceError(SweepsError):
    """A space reference cannot be resolved, the space module breaks the space contract, or
    its first model cannot be built on the dataset (raised from ``search_spaces.SpaceError``
    where sweeps calls into that package, with the same message)."""


class FatalSweepError(SweepsError):
    """Every trial would fail the same way, so the sweep stops."""


class TaskFailedError(SweepsError):
    """A worker-side task run in a child process (:func:`sweeps.spawn.run_in_child`) failed
    for a reason other than bad input (a bug, out of memory, a crash); the message is one line
    naming the task and the cause.

    ``reason`` is the cause alone; ``exit_code`` is the child's exit code when it died without
    answering (None when it answered with a failure).
    """

    def __init__(self, message: str, *, reason: str = "", exit_code: int | None = None):
        super().__init__(message)
        self.reason = reason or message
        self.exit_code = exit_code


class TrialFailedError(Exception):
    """One trial cannot go on (NaN loss, bad combination of values); the sweep continues.
    The worker records the trial as failed; a caller of sweeps never sees it (a refit's NaN
    reaches it as a TaskFailedError)."""

"""The exceptions of sweeps, kept apart by who is at fault.

``SweepsError`` and its subclasses are bad input: the CLI prints their message as one line
and exits with code 2. ``TrialFailedError`` dooms one trial, which is recorded as failed while
the sweep goes on; ``FatalSweepError`` dooms every trial and stops the sweep (the split
KerasTuner makes between ``FailedTrialError`` and its ``Fatal*`` family).
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DatasetError",
    "FatalSweepError",
    "StorageError",
    "SweepsError",
    "TrialFailedError",
]


class SweepsError(Exception):
    """Bad input: the message names the value and how to fix it."""


class ConfigError(SweepsError):
    """A sweep setting is out of range or unknown."""


class DatasetError(SweepsError):
    """A dataset name is unknown, or its files are missing, unreadable or truncated."""


class StorageError(SweepsError):
    """A storage URL is malformed or unreachable, a study does not exist, or the store's
    tables are at a schema this sweeps cannot use (written by a newer one, say)."""


class TrialFailedError(Exception):
    """One trial cannot go on (NaN loss, bad combination of values); the sweep continues."""


class FatalSweepError(Exception):
    """Every trial would fail the same way, so the sweep stops."""

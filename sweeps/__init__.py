"""sweeps: hyperparameter sweeps for TensorFlow/Keras image classifiers, on Optuna.

The library behind the ``sweeps`` CLI. Importing it does not import TensorFlow.
"""

from __future__ import annotations

from sweeps.config import PRUNERS, SAMPLERS, SweepConfig
from sweeps.errors import (
    ConfigError,
    DatasetError,
    FatalSweepError,
    StorageError,
    SweepsError,
    TrialFailedError,
)

__all__ = [
    "PRUNERS",
    "SAMPLERS",
    "ConfigError",
    "DatasetError",
    "FatalSweepError",
    "StorageError",
    "SweepConfig",
    "SweepsError",
    "TrialFailedError",
]

__version__ = "0.1.0"

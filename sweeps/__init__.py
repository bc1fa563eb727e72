"""sweeps: hyperparameter sweeps for TensorFlow/Keras image classifiers, on Optuna.

The library behind the ``sweeps`` CLI::

    import sweeps
    study = sweeps.run(space="leaky_cnn", dataset="digits", trials=12, epochs=8)
    study                  # its progress and best trials (an HTML table in Jupyter)
    study.best(5)          # DataFrame: rank, trial, val and test metrics, params; the baseline
    study.show(3)          # one trial as `sweeps show` prints it: result, params, curve
    sweeps.resume(study.name, storage="sweeps.db")
    sweeps.studies("sweeps.db")

Importing it does not import TensorFlow: only the worker processes do.
"""

from __future__ import annotations

from storage.models import TrialStatus
from sweeps.api import DEFAULT_STORAGE, join, load_study, resume, run, studies
from sweeps.config import PRUNERS, SAMPLERS, SweepConfig, SweepSpec, SweepState
from sweeps.errors import (
    ConfigError,
    DatasetError,
    FatalSweepError,
    StorageError,
    SweepsError,
    TrialFailedError,
)
from sweeps.results import Study, StudyStatus
from sweeps.study_views import TrialView

__all__ = [
    "DEFAULT_STORAGE",
    "PRUNERS",
    "SAMPLERS",
    "ConfigError",
    "DatasetError",
    "FatalSweepError",
    "StorageError",
    "Study",
    "StudyStatus",
    "SweepConfig",
    "SweepSpec",
    "SweepState",
    "SweepsError",
    "TrialFailedError",
    "TrialStatus",
    "TrialView",
    "join",
    "load_study",
    "resume",
    "run",
    "studies",
]

__version__ = "0.1.0"

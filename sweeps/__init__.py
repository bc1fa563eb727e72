"""sweeps: hyperparameter sweeps for TensorFlow/Keras image classifiers, on Optuna.

The library behind the ``sweeps`` CLI::

    import sweeps
    study = sweeps.run(space="leaky_cnn", dataset="digits", trials=12, epochs=8)
    study                  # its progress and best trials (an HTML table in Jupyter)
    study.best(5)          # DataFrame: rank, trial, val and test metrics, params; the baseline
    study.show(3)          # one trial as `sweeps show` prints it: result, params, curve
    sweeps.resume(study.name, storage="sweeps.db")
    sweeps.studies("sweeps.db")

Importing it does not import TensorFlow: only the worker processes do. The names below are
loaded on first use (PEP 562), so importing the package, or one module of it, pays for no more
than that module: ``sweeps --help``, an answer to bad input and every child process that
:mod:`sweeps.spawn` starts come up without SQLAlchemy and the store's models (``sweeps
--help`` in about 0.4 s rather than 1 s).
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from storage.tables import TrialStatus
    from sweeps.api import DEFAULT_STORAGE, join, load_study, resume, run, studies
    from sweeps.config import PRUNERS, SAMPLERS, SweepConfig, SweepSpec, SweepState
    from sweeps.errors import (
        ConfigError,
        DatasetError,
        FatalSweepError,
        SpaceError,
        StorageError,
        SweepsError,
        TrialFailedError,
    )
    from sweeps.results import Study, StudyStatus
    from sweeps.study_views import TrialView

# Each public name and the module it lives in.
_HOMES = {
    "TrialStatus": "storage.tables",
    **dict.fromkeys(
        ("DEFAULT_STORAGE", "join", "load_study", "resume", "run", "studies"), "sweeps.api"
    ),
    **dict.fromkeys(
        ("PRUNERS", "SAMPLERS", "SweepConfig", "SweepSpec", "SweepState"), "sweeps.config"
    ),
    **dict.fromkeys(
        (
            "ConfigError",
            "DatasetError",
            "FatalSweepError",
            "SpaceError",
            "StorageError",
            "SweepsError",
            "TrialFailedError",
        ),
        "sweeps.errors",
    ),
    **dict.fromkeys(("Study", "StudyStatus"), "sweeps.results"),
    "TrialView": "sweeps.study_views",
}

__all__ = [
    "DEFAULT_STORAGE",
    "PRUNERS",
    "SAMPLERS",
    "ConfigError",
    "DatasetError",
    "FatalSweepError",
    "SpaceError",
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


def __getattr__(name: str) -> Any:
    """A public name (or a submodule, as ``sweeps.results``) on first use (PEP 562)."""
    if name in _HOMES:
        value = getattr(importlib.import_module(_HOMES[name]), name)
    elif not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}"):
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})

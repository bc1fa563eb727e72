"""Keep other libraries' lines off the user's terminal: only sweeps' own lines reach it.

Importing TensorFlow prints absl and oneDNN/CUDA notices straight to file descriptor 2, before
any Python logging setting can apply, so they are silenced at the descriptor for the import
only. Optuna's log lines and warnings (a sampler falling back, a plot with too few values) are
routed off as well; the tools that ``sweeps tensorboard --run`` and ``sweeps dashboard`` start
are quieted where they start (:mod:`sweeps.viewers`). ``SWEEPS_TF_LOGS=1`` lets all of it
through (the README says so).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import sys
import warnings
from collections.abc import Iterator
from types import ModuleType

__all__ = ["SHOW_ENV", "import_quietly", "import_tensorflow_quietly", "quiet_optuna", "verbose"]

SHOW_ENV = "SWEEPS_TF_LOGS"


def verbose() -> bool:
    """Whether the user asked for the libraries' own lines (``SWEEPS_TF_LOGS=1``)."""
    return os.environ.get(SHOW_ENV, "") not in ("", "0")


def quiet_optuna() -> None:
    """Route Optuna's log lines and warnings off the terminal, unless :func:`verbose`.

    Optuna logs to stderr through its own handler; without that handler Python's last-resort
    handler would print its warnings anyway, so a NullHandler takes its place.
    """
    import optuna

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    if verbose():
        optuna.logging.enable_default_handler()
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        return
    warnings.filterwarnings("ignore", module=r"optuna(_dashboard)?(\.|$)")
    optuna.logging.disable_default_handler()
    for name in ("optuna", "optuna_dashboard"):
        logger = logging.getLogger(name)
        if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
            logger.addHandler(logging.NullHandler())
        logger.propagate = False


@contextlib.contextmanager
def _stderr_silenced() -> Iterator[None]:
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def import_tensorflow_quietly() -> None:
    """Import TensorFlow and Keras (once per process) without their start-up noise."""
    if "tensorflow" in sys.modules and "keras" in sys.modules:
        return
    with _import_noise_silenced():
        import keras  # noqa: F401
        import tensorflow  # noqa: F401


def import_quietly(module_name: str) -> ModuleType:
    """Import ``module_name``; TensorFlow's start-up noise, if the import starts it, is kept
    off the terminal."""
    with _import_noise_silenced():
        return importlib.import_module(module_name)


def _import_noise_silenced() -> contextlib.AbstractContextManager:
    if verbose():
        return contextlib.nullcontext()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return _stderr_silenced()

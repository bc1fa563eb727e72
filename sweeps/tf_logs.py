"""Keep TensorFlow's start-up lines off the user's terminal.

Importing TensorFlow prints absl and oneDNN/CUDA notices straight to file descriptor 2, before
any Python logging setting can apply, so they are silenced at the descriptor for the import
only. ``SWEEPS_TF_LOGS=1`` lets them through (the README says so).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

__all__ = ["SHOW_ENV", "import_tensorflow_quietly"]

SHOW_ENV = "SWEEPS_TF_LOGS"


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
    if os.environ.get(SHOW_ENV):
        quiet = contextlib.nullcontext()
    else:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        quiet = _stderr_silenced()
    with quiet:
        import keras  # noqa: F401
        import tensorflow  # noqa: F401

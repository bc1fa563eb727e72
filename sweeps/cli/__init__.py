"""The ``sweeps`` command line: a thin layer over the library.

Library errors (bad input) become one line on stderr and exit code 2. Query commands import
neither TensorFlow nor the worker modules.
"""

from __future__ import annotations

import os

from sweeps.cli import (  # noqa: F401  (register the commands)
    catalog_commands,
    model_commands,
    query_commands,
    sweep_commands,
    viewer_commands,
)
from sweeps.cli.app import app

__all__ = ["app", "main"]


def main() -> None:
    """The ``sweeps`` console script."""
    # Our process needs no joblib parallelism; without its import-time semaphore probe the
    # CLI never depends on multiprocessing's resource tracker (see sweeps.dispatcher).
    os.environ.setdefault("JOBLIB_MULTIPROCESSING", "0")
    app()

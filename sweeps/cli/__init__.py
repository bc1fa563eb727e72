"""The ``sweeps`` command line: a thin layer over the library.

Library errors (bad input) become one line on stderr and exit code 2. Query commands import
neither TensorFlow nor the worker modules.
"""

from __future__ import annotations

from sweeps.cli import (  # noqa: F401  (register the commands)
    catalog_commands,
    query_commands,
    sweep_commands,
    viewer_commands,
)
from sweeps.cli.app import app

__all__ = ["app", "main"]


def main() -> None:
    app()

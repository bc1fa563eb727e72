"""The Typer app, the options every command shares, and the error boundary."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer

from search_spaces import SpaceError
from sweeps.api import DEFAULT_STORAGE
from sweeps.errors import FatalSweepError, SweepsError

__all__ = ["DEFAULT_STORAGE", "StorageOption", "StudyArgument", "app", "fail", "reports_errors"]

app = typer.Typer(
    name="sweeps",
    help="Hyperparameter sweeps for Keras image classifiers, on Optuna, with a SQL store.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

StorageOption = Annotated[
    str,
    typer.Option(
        "--storage",
        "-s",
        envvar="SWEEPS_STORAGE",
        help="SQLite file or SQLAlchemy URL (postgresql://user@host/db).",
    ),
]
StudyArgument = Annotated[str, typer.Argument(help="Study name (see `sweeps studies`).")]

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str) -> typer.Exit:
    """Print one error line and return the exit to raise (code 2)."""
    typer.echo(f"Error: {message}", err=True)
    return typer.Exit(2)


def reports_errors(function: F) -> F:
    """Turn the library's errors into one line: bad input exits 2, a fatal stop exits 1."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except (SweepsError, SpaceError) as exc:
            raise fail(str(exc)) from None
        except FatalSweepError as exc:  # the sweep ran and stopped: not bad input, exit 1
            typer.echo(f"Error: {exc}", err=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            typer.echo("Interrupted.", err=True)
            sys.exit(130)

    return wrapper  # type: ignore[return-value]

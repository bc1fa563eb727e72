"""The Typer app, the options every command shares, and the error boundary."""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable
from typing import Annotated, Any, Optional, TypeVar

import typer
from rich.markup import escape
from typer.core import TyperCommand, TyperGroup

from sweeps.api import DEFAULT_STORAGE
from sweeps.errors import FatalSweepError, SweepsError
from sweeps.phrasing import command_line

try:  # typer vendors click from 0.2x on; older releases use click itself
    from typer._click import exceptions as click_errors
except ImportError:  # pragma: no cover
    from click import exceptions as click_errors

__all__ = [
    "DEFAULT_STORAGE",
    "LegacyStudyArgument",
    "StorageOption",
    "StudyArgument",
    "StudyOption",
    "app",
    "chosen_study",
    "fail",
    "reports_errors",
]


def _help_as_written(text: str | None) -> str | None:
    """A docstring as Typer's rich help should show it. That renderer keeps the line breaks
    inside a paragraph (a sentence broken at column 100 in the source shows broken in the
    terminal) and reads square brackets as markup (``pip install 'sweeps[dashboard]'`` would
    lose ``[dashboard]``): paragraphs are joined into one line each, brackets escaped."""
    if not text:
        return text
    paragraphs = inspect.cleandoc(text).split("\n\n")
    return escape("\n\n".join(" ".join(p.split("\n")) for p in paragraphs))


def _no_bool_metavar(param: Any) -> None:
    """A flag takes no value: Typer would show ``<bool>`` beside ``--run`` or ``--help``."""
    if getattr(param, "is_flag", False) and param.metavar is None:
        param.metavar = ""


class HelpAsWritten(TyperCommand):
    """A command whose ``--help`` shows its text as written (:func:`_help_as_written`), its
    flags without a value type, and no deprecated spelling (a hidden argument) in its usage."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.help = _help_as_written(self.help)
        for param in self.params:
            param.help = _help_as_written(getattr(param, "help", None))
            _no_bool_metavar(param)

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)
        if option is not None:
            _no_bool_metavar(option)
        return option

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if not getattr(param, "hidden", False):
                pieces.extend(param.get_usage_pieces(ctx))
        return pieces


class OneLineErrors(TyperGroup):
    """The CLI library's own parse errors (an unknown option, a non-integer where an integer
    is due) as one ``Error:`` line and exit code 2, like the library's errors, instead of a
    boxed usage message."""

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)
        if option is not None:
            _no_bool_metavar(option)
        return option

    def main(self, args: Any = None, prog_name: Any = None, complete_var: Any = None,
             standalone_mode: bool = True, **extra: Any) -> Any:  # fmt: skip
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click_errors.NoArgsIsHelpError as exc:
            typer.echo(exc.ctx.get_help() if exc.ctx else "Try `sweeps --help`.")
            sys.exit(0)
        except click_errors.ClickException as exc:
            where = exc.ctx.command_path if getattr(exc, "ctx", None) else "sweeps"
            message = " ".join(exc.format_message().split())
            typer.echo(f"Error: {message} (see `{where} --help`)", err=True)
            sys.exit(exc.exit_code)
        except typer.Abort:
            typer.echo("Aborted.", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


class SweepsApp(typer.Typer):
    """Every command is a :class:`HelpAsWritten` unless it asks for another class."""

    def command(self, *args: Any, cls: Any = None, **kwargs: Any) -> Any:
        return super().command(*args, cls=cls or HelpAsWritten, **kwargs)


app = SweepsApp(
    name="sweeps",
    cls=OneLineErrors,
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
# One grammar for every command: the study is the --study option (default: the newest), a
# positional argument is what the command acts on (a trial). The commands that used to take
# the study as a positional still accept it for one release, with a note (chosen_study).
StudyOption = Annotated[
    Optional[str],
    typer.Option("--study", "-S", help="Study name (default: the newest; see `sweeps studies`)."),
]
LegacyStudyArgument = Annotated[
    Optional[str],
    typer.Argument(metavar="STUDY", hidden=True, help="Deprecated: use --study."),
]

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str) -> typer.Exit:
    """Print one error line and return the exit to raise (code 2)."""
    typer.echo(f"Error: {message}", err=True)
    return typer.Exit(2)


def reports_errors(function: F) -> F:
    """Turn the library's errors into one line: bad input exits 2, a fatal stop exits 1.

    The command runs under :func:`sweeps.phrasing.command_line`, so what the library raises or
    prints names flags and command lines (``--top``, `sweeps resume --study S`), not the
    Python keywords and calls it names for a Python caller.
    """

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _notes.clear()
        try:
            with command_line():
                result = function(*args, **kwargs)
        except typer.Exit as done:
            if done.exit_code == 0:
                _print_notes()
            raise
        except FatalSweepError as exc:  # the sweep ran and stopped: not bad input, exit 1
            typer.echo(f"Error: {exc}", err=True)
            raise typer.Exit(1) from None
        except SweepsError as exc:  # the one root: bad input, SpaceError and the store's too
            raise fail(str(exc)) from None
        except KeyboardInterrupt:
            typer.echo("Interrupted.", err=True)
            sys.exit(130)
        _print_notes()
        return result

    return wrapper  # type: ignore[return-value]


# Notes for the user (a deprecated spelling) wait until the command succeeded, so that bad
# input still gets exactly one line.
_notes: list[str] = []


def note_after_success(text: str) -> None:
    """Print ``text`` on stderr once the running command has succeeded."""
    _notes.append(text)


def _print_notes() -> None:
    for text in _notes:
        typer.echo(text, err=True)
    _notes.clear()


def chosen_study(positional: str | None, option: str | None, command: str) -> str | None:
    """The study a command names, from ``--study`` or the deprecated positional STUDY.

    The positional spelling prints a deprecation note on stderr once the command succeeded;
    giving both with different names is an error (exit 2).
    """
    if positional is None:
        return option
    if option is not None and option != positional:
        raise fail(
            f"`sweeps {command}` got two studies, {positional!r} and --study {option!r}; "
            "give only --study."
        )
    note_after_success(
        f"Note: `sweeps {command} STUDY` is deprecated and goes away in the next release; "
        f"write `sweeps {command} --study {positional}`."
    )
    return positional

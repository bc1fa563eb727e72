"""Messages in the words of whoever reads them: command-line flags, or Python keywords.

One message often serves both sides: ``study.ensemble(k=9)`` and ``sweeps ensemble --top 9``
raise the same error from the same check. A CLI user must read ``--top`` and a command line
to paste (`sweeps resume --study S --trials N`); a Python caller must read ``k`` and a call
(``sweeps.resume('S', trials=N)``). So the check names the setting and the next step through
these helpers, and the caller decides the words: the CLI's error boundary runs every command
under :func:`command_line`; anywhere else the library speaks Python.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import shlex
from collections.abc import Iterator

__all__ = [
    "Placeholder",
    "command_line",
    "either",
    "next_step",
    "on_command_line",
    "option",
    "python_call",
    "setting",
    "sweeps_command",
]

_ON_COMMAND_LINE = contextvars.ContextVar("sweeps_on_command_line", default=False)
_DEFAULT_STORAGE = "sweeps.db"  # sweeps.api.DEFAULT_STORAGE, which imports this module


@contextlib.contextmanager
def command_line() -> Iterator[None]:
    """Phrase every message raised or printed inside for a command-line reader."""
    token = _ON_COMMAND_LINE.set(True)
    try:
        yield
    finally:
        _ON_COMMAND_LINE.reset(token)


def on_command_line() -> bool:
    """Whether the running message is read on the command line (else from Python)."""
    return _ON_COMMAND_LINE.get()


def either(cli: str, python: str) -> str:
    """``cli`` for a command-line reader, ``python`` for a Python caller."""
    return cli if on_command_line() else python


class Placeholder(str):
    """A value the reader fills in (``N``, ``DIR``): written bare on both sides."""


def option(flag: str, keyword: str | None = None) -> str:
    """A setting's name: ``--keep-models`` on the command line, ``keep_models`` in Python;
    ``keyword`` where the Python name differs (``--top`` is ``k`` of ``study.ensemble``)."""
    return either(flag, keyword or flag.removeprefix("--").replace("-", "_"))


def setting(flag: str, value: object, keyword: str | None = None) -> str:
    """A setting with its value as the reader would type it: ``--out 'a b.keras'`` /
    ``out='a b.keras'``, ``--trials N`` / ``trials=N`` (a :class:`Placeholder`)."""
    if on_command_line():
        text = value if isinstance(value, Placeholder) else shlex.quote(str(value))
        return f"{flag} {text}"
    text = value if isinstance(value, Placeholder) else repr(value)
    return f"{option(flag, keyword)}={text}"


def _is_default_store(url: str, default: str) -> bool:
    from sweeps.errors import StorageError
    from sweeps.store_access import normalized_url  # here: store_access phrases its errors

    try:
        return normalized_url(default) == url
    except StorageError:
        return False


def sweeps_command(
    words: str, study: str | None = None, storage: str | None = None, options: str = ""
) -> str:
    """A `sweeps` command line to paste: ``words`` (the command and its arguments), ``--study``
    with a quoted name, ``--storage`` only where the default (``$SWEEPS_STORAGE`` or
    ``sweeps.db`` here) is another store, then ``options``. ``storage`` is a normalised URL
    with its password masked."""
    line = f"sweeps {words}"
    if study is not None:
        line += f" --study {shlex.quote(study)}"
    default = os.environ.get("SWEEPS_STORAGE") or _DEFAULT_STORAGE
    if storage is not None and not _is_default_store(storage, default):
        line += f" --storage {shlex.quote(storage)}"
    return f"{line} {options}" if options else line


def python_call(
    function: str, *args: object, storage: str | None = None, **keywords: object
) -> str:
    """A Python call to paste: ``sweeps.resume('S', trials=N)``; ``storage=`` only where the
    default ``sweeps.db`` is another store; :class:`Placeholder` values written bare."""

    def text(value: object) -> str:
        return value if isinstance(value, Placeholder) else repr(value)

    parts = [text(a) for a in args]
    if storage is not None and not _is_default_store(storage, _DEFAULT_STORAGE):
        parts.append(f"storage={storage!r}")
    parts += [f"{name}={text(value)}" for name, value in keywords.items()]
    return f"{function}({', '.join(parts)})"


def next_step(cli: str, python: str) -> str:
    """What to run next, in backticks: the command line or the Python call."""
    return f"`{either(cli, python)}`"

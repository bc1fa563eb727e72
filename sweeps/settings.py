"""How one user setting is declared (:func:`declare`) and checked (:class:`Setting`).

The declarations themselves are the fields of :class:`sweeps.config.SweepSpec`; from them come
the ``sweeps run`` options, the sweep-file keys and the :func:`sweeps.run` keywords.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sweeps.errors import ConfigError
from sweeps.phrasing import option

__all__ = ["Setting", "declare"]


@dataclass(frozen=True)
class Setting:
    """One user setting as :func:`declare` declared it: how users give it, what it must be.

    :func:`declared` fills in ``name``, ``hint`` (the field's type) and ``default``.
    """

    help: str  # the `sweeps run --help` text
    cli: bool = True  # a `sweeps run` option, spelt --name-with-dashes (--x/--no-x for a flag)
    file: bool | str = True  # a sweep-file key: under its name, or under this one
    keyword: bool = True  # a sweeps.run keyword
    at_least: int | None = None  # an integer's inclusive range
    at_most: int | None = None
    between: tuple[float, float] | None = None  # a number's exclusive range
    choices: tuple[str, ...] = ()
    check: Callable[[Any, str], None] | None = None  # raises ConfigError naming the setting
    # The command line gives the value as text that this reads (inside the CLI's error
    # boundary, so a bad value is the library's one line); the option's type is then str.
    from_text: Callable[[str | None], Any] | None = None
    described: str | None = None  # what a sweep file's value must be, when not by its type
    name: str = ""
    hint: Any = None
    default: Any = None

    @property
    def file_key(self) -> str | None:
        """Its key in a sweep file; None when a file does not take it."""
        if isinstance(self.file, str):
            return self.file
        return self.name if self.file else None

    @property
    def flag(self) -> str:
        return f"--{self.name.replace('_', '-')}"

    @property
    def optional(self) -> bool:
        """None is a value of it (the default's meaning: sweeps chooses)."""
        return type(None) in typing.get_args(self.hint)

    @property
    def kind(self) -> Any:
        """Its type less None: ``int`` for ``int | None``."""
        args = [a for a in typing.get_args(self.hint) if a is not type(None)]
        if isinstance(self.hint, types.UnionType) or typing.get_origin(self.hint) is typing.Union:
            return args[0]
        return self.hint

    def check_value(self, value: Any, name: str | None = None) -> None:
        """Raise ConfigError when ``value`` is outside what the setting takes; the message
        names it ``name`` (a sweep file's key), else as the reader writes it (``--trials`` on
        the command line, ``trials`` from Python)."""
        if value is None and self.optional:
            return
        called = name or option(self.flag)
        if self.at_least is not None:
            low, high = self.at_least, self.at_most
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                wanted = "a positive integer" if low == 1 else f"an integer of {low} or more"
                raise ConfigError(f"{called} must be {wanted} (at most {high}), but got {value!r}.")
        if self.between is not None:
            low, high = self.between
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not low < value < high
            ):
                raise ConfigError(
                    f"{called} must be between {low:g} and {high:g}, but got {value!r}."
                )
        if self.choices and value not in self.choices:
            raise ConfigError(
                f"{called} must be one of {', '.join(self.choices)}, but got {value!r}."
            )
        if self.check is not None:
            self.check(value, called)


def declare(
    default: Any = dataclasses.MISSING,
    *,
    help: str,
    default_factory: Any = dataclasses.MISSING,
    **how: Any,
) -> Any:
    """A :class:`SweepSpec` field and its :class:`Setting`; ``how`` is the rest of the
    setting (``at_least``/``at_most``, ``choices``, ``cli=False``, ``file="key"``, ...)."""
    setting = Setting(help=help, **how)
    return field(default=default, default_factory=default_factory, metadata={"setting": setting})

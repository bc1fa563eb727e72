"""Reach the search spaces from sweeps: every load, resolution and check of a space reference,
and every build of a trial's model, goes through here.

``search_spaces`` imports nothing from sweeps, so it raises its own ``search_spaces.SpaceError``;
these wrappers raise it again as :class:`sweeps.errors.SpaceError`, under sweeps' one root and
with the same message (the lower error kept as its cause), as :mod:`sweeps.store_access` does
for the store's errors. Importing this module imports no space and no Keras.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from search_spaces import pretrained, registry
from sweeps.errors import SpaceError

if TYPE_CHECKING:
    from search_spaces import InputSpec, SearchSpace

__all__ = ["build_model", "check_reference", "load_space", "resolve_weights", "resolved_reference"]


@contextlib.contextmanager
def space_errors() -> Iterator[None]:
    """Raise the space layer's SpaceError as sweeps' own, with the same message."""
    try:
        yield
    except registry.SpaceError as err:
        raise SpaceError(str(err)) from err


def load_space(reference: str) -> SearchSpace:
    """The space a reference names (see :func:`search_spaces.load_space`).

    Raises:
        SpaceError: the reference cannot be resolved or imported, or the module breaks the
            space contract.
    """
    with space_errors():
        return registry.load_space(reference)


def check_reference(reference: str) -> None:
    """Raise the SpaceError :func:`load_space` would raise before importing anything (a missing
    file, an unknown bare name)."""
    with space_errors():
        registry.check_reference(reference)


def resolved_reference(reference: str) -> str:
    """``reference`` with a file path made absolute, as a study saves it."""
    with space_errors():
        return registry.resolved_reference(reference)


def resolve_weights(weights: str | None, space: str, filename: str, url: str) -> str | None:
    """A pretrained backbone's weights: None or a file path (see
    :func:`search_spaces.pretrained.resolve_weights`); SpaceError when they cannot be used."""
    with space_errors():
        return pretrained.resolve_weights(weights, space, filename, url)


def build_model(space: SearchSpace, hp: Any, spec: InputSpec) -> Any:
    """``space.build(hp, spec)``: the space's own model for one trial (a keras.Model). A
    pretrained space resolves its weights in ``build``, so what it refuses there is a
    SpaceError too."""
    with space_errors():
        return space.build(hp, spec)

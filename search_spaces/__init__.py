"""Tunable versions of the seed notebooks' architectures.

A space is a module with ``INFO``, ``BASELINE`` and ``build(hp, spec)``; see
:mod:`search_spaces.base`. Spaces import Keras only inside ``build``.
"""

from __future__ import annotations

from search_spaces.base import InputSpec, SearchSpace, SpaceInfo
from search_spaces.registry import (
    BUILTIN_SPACES,
    ENTRY_POINT_GROUP,
    SpaceError,
    check_baseline,
    load_space,
    space_names,
)

__all__ = [
    "BUILTIN_SPACES",
    "ENTRY_POINT_GROUP",
    "InputSpec",
    "SearchSpace",
    "SpaceError",
    "SpaceInfo",
    "check_baseline",
    "load_space",
    "space_names",
]

"""A test space that cannot build: every trial fails the same way."""

from __future__ import annotations

from search_spaces import SpaceInfo

INFO = SpaceInfo(name="always_fails", notebook="test", title="fails", published="-")
BASELINE: dict = {}


def build(hp, spec):
    hp.Float("x", 0.0, 1.0)
    raise ValueError("this space never builds")

"""Find search spaces: built-in names, dotted paths, file paths, and installed entry points."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from search_spaces.base import SearchSpace, SpaceInfo
from search_spaces.preprocessing import NORMALIZATIONS
from search_spaces.tunables import AUGMENTATIONS

__all__ = [
    "BUILTIN_SPACES",
    "ENTRY_POINT_GROUP",
    "NORMALIZATIONS",
    "SpaceError",
    "check_baseline",
    "check_reference",
    "load_space",
    "resolved_reference",
    "space_names",
]

# Name -> module; imported only when a space is used, so listing names stays cheap.
BUILTIN_SPACES: dict[str, str] = {
    "all_cnn": "search_spaces.all_cnn",
    "three_layer_convnet": "search_spaces.three_layer_convnet",
    "leaky_cnn": "search_spaces.leaky_cnn",
    "mnist_cnn": "search_spaces.mnist_cnn",
    "mlp": "search_spaces.mlp",
    "small_cnn": "search_spaces.small_cnn",
    "shallow_vgg": "search_spaces.shallow_vgg",
    "resnet": "search_spaces.resnet",
    "xception": "search_spaces.xception",
    "inception_resnet_v2": "search_spaces.inception_resnet_v2",
}

ENTRY_POINT_GROUP = "sweeps.search_spaces"


class SpaceError(ValueError):
    """A space reference cannot be resolved, or the module breaks the space contract.

    The space layer's own error (this package imports nothing from sweeps): sweeps translates
    it at its boundary (:mod:`sweeps.space_access`) into ``sweeps.errors.SpaceError``."""


def _entry_points() -> dict[str, Any]:
    return {ep.name: ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}


def space_names() -> list[str]:
    """Built-in and entry-point space names, without importing any space module."""
    return sorted({*BUILTIN_SPACES, *_entry_points()})


def load_space(reference: str) -> SearchSpace:
    """Load a space by registry name, ``package.module[:attr]``, or ``path/to/file.py[:attr]``."""
    module = _import(reference)
    return _validate(module, reference)


def _import(reference: str) -> Any:
    if reference in BUILTIN_SPACES:
        return importlib.import_module(BUILTIN_SPACES[reference])
    entry_points = _entry_points()
    if reference in entry_points:
        try:
            return entry_points[reference].load()
        except (Exception, SystemExit) as exc:
            raise SpaceError(f"space {reference!r} fails to import: {_why(exc)}") from None
    target, _, attr = reference.partition(":")
    if target.endswith(".py") or "/" in target:
        module = _import_file(Path(target), reference)
    elif "." in target:
        try:
            module = importlib.import_module(target)
        except ImportError as exc:
            raise SpaceError(
                f"space {reference!r} cannot be imported ({exc}); check the module path "
                "or install the package that provides it."
            ) from exc
        except (Exception, SystemExit) as exc:
            raise SpaceError(f"space module {target!r} fails to import: {_why(exc)}") from None
    else:
        raise SpaceError(
            f"unknown space {reference!r}; choose one of {', '.join(space_names())}, "
            "or give a module path such as mypkg.spaces:wide_resnet or ./my_space.py."
        )
    if attr:
        if not hasattr(module, attr):
            raise SpaceError(f"space {reference!r}: module {target!r} has no attribute {attr!r}.")
        module = getattr(module, attr)
    return module


def _why(exc: BaseException) -> str:
    """What went wrong in a space's import, on one line."""
    if isinstance(exc, SystemExit):  # sys.exit() or exit() at import would end the caller
        return (
            f"it calls sys.exit({exc.code!r}) when imported; move that call under "
            '`if __name__ == "__main__":`'
        )
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}".strip()


def check_reference(reference: str) -> None:
    """Raise the SpaceError :func:`load_space` would raise before importing anything: a path
    that is missing or not a file, a bare name that is no known space. Imports nothing."""
    if not isinstance(reference, str):
        raise SpaceError(f"a space reference must be a string, but got {reference!r}.")
    if reference in BUILTIN_SPACES or reference in _entry_points():
        return
    target, _, _ = reference.partition(":")
    if target.endswith(".py") or "/" in target:
        _check_file(Path(target))
    elif "." not in target:
        _import(reference)  # raises "unknown space", importing nothing


def resolved_reference(reference: str) -> str:
    """``reference`` with a file path made absolute (``my_space.py`` ->
    ``/home/me/my_space.py``): a study saves it, and a relative path would name another file
    to a ``sweeps resume`` or a worker started elsewhere. Other references are returned as
    they are."""
    if reference in BUILTIN_SPACES:
        return reference
    target, sep, attr = reference.partition(":")
    if not (target.endswith(".py") or "/" in target):
        return reference
    return f"{Path(target).expanduser().resolve()}{sep}{attr}"


def _check_file(path: Path) -> None:
    if path.is_dir():
        raise SpaceError(
            f"space file {str(path)!r} is a folder; give a .py file (path/to/space.py) or a "
            "module path (mypkg.spaces:wide_resnet)."
        )
    if not path.exists():
        raise SpaceError(f"space file {str(path)!r} does not exist; give an existing .py file.")
    if not path.is_file():
        raise SpaceError(f"space file {str(path)!r} is not a regular file; give a .py file.")


def _import_file(path: Path, reference: str) -> Any:
    _check_file(path)
    name = f"sweeps_user_space_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise SpaceError(f"space {reference!r} is not a loadable Python file.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # so the space's own pickling and dataclasses can find it
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:
        del sys.modules[name]
        raise SpaceError(f"space file {str(path)!r} fails to import: {_why(exc)}") from None
    return module


def _validate(module: Any, reference: str) -> SearchSpace:
    missing = [attr for attr in ("INFO", "BASELINE", "build") if not hasattr(module, attr)]
    if missing:
        raise SpaceError(
            f"space {reference!r} is missing {', '.join(missing)}: a space defines INFO "
            "(search_spaces.SpaceInfo), BASELINE (dict) and build(hp, spec)."
        )
    if not isinstance(module.INFO, SpaceInfo):
        raise SpaceError(f"space {reference!r}: INFO must be a search_spaces.SpaceInfo.")
    if not isinstance(module.BASELINE, dict):
        raise SpaceError(f"space {reference!r}: BASELINE must be a dict of hyperparameter values.")
    if not callable(module.build):
        raise SpaceError(f"space {reference!r}: build must be a function build(hp, spec).")
    try:
        inspect.signature(module.build).bind(None, None)
    except TypeError:
        raise SpaceError(
            f"space {reference!r}: build must take two arguments, build(hp, spec), but its "
            f"signature is {inspect.signature(module.build)}."
        ) from None
    except ValueError:  # builtins and some callables have no signature; let them be
        pass
    _validate_info(module.INFO, reference)
    bad_keys = [key for key in module.BASELINE if not isinstance(key, str)]
    if bad_keys:
        raise SpaceError(
            f"space {reference!r}: BASELINE keys must be hyperparameter names (str), "
            f"but got {bad_keys!r}."
        )
    return SearchSpace(
        info=module.INFO,
        baseline=dict(module.BASELINE),
        build=module.build,
        module=module,
        reference=reference,
    )


def _validate_info(info: SpaceInfo, reference: str) -> None:
    """The cheap checks of a space's metadata, each naming the field and the fix."""
    if not isinstance(info.name, str) or not info.name:
        raise SpaceError(
            f"space {reference!r}: INFO.name must be a non-empty str, but got {info.name!r}."
        )
    size = info.min_input
    if not (
        isinstance(size, tuple)
        and len(size) == 2
        and all(isinstance(v, int) and v > 0 for v in size)
    ):
        raise SpaceError(
            f"space {reference!r}: INFO.min_input must be (height, width) in "
            f"positive ints, but got {size!r}."
        )
    channels = info.channels
    if not (
        isinstance(channels, tuple)
        and channels
        and all(isinstance(c, int) and c > 0 for c in channels)
    ):
        raise SpaceError(
            f"space {reference!r}: INFO.channels must be a non-empty tuple of "
            f"positive ints such as (1, 3), but got {channels!r}."
        )
    if info.normalization not in NORMALIZATIONS:
        raise SpaceError(
            f"space {reference!r}: INFO.normalization must be one of "
            f"{', '.join(NORMALIZATIONS)}, but got {info.normalization!r}."
        )
    unknown = [a for a in info.augmentations if a not in AUGMENTATIONS]
    if unknown:
        raise SpaceError(
            f"space {reference!r}: INFO.augmentations may hold only "
            f"{', '.join(AUGMENTATIONS)}, but got {', '.join(map(repr, unknown))}."
        )


def check_baseline(space: SearchSpace, hp: Any) -> None:
    """Raise SpaceError unless ``hp``, after a build with no values set, holds the BASELINE.

    Call it with the ``keras_tuner.HyperParameters`` that ``tunables.ask_training`` and the
    space's ``build`` have just asked (a build is the only way to learn what a space asks, so
    :func:`load_space` cannot check this cheaply itself).
    """
    never = [k for k in space.baseline if k not in hp.values or not hp.is_active(k)]
    if never:
        raise SpaceError(
            f"space {space.reference!r}: BASELINE names {', '.join(map(repr, never))}, which "
            "build never asks (or asks only under other choices); remove them or ask for them."
        )
    differ = {k: hp.values[k] for k, v in space.baseline.items() if hp.values[k] != v}
    if differ:
        raise SpaceError(
            f"space {space.reference!r}: build's defaults {differ!r} differ from BASELINE; "
            "pass the BASELINE value as each question's default."
        )

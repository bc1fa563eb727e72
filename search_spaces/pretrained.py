"""Where a pretrained backbone's weights come from: random init, Keras' ImageNet cache, or a file.

Spaces built on ``keras.applications`` pass :attr:`InputSpec.weights` through
:func:`resolve_weights` before building. It never downloads: ImageNet weights must already be
in the Keras cache (``$KERAS_HOME/models``, by default ``~/.keras/models``), where a machine
with network access puts them on first use, or be given as a file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from search_spaces.registry import SpaceError

__all__ = ["WEIGHT_SUFFIXES", "head", "keras_cache_dirs", "resolve_weights"]

WEIGHT_SUFFIXES = (".h5", ".hdf5", ".keras")  # what keras.Model.load_weights reads


def keras_cache_dirs() -> list[Path]:
    """Where ``keras.utils.get_file`` keeps models: the Keras home, then its /tmp fallback."""
    home = Path(os.environ.get("KERAS_HOME") or Path("~/.keras").expanduser())
    dirs = [home / "models"]
    fallback = Path("/tmp/.keras/models")  # Keras' choice when the home is not writable
    if fallback not in dirs:
        dirs.append(fallback)
    return dirs


def resolve_weights(weights: str | None, space: str, filename: str, url: str) -> str | None:
    """The ``weights=`` argument for a ``keras.applications`` backbone: None or a file path.

    ``filename`` is the no-top weights file Keras caches for this backbone, ``url`` where Keras
    downloads it from. A found cache file is passed as a path, so Keras never tries a download
    (it would, on a hash mismatch).
    """
    if weights is None:
        return None
    if weights == "imagenet":
        for folder in keras_cache_dirs():
            if (folder / filename).is_file():
                return str(folder / filename)
        raise SpaceError(
            f"{space}: ImageNet weights are not in the Keras cache and sweeps does not download "
            f"them; place {filename} (from {url}) in {keras_cache_dirs()[0]}/, "
            "or pass --weights FILE."
        )
    path = Path(weights).expanduser()
    if path.is_dir():
        raise SpaceError(
            f"{space}: --weights {weights!r} is a folder; pass the weights file itself "
            f"({', '.join(WEIGHT_SUFFIXES)}), or --weights imagenet for Keras' cached "
            "ImageNet weights."
        )
    if path.exists() and not path.is_file():
        raise SpaceError(
            f"{space}: --weights {weights!r} is not a regular file; pass a weights file "
            f"({', '.join(WEIGHT_SUFFIXES)})."
        )
    if not path.is_file():
        raise SpaceError(
            f"{space}: weights file {weights!r} does not exist; pass an existing weights file "
            "with --weights FILE, or --weights imagenet for Keras' cached ImageNet weights."
        )
    if not path.name.endswith(WEIGHT_SUFFIXES):
        raise SpaceError(
            f"{space}: weights file {weights!r} must end in {', '.join(WEIGHT_SUFFIXES)} "
            "(what keras.Model.load_weights reads)."
        )
    try:
        looks_right = _looks_like(path)
    except OSError as exc:
        raise SpaceError(
            f"{space}: weights file {weights!r} cannot be read ({exc.strerror or exc}); "
            "make it readable or pass another file."
        ) from None
    if not looks_right:
        raise SpaceError(
            f"{space}: weights file {weights!r} is not a valid "
            f"{'Keras archive' if path.suffix == '.keras' else 'HDF5 file'} (truncated or "
            "another format); download or save it again."
        )
    return str(path)


_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _looks_like(path: Path) -> bool:
    """A cheap format check: a .keras file is a zip archive, an .h5 file starts with HDF5's
    signature (h5py would tell more, but a corrupt file is the common case, and this needs no
    import)."""
    import zipfile

    if path.suffix == ".keras":
        return zipfile.is_zipfile(path)
    with path.open("rb") as handle:
        return handle.read(len(_HDF5_SIGNATURE)) == _HDF5_SIGNATURE


def head(hp: Any, features: Any, baseline: dict[str, Any], num_classes: int) -> Any:
    """Notebook 004's head on a pooled backbone: dense + ReLU, optional BN, dropout, logits."""
    from keras import layers

    from search_spaces import tunables

    units = hp.Choice("dense_units", [128, 256, 512], default=baseline["dense_units"])
    use_bn = tunables.batch_norm(hp, baseline["batch_norm"])
    rate = tunables.dropout(hp, "dropout", baseline["dropout"])
    x = layers.Dense(units, activation="relu")(features)
    if use_bn:
        x = layers.BatchNormalization()(x)
    x = layers.Dropout(rate)(x)
    return layers.Dense(num_classes)(x)  # logits

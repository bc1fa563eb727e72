"""Where a study's checkpoints live on disk.

Each study owns one folder under the artifacts root, named from the study (sanitised, never a
raw path) plus a random suffix, chosen when the study is created and saved in its config. Two
stores that share a root and both hold a study ``good`` therefore never share checkpoints, and
no study name can point outside the root.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from sqlalchemy.engine import make_url

from sweeps.errors import ConfigError

__all__ = [
    "TENSORBOARD_FOLDER",
    "check_root",
    "default_artifacts",
    "new_study_folder",
    "study_path",
    "trial_folder",
]

# TensorBoard's runs live beside the trials' checkpoint folders, not inside them: the keep
# policy deletes checkpoints of trials that cannot make the top K, but every trial stays in
# TensorBoard's HParams table.
TENSORBOARD_FOLDER = "tensorboard"

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_SLUG_LENGTH = 48


def default_artifacts(url: str) -> str:
    """Checkpoints live beside the SQLite file; for a server, in ./sweeps-artifacts."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        return str(Path(parsed.database).expanduser().resolve().parent / "sweeps-artifacts")
    return str(Path("sweeps-artifacts").resolve())


def check_root(root: str) -> str:
    """The artifacts root as an absolute path; raises ConfigError when it cannot hold folders."""
    path = Path(root).expanduser().resolve()
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise ConfigError(
            f"--artifacts {root!r} is not a folder ({str(existing)!r} is a file); "
            "give a folder path."
        )
    if existing is not None and not _writable(existing):
        raise ConfigError(
            f"--artifacts {root!r} cannot be written ({str(existing)!r} is "
            "read-only); give a folder you can write."
        )
    return str(path)


def _writable(folder: Path) -> bool:
    import os

    return os.access(folder, os.W_OK | os.X_OK)


def new_study_folder(study_name: str) -> str:
    """A fresh folder name for a study: its sanitised name and a unique suffix."""
    slug = _UNSAFE.sub("-", study_name).strip(".-")[:_SLUG_LENGTH] or "study"
    return f"{slug}-{uuid.uuid4().hex[:8]}"


def study_path(root: str, study_folder: str) -> Path:
    return Path(root).expanduser().resolve() / study_folder


def trial_folder(root: str, study_folder: str, lineage: int, *, tensorboard: bool = False) -> Path:
    """One folder per retry lineage: a retry continues from its first trial's checkpoints (and
    its TensorBoard run, under TENSORBOARD_FOLDER with ``tensorboard``)."""
    base = study_path(root, study_folder)
    return (base / TENSORBOARD_FOLDER if tensorboard else base) / f"trial-{lineage:05d}"

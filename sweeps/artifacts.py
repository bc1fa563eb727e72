"""Where a study's checkpoints live on disk.

Each study owns one folder under the artifacts root, named from the study (sanitised, never a
raw path) plus a random suffix, chosen when the study is created and saved in its config. Two
stores that share a root and both hold a study ``good`` therefore never share checkpoints, and
no study name can point outside the root.

The config records the root as an absolute path, and each trial its checkpoint folder. A store
copied or moved together with its artifacts (to another folder, or from the GPU machine to a
laptop) finds them again: :func:`locate_root` looks for the study's folder where it was
recorded, then beside the store where it is now, and an explicit ``--artifacts`` overrides
both; :func:`checkpoint_folder` moves a trial's recorded folder onto the root found.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import make_url

from sweeps.errors import ConfigError
from sweeps.phrasing import option

if TYPE_CHECKING:
    from sweeps.config import SweepConfig

__all__ = [
    "TENSORBOARD_FOLDER",
    "ArtifactsRoot",
    "check_root",
    "checkpoint_folder",
    "default_artifacts",
    "locate_root",
    "resume_root",
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
            f"{option('--artifacts')} {root!r} is not a folder ({str(existing)!r} is a file); "
            "give a folder path."
        )
    if existing is not None and not _writable(existing):
        raise ConfigError(
            f"{option('--artifacts')} {root!r} cannot be written ({str(existing)!r} is "
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


@dataclass(frozen=True)
class ArtifactsRoot:
    """Where a study's checkpoints are now, and where its config recorded them."""

    path: Path  # the root that holds (or will hold) the study's folder
    study_folder: str
    recorded: Path | None  # the root the config recorded

    @property
    def study(self) -> Path:
        """The study's own folder under the root."""
        return self.path / self.study_folder

    @property
    def found(self) -> bool:
        """Whether the study's folder exists under the root."""
        return self.study.is_dir()


def _store_folder(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        return Path(parsed.database).expanduser().resolve().parent
    return None


def _moved_candidates(recorded: Path, url: str) -> list[Path]:
    """Where a root may be now if it moved together with the store: the recorded root's last
    one, two, ... folder names under the store's folder and each folder above it (a root
    beside the store, the default, is the store's folder / its name)."""
    anchor = _store_folder(url) or Path.cwd()
    tails = [Path(*recorded.parts[-n:]) for n in range(1, len(recorded.parts))]
    return [folder / tail for folder in (anchor, *anchor.parents) for tail in tails]


def locate_root(
    recorded: str | None, study_folder: str, url: str, override: str | Path | None = None
) -> ArtifactsRoot:
    """The artifacts root that holds ``study_folder`` now.

    In order: ``override`` (``--artifacts``: the root, or the study's folder itself); the
    recorded root when the study's folder is there; the same root moved with the store (see
    :func:`_moved_candidates`); else the recorded root if it still exists, or the default
    place beside the store, so that new trials of a resumed study go where the moved ones are.

    Raises:
        ConfigError: ``override`` holds no folder ``study_folder``.
    """
    before = Path(recorded).expanduser() if recorded else None
    if override is not None:
        given = Path(override).expanduser().resolve()
        if (given / study_folder).is_dir():
            return ArtifactsRoot(given, study_folder, before)
        if given.name == study_folder and given.is_dir():
            return ArtifactsRoot(given.parent, study_folder, before)
        raise ConfigError(
            f"{option('--artifacts')} {str(override)!r} holds no folder {study_folder!r} (the "
            f"study's checkpoints); give the folder that holds it (recorded: "
            f"{str(before) if before else 'none'!r})."
        )
    if before is not None and (before / study_folder).is_dir():
        return ArtifactsRoot(before, study_folder, before)
    if before is not None:
        for candidate in _moved_candidates(before, url):
            if (candidate / study_folder).is_dir():
                return ArtifactsRoot(candidate.resolve(), study_folder, before)
        if before.is_dir():
            return ArtifactsRoot(before, study_folder, before)
    store = _store_folder(url)
    if store is not None:
        name = before.name if before is not None else "sweeps-artifacts"
        return ArtifactsRoot(store / name, study_folder, before)
    return ArtifactsRoot(before or Path(default_artifacts(url)), study_folder, before)


def checkpoint_folder(recorded: str | None, root: ArtifactsRoot) -> Path | None:
    """A trial's checkpoint folder under ``root``: the recorded one when the root is where
    it was recorded, else the same folder (from the study's folder down) under the new root."""
    if not recorded:
        return None
    path = Path(recorded)
    if root.recorded is not None and root.path == root.recorded:
        return path
    parts = path.parts
    if root.study_folder in parts:
        at = len(parts) - 1 - parts[::-1].index(root.study_folder)
        return root.path.joinpath(*parts[at:])
    return root.study / path.name  # recorded under another name: keep the trial's folder


def resume_root(config: SweepConfig, url: str, override: str | Path | None = None) -> str:
    """The root a resumed or joined study's workers use: its checkpoints where they are now
    (``override``, ``--artifacts``; else moved with the store, or where recorded), so lost
    trials continue from them and new ones join them.

    Raises:
        ConfigError: ``override`` holds no folder of this study.
    """
    if not config.study_folder:  # a study made before study folders: its root as recorded
        return str(override or config.artifacts)
    return str(locate_root(config.artifacts, config.study_folder, url, override).path)

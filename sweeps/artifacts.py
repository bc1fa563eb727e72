"""Where a study's checkpoints live on disk."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import make_url

__all__ = ["default_artifacts", "study_folder", "trial_folder"]


def default_artifacts(url: str) -> str:
    """Checkpoints live beside the SQLite file; for a server, in ./sweeps-artifacts."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        return str(Path(parsed.database).expanduser().resolve().parent / "sweeps-artifacts")
    return str(Path("sweeps-artifacts").resolve())


def study_folder(artifacts: str, study_name: str) -> Path:
    return Path(artifacts).expanduser().resolve() / study_name


def trial_folder(artifacts: str, study_name: str, lineage: int) -> Path:
    """One folder per retry lineage: a retry continues from its first trial's checkpoints."""
    return study_folder(artifacts, study_name) / f"trial-{lineage:05d}"

"""A store moved together with its artifacts folder still exports, evaluates, refits and
resumes; artifacts moved apart from it are found with --artifacts; a checkpoint folder deleted
by hand is reported as such, not as the keep policy's doing.

One real sweep (2 trials of 2 epochs on digits) is run in a folder that is then moved away
and deleted, as a store and its artifacts copied from the GPU machine to a laptop.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import sweeps
from tests.conftest import REPO, invoke

# Slow: a real sweep moved, then exported, evaluated, refitted and resumed.
pytestmark = pytest.mark.slow

STUDY = "portable"


@pytest.fixture(scope="module")
def moved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of a finished sweep, moved elsewhere; the original no longer exists."""
    base = tmp_path_factory.mktemp("portability")
    original = base / "gpu-machine" / "runs"
    original.mkdir(parents=True)
    done = subprocess.run(
        [sys.executable, "-m", "sweeps", "run", "--trials", "2", "--epochs", "2"]
        + ["--pruner", "none", "--storage", str(original / "sweeps.db"), "--study", STUDY],
        cwd=original,
        env={**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    target = base / "laptop" / "copied"
    target.parent.mkdir()
    shutil.copytree(original, target)
    shutil.rmtree(base / "gpu-machine")
    return target


def _copy(moved: Path, to: Path) -> Path:
    shutil.copytree(moved, to)
    return to


def _study_folder(store: Path) -> str:
    return sweeps.load_study(STUDY, str(store)).config.study_folder


def test_model_evaluate_refit_and_resume_run_on_a_moved_store(cli, moved, tmp_path) -> None:
    place = _copy(moved, tmp_path / "again")  # moved once more: no path of the first move holds
    store = place / "sweeps.db"
    recorded = Path(sweeps.load_study(STUDY, str(store)).config.artifacts)
    assert not recorded.exists()  # the recorded root is gone with the original folder
    storage = ["--study", STUDY, "--storage", store]

    result = invoke(cli, "model", 0, *storage, "--out", tmp_path / "m.keras")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "m.json").read_text())["trial"] == 0

    result = invoke(cli, "evaluate", 1, *storage, "--out", tmp_path)
    assert result.exit_code == 0, result.output
    assert (tmp_path / f"{STUDY}-trial-1-confusion.png").is_file()

    result = invoke(cli, "refit", 0, *storage, "--out", tmp_path / "r.keras")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "r.keras").is_file()

    result = invoke(cli, "resume", *storage, "--trials", 3)
    assert result.exit_code == 0, result.output
    assert "3/3 trials finished" in result.output
    # The new trial's checkpoints went beside the moved ones, not to the recorded root.
    folder = place / "sweeps-artifacts" / _study_folder(store)
    assert (folder / "trial-00002").is_dir()
    assert not recorded.exists()
    shown = invoke(cli, "show", 2, *storage)
    assert "Model: kept" in shown.output


def test_artifacts_moved_apart_are_found_with_the_artifacts_option(cli, moved, tmp_path) -> None:
    place = _copy(moved, tmp_path / "store")
    apart = tmp_path / "disk" / "checkpoints"
    apart.parent.mkdir()
    shutil.move(place / "sweeps-artifacts", apart)
    storage = ["--study", STUDY, "--storage", place / "sweeps.db"]

    result = invoke(cli, "model", 0, *storage, "--out", tmp_path / "m.keras")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "are not here" in result.stderr and "--artifacts" in result.stderr
    assert "was not kept" not in result.stderr
    assert not (tmp_path / "m.keras").exists()

    result = invoke(cli, "model", 0, *storage, "--out", tmp_path / "m.keras", "--artifacts", apart)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "m.keras").is_file()
    # The study's own folder is accepted too.
    study = sweeps.load_study(STUDY, str(place / "sweeps.db"))
    own = apart / study.config.study_folder
    assert study.use_artifacts(own).model_kept(1)
    assert study.use_artifacts(apart).artifacts_folder == own

    # resume takes it too: a wrong folder is one line before the budget is raised; the right
    # one continues the study there.
    wrong = invoke(cli, "resume", *storage, "--trials", 3, "--artifacts", tmp_path / "disk")
    assert wrong.exit_code == 2 and wrong.stderr.startswith("Error: --artifacts")
    assert sweeps.load_study(STUDY, str(place / "sweeps.db")).config.trials == 2
    result = invoke(cli, "resume", *storage, "--trials", 3, "--artifacts", apart)
    assert result.exit_code == 0, result.output
    assert (own / "trial-00002").is_dir() and not (place / "sweeps-artifacts").exists()


def test_a_checkpoint_folder_deleted_by_hand_is_not_called_not_kept(cli, moved, tmp_path) -> None:
    place = _copy(moved, tmp_path / "store")
    store = place / "sweeps.db"
    shutil.rmtree(place / "sweeps-artifacts" / _study_folder(store) / "trial-00000")
    storage = ["--study", STUDY, "--storage", store]

    result = invoke(cli, "model", 0, *storage, "--out", tmp_path / "m.keras")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "deleted or moved by hand" in result.stderr and "trial-00000" in result.stderr
    assert "was not kept" not in result.stderr

    result = invoke(cli, "evaluate", 0, *storage, "--out", tmp_path)
    assert result.exit_code == 2 and "deleted or moved by hand" in result.stderr
    assert list(tmp_path.glob("*.png")) == []

    shown = invoke(cli, "show", 0, *storage)
    assert shown.exit_code == 0, shown.output
    assert "deleted or moved by hand" in shown.output
    assert "sweeps evaluate 0" not in shown.output  # evaluate needs the model it lacks
    kept = invoke(cli, "show", 1, *storage)
    assert "Model: kept" in kept.output and "sweeps evaluate 1" in kept.output


def test_a_root_that_moved_with_the_store_is_found_in_any_layout(tmp_path) -> None:
    """Artifacts not beside the store (a sibling folder, here) are found again after both
    moved, and nothing is invented when they did not come along."""
    from sweeps.artifacts import checkpoint_folder, locate_root

    recorded = "/gone/project/data/checkpoints"
    moved = tmp_path / "project"
    (moved / "data" / "checkpoints" / "s-1234abcd" / "trial-00003").mkdir(parents=True)
    (moved / "db").mkdir()
    url = f"sqlite:///{moved / 'db' / 'sweeps.db'}"
    root = locate_root(recorded, "s-1234abcd", url)
    assert root.found and root.path == moved / "data" / "checkpoints"
    stored = f"{recorded}/s-1234abcd/trial-00003"
    assert checkpoint_folder(stored, root) == root.study / "trial-00003"

    root = locate_root(recorded, "s-other000", url)  # not moved along: nothing found
    assert not root.found
    assert checkpoint_folder(f"{recorded}/s-other000/trial-00000", root) is not None

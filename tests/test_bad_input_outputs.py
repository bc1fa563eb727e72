"""Bad output paths of `model`, `evaluate`, `ensemble` and `refit`: one `Error:` line, exit 2,
and nothing written, checked before any TensorFlow work.

Each case is a folder or file in the way: the output (or the metadata JSON beside a .keras
file, or one of evaluate's images) is a folder, or sits in a read-only folder, or is a
read-only file. The table runs without root's file-mode override (tests/unprivileged.py), in
one child process, against a real sweep's store.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from tests.unprivileged import listing, make_read_only, needs_setpriv, run_commands

STUDY = "outputs"

# Slow: a real sweep and every output command as another user.
pytestmark = [needs_setpriv, pytest.mark.slow]


def _folder(path: Path) -> Path:
    path.mkdir()
    return path


def _read_only_folder(path: Path) -> Path:
    path.mkdir()
    make_read_only(path)
    return path


def _read_only_file(path: Path) -> Path:
    path.write_text("keep me")
    make_read_only(path)
    return path


# id -> (a setup that puts things in the way in the case's folder d and returns the command's
# arguments and any other cwd, the words its message must hold). The study and storage
# options are added to each.
Setup = Callable[[Path], tuple[list[Any], dict[str, Any]]]
CASES: dict[str, tuple[Setup, str]] = {
    "model --out is a folder": (
        lambda d: (
            ["model", 0, "--out", _folder(d / "m.keras")],
            {},
        ),
        "is a folder",
    ),
    "model --out in a read-only folder": (
        lambda d: (
            ["model", 0, "--out", _read_only_folder(d / "ro") / "m.keras"],
            {},
        ),
        "cannot be written",
    ),
    "model --out is a read-only file": (
        lambda d: (
            ["model", 0, "--out", _read_only_file(d / "m.keras")],
            {},
        ),
        "cannot be written",
    ),
    "model sidecar .json is a folder": (
        lambda d: (
            ["model", 0, "--out", _folder(d / "m.json").with_suffix(".keras")],
            {},
        ),
        "is a folder",
    ),
    "model sidecar .json is a read-only file": (
        lambda d: (
            ["model", 0, "--out", _read_only_file(d / "m.json").with_suffix(".keras")],
            {},
        ),
        "cannot be written",
    ),
    "model default out in a read-only folder": (
        lambda d: (
            ["model", 0],
            {"cwd": _read_only_folder(d / "ro")},
        ),
        "cannot be written",
    ),
    "evaluate --out is a file": (
        lambda d: (
            ["evaluate", 0, "--out", _read_only_file(d / "figures")],
            {},
        ),
        "is not a folder but a file",
    ),
    "evaluate --out does not exist": (
        lambda d: (
            ["evaluate", 0, "--out", d / "missing"],
            {},
        ),
        "is not a folder (it does not exist)",
    ),
    "evaluate --out is read-only": (
        lambda d: (
            ["evaluate", 0, "--out", _read_only_folder(d / "ro")],
            {},
        ),
        "is read-only",
    ),
    "evaluate image is a folder": (
        lambda d: (
            ["evaluate", 0, "--out", _folder(d / f"{STUDY}-trial-0-confusion.png").parent],
            {},
        ),
        "is a folder",
    ),
    "evaluate image is a read-only file": (
        lambda d: (
            [
                "evaluate",
                0,
                "--out",
                _read_only_file(d / f"{STUDY}-trial-0-predictions.png").parent,
            ],
            {},
        ),
        "cannot be written",
    ),
    "ensemble --out is a folder": (
        lambda d: (
            ["ensemble", "--top", 2, "--out", _folder(d / "e.keras")],
            {},
        ),
        "is a folder",
    ),
    "ensemble --out in a read-only folder": (
        lambda d: (
            ["ensemble", "--top", 2, "--out", _read_only_folder(d / "ro") / "e.keras"],
            {},
        ),
        "cannot be written",
    ),
    "ensemble sidecar .json is a folder": (
        lambda d: (
            ["ensemble", "--top", 2, "--out", _folder(d / "e.json").with_suffix(".keras")],
            {},
        ),
        "is a folder",
    ),
    "refit --out is a folder": (
        lambda d: (
            ["refit", 0, "--out", _folder(d / "r.keras")],
            {},
        ),
        "is a folder",
    ),
    "refit --out in a read-only folder": (
        lambda d: (
            ["refit", 0, "--out", _read_only_folder(d / "ro") / "r.keras"],
            {},
        ),
        "cannot be written",
    ),
    "refit sidecar .json is a folder": (
        lambda d: (
            ["refit", 0, "--out", _folder(d / "r.json").with_suffix(".keras")],
            {},
        ),
        "is a folder",
    ),
    "refit default out in a read-only folder": (
        lambda d: (
            ["refit", 0],
            {"cwd": _read_only_folder(d / "ro")},
        ),
        "cannot be written",
    ),
    "model --artifacts holds no such study": (
        lambda d: (
            ["model", 0, "--out", d / "m.keras", "--artifacts", _folder(d / "elsewhere")],
            {},
        ),
        "holds no folder",
    ),
}


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real sweep: 2 trials of 1 epoch on digits, every model kept."""
    folder = tmp_path_factory.mktemp("outputs")
    done = subprocess.run(
        [sys.executable, "-m", "sweeps", "run", "--trials", "2", "--epochs", "1"]
        + ["--pruner", "none", "--storage", str(folder / "sweeps.db"), "--study", STUDY],
        cwd=folder,
        env={**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return folder


@pytest.fixture(scope="module")
def outcomes(swept: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every case run once, in one child without the override; each case's folder listed
    before and after."""
    base = tmp_path_factory.mktemp("cases")
    base.chmod(0o755)
    store = swept / "sweeps.db"
    storage = ["--storage", store]
    cases, folders, before = [], {}, {}
    for number, (name, (setup, _)) in enumerate(CASES.items()):
        folder = base / f"case-{number}"
        folder.mkdir()
        argv, extra = setup(folder)
        study = ["--study", STUDY]
        cases.append({"argv": [*argv, *study, *storage], **{k: str(v) for k, v in extra.items()}})
        folders[name], before[name] = folder, listing(folder)
    store_before = (listing(swept), store.read_bytes())
    probe = base / "probe"
    probe.mkdir(mode=0o555)
    results = run_commands(cases, base, probe=probe / "x")
    by_case = {
        name: (result, before[name], listing(folders[name]))
        for name, result in zip(CASES, results, strict=True)
    }
    return {"cases": by_case, "store": (store_before, (listing(swept), store.read_bytes()))}


@pytest.mark.parametrize("name", list(CASES))
def test_a_bad_output_path_is_one_line_and_writes_nothing(outcomes, name: str) -> None:
    result, before, after = outcomes["cases"][name]
    assert result["code"] == 2 and not result["crash"], result
    assert result["stderr"].startswith("Error: ") and result["stderr"].count("\n") == 1, result
    assert CASES[name][1] in result["stderr"], result["stderr"]
    assert after == before  # nothing written or changed in the case's folder


def test_the_store_is_untouched_by_the_bad_cases(outcomes) -> None:
    (entries, content), (entries_after, content_after) = outcomes["store"]
    assert content_after == content
    # Every entry unchanged; the folder's own mtime aside: a read-only open of a WAL store
    # makes and removes its -wal and -shm files there (tests/test_read_only.py).
    assert entries_after[1:] == entries[1:] and entries[0][0] == "."

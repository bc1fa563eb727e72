"""Read-only commands leave the store's folder exactly as they found it.

A real sweep's store, copied into folders that the commands may not write (run without root's
file-mode override, see tests/unprivileged.py): every query command and every plot kind
works, and the folder's listing, sizes and mtimes do not change. In a writable folder, a store
that had no -wal and -shm files has none after each query command either.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from sweeps.plots import PLOTS
from tests.conftest import REPO
from tests.unprivileged import listing, make_read_only, needs_setpriv, run_commands

STUDY = "read-only"

# Slow: real sweeps and every query command as another user; test_cli.py reads stores in
# the quick tier.
pytestmark = [needs_setpriv, pytest.mark.slow]


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real sweep (3 trials of 1 epoch on digits) run by the real command, so that every
    connection to its store is closed: the folder holds the store and its artifacts only."""
    folder = tmp_path_factory.mktemp("swept")
    done = subprocess.run(
        [sys.executable, "-m", "sweeps", "run", "--trials", "3", "--epochs", "1"]
        + ["--pruner", "none", "--storage", str(folder / "sweeps.db"), "--study", STUDY],
        cwd=folder,
        env={**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["sweeps-artifacts", "sweeps.db"]
    return folder


# Our plots and Optuna's load the study apart: one of each where the store, not the plot, is
# what varies.
SOME_PLOTS = ("history", "importance")


def _query_commands(store: Path, out: Path, kinds: tuple[str, ...] = PLOTS) -> list[dict]:
    """Every command that only reads the store, and the plot ``kinds``."""
    storage = ["--storage", store]
    commands = [
        ["best", "--study", STUDY, *storage],
        ["show", 0, "--study", STUDY, *storage],
        ["status", "--study", STUDY, *storage],
        ["studies", *storage],
        ["export", "--study", STUDY, "--out", out, *storage],
        ["tensorboard", "--study", STUDY, *storage],
    ]
    commands += [
        ["plot", "--study", STUDY, "--kind", kind, "--out", out / f"{kind}.png", *storage]
        for kind in kinds
    ]
    return [{"argv": argv} for argv in commands]


def _copy(swept: Path, to: Path) -> Path:
    shutil.copytree(swept, to)
    return to


def _assert_all_worked(results: list[dict]) -> None:
    for result in results:
        assert result["code"] == 0 and not result["crash"], result


@pytest.mark.parametrize("case", ["folder", "folder and store", "leftover wal"])
def test_every_query_command_works_and_changes_nothing_in_a_read_only_folder(
    swept: Path, tmp_path: Path, case: str
) -> None:
    tmp_path.chmod(0o755)
    place = _copy(swept, tmp_path / "store")
    store = place / "sweeps.db"
    connection = None
    if case == "leftover wal":  # another process has them open: read beside its -wal, -shm
        connection = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
        connection.execute("SELECT count(*) FROM sqlite_master").fetchall()
        assert {"sweeps.db-wal", "sweeps.db-shm"} <= {p.name for p in place.iterdir()}
    out = tmp_path / "out"
    out.mkdir()
    make_read_only(*([store] if case == "folder and store" else []), place)
    before = listing(place)
    kinds = PLOTS if case == "folder" else SOME_PLOTS
    try:
        results = run_commands(_query_commands(store, out, kinds), tmp_path, probe=place / "probe")
        after = listing(place)
    finally:
        place.chmod(0o755)
        if connection is not None:
            connection.close()
    _assert_all_worked(results)
    assert after == before
    written = {f"{STUDY}-trials.csv", f"{STUDY}-epochs.csv"} | {f"{kind}.png" for kind in kinds}
    assert {p.name for p in out.iterdir()} == written


def test_no_wal_or_shm_appears_beside_a_store_that_had_none(swept: Path, tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    place = _copy(swept, tmp_path / "store")
    out = tmp_path / "out"
    out.mkdir()
    commands = _query_commands(place / "sweeps.db", out, SOME_PLOTS)
    results = run_commands(commands, tmp_path, watch=[place])
    _assert_all_worked(results)
    for result in results:
        names = {entry[0] for entry in result["watched"][str(place)]}
        assert not {"sweeps.db-wal", "sweeps.db-shm"} & names, result["argv"]
    # The store is unchanged as a file too (a read never checkpoints anything into it).
    assert (place / "sweeps.db").read_bytes() == (swept / "sweeps.db").read_bytes()

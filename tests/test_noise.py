"""Only sweeps' own lines reach the terminal: TensorBoard's start-up lines, the dashboard's web
server banner and request lines, and Optuna's warnings stay off it unless ``SWEEPS_TF_LOGS=1``.

Real processes, as a user starts them: ``sweeps tensorboard --run`` and ``sweeps dashboard``
serve on a free port, answer one HTTP request, and stop on SIGTERM.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

import sweeps

# Slow: real sweeps, TensorBoard and the dashboard, each in its own process.
pytestmark = pytest.mark.slow

STUDY = "noise"


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real two-trial sweep with TensorBoard logs; returns its store."""
    store = tmp_path_factory.mktemp("noise") / "sweeps.db"
    sweeps.run(
        "mnist_cnn", "digits", storage=str(store), study=STUDY, trials=2, epochs=1,
        baseline=False, lr_range_test=False, pruner="none", quiet=True,
    )  # fmt: skip
    return store


def _env(verbose: bool) -> dict[str, str]:
    """The user's environment: none of the quieting the test suite sets for itself."""
    env = {
        k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "SWEEPS_TF_LOGS")
    }
    env["PYTHONUNBUFFERED"] = "1"
    if verbose:
        env["SWEEPS_TF_LOGS"] = "1"
    return env


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class _Served:
    """A `sweeps` server process whose output lines are collected as they come."""

    def __init__(self, args: list[str], cwd: Path, verbose: bool) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sweeps", *args],
            cwd=cwd,
            env=_env(verbose),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def get(self, url: str, timeout: float = 120) -> int:
        """GET ``url`` once the server answers (it may still be starting)."""
        deadline = time.monotonic() + timeout
        while True:
            assert self.process.poll() is None, "\n".join(self.lines)
            try:
                with urllib.request.urlopen(url, timeout=10) as response:
                    return response.status
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def stop(self) -> list[str]:
        """SIGTERM, as `kill` sends it; the lines it printed, all of them."""
        time.sleep(2)  # lines printed after the first answer have time to arrive
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        finally:
            if self.process.poll() is None:
                os.killpg(self.process.pid, signal.SIGKILL)
        self._reader.join(timeout=10)
        return self.lines


def _port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.mark.parametrize("verbose", [False, True], ids=["quiet", "SWEEPS_TF_LOGS=1"])
def test_tensorboard_run_prints_only_its_own_lines(swept, tmp_path, verbose) -> None:
    port = _free_port()
    served = _Served(
        ["tensorboard", "--study", STUDY, "--storage", str(swept), "--run", "--port", str(port)],
        tmp_path,
        verbose,
    )
    try:
        assert served.get(f"http://127.0.0.1:{port}/") == 200
    finally:
        lines = served.stop()
    ours = [
        f"TensorBoard for {STUDY}: http://127.0.0.1:{port}/  (Ctrl-C stops it)",
        "TensorBoard stopped.",
    ]
    assert served.process.returncode == 0, lines
    if verbose:  # TensorBoard's own lines come through, its banner among them
        assert lines[0] == ours[0] and lines[-1] == ours[1], lines
        assert any(f"TensorBoard {v}" in line for line in lines for v in "123"), lines
        assert len(lines) > 2
    else:
        assert lines == ours
    deadline = time.monotonic() + 10
    while not _port_is_free(port):  # TensorBoard stopped with it, not orphaned
        assert time.monotonic() < deadline, f"TensorBoard still serves on {port}"
        time.sleep(0.5)


@pytest.mark.parametrize("verbose", [False, True], ids=["quiet", "SWEEPS_TF_LOGS=1"])
def test_dashboard_prints_no_banner_and_no_request_lines(swept, tmp_path, verbose) -> None:
    pytest.importorskip("optuna_dashboard", reason="needs pip install 'sweeps[dashboard]'")
    port = _free_port()
    served = _Served(
        ["dashboard", "--study", STUDY, "--storage", str(swept), "--port", str(port)],
        tmp_path,
        verbose,
    )
    try:
        deadline = time.monotonic() + 120
        while not served.lines:
            assert served.process.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        url = served.lines[0].split(": ", 1)[1].split()[0]
        assert served.get(url) == 200
    finally:
        lines = served.stop()
    assert served.process.returncode == 0, lines
    ready = f"optuna-dashboard for {STUDY}: {url}  (Ctrl-C stops it)"
    if verbose:  # the server's line per request comes through
        assert lines[0] == ready and lines[-1] == "Dashboard stopped.", lines
        assert any('"GET /dashboard/studies/' in line for line in lines), lines
    else:
        assert lines == [ready, "Dashboard stopped."]


def _one_number_that_kept_one_value(store: Path) -> str:
    trials = sweeps.load_study(STUDY, str(store)).trials()
    same = [
        c[3:]
        for c in trials.columns
        if c.startswith("hp_")
        and trials[c].dtype.kind in "if"  # a number: its axis is a range, here of width 0
        and trials[c].notna().all()
        and trials[c].nunique() == 1
    ]
    assert same, trials
    return same[0]


@pytest.mark.parametrize("verbose", [False, True], ids=["quiet", "SWEEPS_TF_LOGS=1"])
def test_a_plot_prints_only_where_it_wrote(swept, tmp_path, verbose) -> None:
    """A slice over a parameter that kept one value makes matplotlib warn about its axis."""
    out = tmp_path / "slice.png"
    done = subprocess.run(
        [sys.executable, "-m", "sweeps", "plot", "--study", STUDY, "--storage", str(swept),
         "--kind", "slice", "--params", _one_number_that_kept_one_value(swept), "--out", str(out)],
        env=_env(verbose), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"Wrote {out}\n"
    if verbose:
        assert "Warning" in done.stderr, done.stderr
    else:
        assert done.stderr == ""


# Optuna's own log lines, in a process set up as the CLI's and every worker's are (they import
# sweeps.optuna_study): a contour of one parameter is a warning Optuna logs itself.
OPTUNA_WARNS = """
import optuna
import sweeps.optuna_study
from optuna.visualization import matplotlib as vis

study = optuna.create_study()
study.optimize(lambda t: t.suggest_float("x", 0, 1) + t.suggest_float("y", 0, 1), n_trials=3)
vis.plot_contour(study, params=["x"])
optuna.logging.get_logger("optuna.samplers").warning("a sampler fell back")
print("done")
"""


@pytest.mark.parametrize("verbose", [False, True], ids=["quiet", "SWEEPS_TF_LOGS=1"])
def test_optunas_warnings_are_routed_off_the_terminal(tmp_path, verbose) -> None:
    done = subprocess.run(
        [sys.executable, "-c", OPTUNA_WARNS],
        cwd=tmp_path,
        env=_env(verbose),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0 and done.stdout == "done\n", done.stderr
    if verbose:
        assert "The length of params must be greater than 1" in done.stderr
        assert "a sampler fell back" in done.stderr
    else:
        assert done.stderr == ""

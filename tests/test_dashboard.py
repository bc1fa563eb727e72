"""`sweeps dashboard` in a real headless browser: optuna-dashboard over a real sweep's store
shows the named metric and each trial's test accuracy; Ctrl-C stops it cleanly."""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import sys

import pytest

import sweeps
from tests.conftest import invoke, sweeps_process

# Each test here runs or reads a real sweep: the full tier only.
pytestmark = pytest.mark.slow

STUDY = "dash"
CHROMIUM = "/usr/bin/chromium"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('dash') / 'sweeps.db'}"
    sweeps.run("mlp", storage=url, study=STUDY, trials=2, epochs=2, pruner="none", quiet=True)
    return url


def test_the_dashboard_shows_trials_the_metric_and_test_accuracy(swept, tmp_path) -> None:
    missing = [
        what
        for what, present in (
            ("optuna-dashboard (pip install 'sweeps[dashboard]')", _has("optuna_dashboard")),
            ("playwright (pip install playwright)", _has("playwright")),
            (f"Chromium at {CHROMIUM} (apt-get install chromium)", os.path.exists(CHROMIUM)),
        )
        if not present
    ]
    if missing:
        pytest.skip(f"the browser test needs {', '.join(missing)}")
    from playwright.sync_api import sync_playwright

    port = _free_port()
    server = sweeps_process(
        "dashboard", "--study", STUDY, "--storage", swept, "--port", port, cwd=tmp_path
    )
    try:
        first = server.stdout.readline()
        assert f"optuna-dashboard for {STUDY}: http://127.0.0.1:{port}/dashboard/studies/" in (
            first
        ), first
        url = first.split(": ", 1)[1].split()[0]
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
            )
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url)
            # The study page: the objective is named, not "Objective 0".
            page.get_by_text("Best Trial (number=").wait_for(timeout=60_000)
            study_page = page.inner_text("body")
            assert "val_accuracy" in study_page and "Objective 0" not in study_page
            page.screenshot(path=str(tmp_path / "study.png"), full_page=True)
            # The trial list: every trial, each with its test accuracy as a user attribute.
            page.goto(f"{url}/trials")
            page.get_by_text("User Attributes").first.wait_for(timeout=60_000)
            listing = page.inner_text("body")
            assert "2 Trials" in listing and "Trial 0" in listing and "Trial 1" in listing
            assert "test_accuracy" in listing and "baseline True" in listing
            page.screenshot(path=str(tmp_path / "trials.png"), full_page=True)
            browser.close()
    finally:
        server.send_signal(signal.SIGINT)
        output, _ = server.communicate(timeout=30)
    assert server.returncode == 0, output
    assert "Dashboard stopped." in output and "Traceback" not in output
    with socket.socket() as again:  # nothing listens any more: the server really stopped
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("127.0.0.1", port))


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def test_without_the_extra_it_names_the_extra(cli, swept, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "optuna_dashboard", None)  # as if not installed
    result = invoke(cli, "dashboard", "--study", STUDY, "--storage", swept)
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: sweeps dashboard needs optuna-dashboard: pip install 'sweeps[dashboard]'.\n"
    )


def test_a_taken_port_is_one_line(cli, swept) -> None:
    if not _has("optuna_dashboard"):
        pytest.skip("needs optuna-dashboard (pip install 'sweeps[dashboard]')")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = invoke(cli, "dashboard", "--study", STUDY, "--storage", swept, "--port", port)
    assert result.exit_code == 2 and f"port {port} on 127.0.0.1 is in use" in result.stderr


def test_unknown_study_is_one_line_before_any_server(cli, swept) -> None:
    result = invoke(cli, "dashboard", "--study", "ghost", "--storage", swept)
    assert result.exit_code == 2 and "study 'ghost' does not exist" in result.stderr

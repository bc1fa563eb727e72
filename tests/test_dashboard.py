"""`sweeps dashboard` in a real headless browser: optuna-dashboard over a real sweep's store
shows the named metric, and its study note ranks every trial with its val and test accuracy
in view; Ctrl-C stops it cleanly."""

from __future__ import annotations

import signal
import socket
import sqlite3
import sys

import pytest

import sweeps
from tests.browser import chromium_page, free_port, has, in_window, require_browser
from tests.conftest import invoke, sweeps_process

# Each test here runs or reads a real sweep: the full tier only.
pytestmark = pytest.mark.slow

STUDY = "dash"
NEEDS = {"optuna-dashboard (pip install 'sweeps[dashboard]')": has("optuna_dashboard")}


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('dash') / 'sweeps.db'}"
    sweeps.run("mlp", storage=url, study=STUDY, trials=2, epochs=2, pruner="none", quiet=True)
    return url


def _table_rows(page) -> list[dict]:
    """The rows of the tables on the page: their cells' text and the row's box."""
    return page.locator("table tr").evaluate_all(
        """rows => rows.map(r => {
            const box = r.getBoundingClientRect();
            return {cells: [...r.cells].map(c => c.innerText.trim()),
                    x: box.x, y: box.y, width: box.width, height: box.height};
        })"""
    )


def test_the_dashboard_shows_every_trials_val_and_test_accuracy(swept, tmp_path) -> None:
    require_browser(NEEDS)
    import optuna
    from optuna_dashboard import get_note

    from sweeps.dashboard_note import HEADING

    trials = sweeps.load_study(STUDY, storage=swept).trials()
    port = free_port()
    server = sweeps_process(
        "dashboard", "--study", STUDY, "--storage", swept, "--port", port, cwd=tmp_path
    )
    try:
        first = server.stdout.readline()
        assert f"optuna-dashboard for {STUDY}: http://127.0.0.1:{port}/dashboard/studies/" in (
            first
        ), first
        url = first.split(": ", 1)[1].split()[0]
        assert url.endswith("/note"), url  # the page printed opens on the ranking
        # The ranking is in the study's note before the URL is printed.
        note = get_note(optuna.load_study(study_name=STUDY, storage=swept))
        assert note.startswith(HEADING), note
        with chromium_page(1400, 1000) as page:
            page.goto(url.removesuffix("/note"))  # the study page
            # The study page: the objective is named, not "Objective 0".
            page.get_by_text("Best Trial (number=").wait_for(timeout=60_000)
            study_page = page.inner_text("body")
            assert "val_accuracy" in study_page and "Objective 0" not in study_page
            page.screenshot(path=str(tmp_path / "study.png"), full_page=True)
            # The page printed: every trial ranked, its val and test accuracy in view as it opens.
            page.goto(url)
            heading = page.get_by_role("heading", name="Trials by validation accuracy")
            heading.wait_for(timeout=60_000)
            page.screenshot(path=str(tmp_path / "note.png"))
            rows = {row["cells"][1]: row for row in _table_rows(page) if len(row["cells"]) == 8}
            for trial in trials.itertuples():
                row = rows[str(trial.number)]
                assert row["cells"][2:4] == [
                    f"{trial.val_accuracy:.4f}",
                    f"{trial.test_accuracy:.4f}",
                ], row
                assert in_window(page, row), row
            # Its own trial table (Smart Selection) has test accuracy too, after the parameters.
            study_url = url.removesuffix("/note")
            page.goto(f"{study_url}/smartSelection")
            page.get_by_text("UserAttribute test_accuracy").wait_for(timeout=60_000)
            table = page.inner_text("table")
            assert all(str(value) in table for value in trials["test_accuracy"]), table
            # The trial list: each trial's test accuracy as a user attribute.
            page.goto(f"{study_url}/trials")
            page.get_by_text("User Attributes").first.wait_for(timeout=60_000)
            listing = page.inner_text("body")
            assert "2 Trials" in listing and "Trial 0" in listing and "Trial 1" in listing
            assert "test_accuracy" in listing and "baseline True" in listing
    finally:
        server.send_signal(signal.SIGINT)
        output, _ = server.communicate(timeout=30)
    assert server.returncode == 0, output
    assert "Dashboard stopped." in output and "Traceback" not in output
    with socket.socket() as again:  # nothing listens any more: the server really stopped
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("127.0.0.1", port))


def test_the_note_is_rewritten_only_when_it_is_the_ranking(swept, tmp_path) -> None:
    pytest.importorskip("optuna_dashboard", reason="needs pip install 'sweeps[dashboard]'")
    import optuna
    from optuna_dashboard import get_note, save_note

    from sweeps.dashboard_note import HEADING, NoteKeeper

    # A copy, so the notes written here stay off the shared store; SQLite's backup carries
    # what is still in the write-ahead log, which a file copy would lose.
    store = tmp_path / "copy.db"
    with sqlite3.connect(swept.removeprefix("sqlite:///")) as source:
        with sqlite3.connect(store) as copy:
            source.backup(copy)
    url = f"sqlite:///{store}"
    study = sweeps.load_study(STUDY, storage=url)
    storage = optuna.storages.RDBStorage(url)
    keeper = NoteKeeper(study, storage)
    save_note(keeper.optuna_study, "")  # as a new study has it, whatever ran on the store before
    assert keeper.refresh()  # an empty note becomes the ranking
    ranking = get_note(keeper.optuna_study)
    assert ranking.startswith(HEADING) and ranking == keeper.written
    assert not keeper.refresh()  # nothing changed: nothing written
    save_note(keeper.optuna_study, f"{HEADING}\n\nan old ranking\n")
    assert NoteKeeper(study, storage).refresh()  # ours, from an earlier session: rewritten
    assert get_note(keeper.optuna_study) == ranking
    save_note(keeper.optuna_study, "My own findings.")
    assert not NoteKeeper(study, storage).refresh()  # someone's own note: left alone
    assert get_note(keeper.optuna_study) == "My own findings."


def test_without_the_extra_it_names_the_extra(cli, swept, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "optuna_dashboard", None)  # as if not installed
    result = invoke(cli, "dashboard", "--study", STUDY, "--storage", swept)
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: sweeps dashboard needs optuna-dashboard: pip install 'sweeps[dashboard]'.\n"
    )


def test_a_taken_port_is_one_line(cli, swept) -> None:
    if not has("optuna_dashboard"):
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


def test_a_store_it_may_not_write_is_served_read_only(swept, tmp_path) -> None:
    """A store in a folder this user may not write is served read-only, with one line on what
    is missing (the ranking note), instead of a traceback from Optuna's first write."""
    pytest.importorskip("optuna_dashboard", reason="needs pip install 'sweeps[dashboard]'")
    import json
    import os
    import subprocess
    import urllib.request

    from tests.conftest import REPO
    from tests.unprivileged import DROP_OVERRIDE, listing

    folder = tmp_path / "theirs"
    folder.mkdir()
    with sqlite3.connect(swept.removeprefix("sqlite:///")) as source:
        with sqlite3.connect(folder / "sweeps.db") as copy:
            source.backup(copy)
    (folder / "sweeps.db").chmod(0o444)
    folder.chmod(0o555)
    # Root ignores file modes: the server runs without that override (tests/unprivileged.py).
    drop = DROP_OVERRIDE if os.geteuid() == 0 else []
    probe = subprocess.run([*drop, "touch", str(folder / "probe")], capture_output=True)
    assert probe.returncode != 0, "the folder is writable: this test would prove nothing"
    before = listing(folder)
    port = free_port()
    server = subprocess.Popen(
        [*drop, sys.executable, "-m", "sweeps", "dashboard", "--study", STUDY, "--storage",
         str(folder / "sweeps.db"), "--port", str(port)],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        first = server.stdout.readline()
        assert first.split(": ", 1)[1].split()[0].endswith("/dashboard/studies/1"), first
        said = server.stderr.readline()
        assert "read-only" in said and f"sweeps best --study {STUDY}" in said, said
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=30) as page:
            names = [s["study_name"] for s in json.load(page)["study_summaries"]]
        assert names == [STUDY]
    finally:
        server.send_signal(signal.SIGINT)
        output, errors = server.communicate(timeout=30)
    assert server.returncode == 0 and "Traceback" not in output + errors, output + errors
    assert listing(folder) == before  # nothing written, no -wal or -shm left behind
    folder.chmod(0o755)  # so the temporary folder can be removed by a user who is not root

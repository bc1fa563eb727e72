"""The live display: the workers' real events fed to the real rich display, read back from a
recording console; its clock is rich's own ``get_time`` hook, advanced by the test."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from rich.console import Console

from storage.tables import TrialStatus
from sweeps.progress import SweepProgress
from sweeps.protocol import EpochEnded, TrialEnded, TrialStarted
from tests.conftest import invoke
from tests.scripted_trials import add_trial


class Clock:
    """Seconds, moved by the test: what rich reads as the time."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _console() -> Console:
    return Console(record=True, width=120, file=io.StringIO(), color_system=None)


def _lines(text: str) -> dict[str, str]:
    """The display's lines by their name ("s trials", "worker 0"); the last frame's win."""
    named = (re.match(r"\s*(\S+ trials|worker \d+) ", line) for line in text.splitlines())
    return {match[1]: match.string for match in named if match}


def _frame(display: SweepProgress) -> dict[str, str]:
    """The display as the terminal shows it now."""
    console = _console()
    console.print(display.progress)
    return _lines(console.export_text())


def _epochs(display: SweepProgress, slot: int, number: int, upto: int, epochs: int = 3) -> None:
    for epoch in range(1, upto + 1):
        display.on_event(
            EpochEnded(slot, number=number, epoch=epoch, epochs=epochs, val_accuracy=0.5)
        )


def test_each_workers_clock_times_its_current_trial() -> None:
    clock = Clock()
    display = SweepProgress(_console(), "s", budget=4, epochs=3, slots=1, get_time=clock)
    display.on_event(TrialStarted(0, number=0, baseline=True))
    clock.now = 10
    _epochs(display, 0, 0, upto=3)  # the bar completes at 10 s
    clock.now = 12
    display.on_event(
        TrialEnded(0, number=0, status=TrialStatus.COMPLETE, val_accuracy=0.9, test_accuracy=0.8)
    )
    clock.now = 15  # between trials the line keeps the last trial's time and outcome
    line = _frame(display)["worker 0"]
    assert "trial 0 complete val 0.9000" in line and line.endswith("0:00:12"), line
    clock.now = 20
    display.on_event(TrialStarted(0, number=2))
    clock.now = 27
    line = _frame(display)["worker 0"]
    assert "0/3" in line and "trial 2" in line and line.endswith("0:00:07"), line
    _epochs(display, 0, 2, upto=1)
    clock.now = 33
    assert _frame(display)["worker 0"].endswith("0:00:13")


def test_the_last_frame_shows_each_workers_true_state() -> None:
    """Printed by the display itself when the sweep ends (a terminal's last frame)."""
    clock = Clock()
    console = _console()
    with SweepProgress(console, "s", budget=2, epochs=3, slots=3, get_time=clock) as display:
        display.on_event(TrialStarted(0, number=0, baseline=True))
        display.on_event(TrialStarted(1, number=1))
        clock.now = 5
        _epochs(display, 1, 1, upto=2)
        display.on_event(
            TrialEnded(1, number=1, status=TrialStatus.PRUNED, val_accuracy=0.25, test_accuracy=0.2)
        )
        clock.now = 9
        _epochs(display, 0, 0, upto=3)
        display.on_event(
            TrialEnded(
                0, number=0, status=TrialStatus.COMPLETE, val_accuracy=0.9, test_accuracy=0.8
            )
        )
        display.update_totals(2)
        clock.now = 11
        for slot in range(3):
            display.worker_exited(slot)
        clock.now = 60  # stopped clocks stay stopped
    last = _lines(console.export_text())
    assert re.search(r"2/2 +best val 0\.9000 +0:01:00$", last["s trials"]), last
    assert re.search(r"3/3 +trial 0 complete val 0\.9000 +0:00:09$", last["worker 0"]), last
    assert re.search(r"2/3 +trial 1 pruned val 0\.2500 +0:00:05$", last["worker 1"]), last
    assert re.search(r"0/3 +done \(no trial was left for it\) +0:00:11$", last["worker 2"]), last


def test_a_restarted_worker_is_timed_from_its_restart() -> None:
    clock = Clock()
    display = SweepProgress(_console(), "s", budget=4, epochs=3, slots=1, get_time=clock)
    display.on_event(TrialStarted(0, number=0))
    clock.now = 30
    display.worker_exited(0, restarting="died, exit -9")
    clock.now = 34
    assert re.search(r"0/3 +restarting \(died, exit -9\) +0:00:04$", _frame(display)["worker 0"])
    display.on_event(TrialStarted(0, number=1, retry_of=0))
    clock.now = 36
    display.worker_exited(0)  # a second Ctrl-C: killed inside its trial
    assert re.search(r"trial 1 stopped +0:00:02$", _frame(display)["worker 0"])


def test_the_display_starts_from_what_the_store_holds(tmp_path: Path) -> None:
    """A resume (or a joining machine) shows the trials finished before it and their best val:
    the dispatcher reads them from the store (no workers here: nothing else happens)."""
    from sweeps.config import SweepConfig, SweepSpec
    from sweeps.dispatcher import Dispatcher
    from sweeps.optuna_study import create_study

    config = SweepConfig(SweepSpec(trials=5, epochs=2).validate())
    handle = create_study(config, f"sqlite:///{tmp_path / 's.db'}", "seeded", None)
    scripted = [  # outcome, val, test: a diverged trial has no model
        (TrialStatus.COMPLETE, 0.85, 0.80),
        (TrialStatus.PRUNED, 0.90, 0.88),
        (TrialStatus.DIVERGED, 0.95, None),
    ]
    for status, val, test in scripted:
        add_trial(handle, status, val_accuracy=val, test_accuracy=test)
    console = _console()
    Dispatcher(handle, [], str(tmp_path), console=console).run()
    assert re.search(r"seeded trials .* 3/5 +best val 0\.9000", console.export_text())


@pytest.mark.slow
def test_resume_opens_like_run(cli, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    first = invoke(cli, "run", "--trials", 1, "--epochs", 1, "--storage", url, "--study", "r")
    assert first.exit_code == 0, first.output
    result = invoke(cli, "resume", "--study", "r", "--trials", 2, "--storage", url)
    assert result.exit_code == 0, result.output
    assert result.output.startswith(
        f"Study r in {url}: resuming, 1 of 2 trials left, 1 worker(s).\n"
    ), result.output
    vals = re.findall(r"val (\d\.\d{4}) +test", first.output + result.output)
    last = _lines(result.output)
    assert re.search(rf"2/2 +best val {max(vals)}", last["r trials"]), result.output
    assert re.search(rf"trial 1 \w+ val {vals[-1]}", last["worker 0"]), result.output


def test_a_trials_end_carries_the_studys_finished_count_and_never_moves_it_back() -> None:
    display = SweepProgress(_console(), "s", budget=5, epochs=1, slots=2, finished=1)
    display.on_event(TrialEnded(0, number=1, status=TrialStatus.COMPLETE, finished=3))
    assert re.search(r" 3/5 ", _frame(display)["s trials"])
    # A worker that read the count before another's trial ended reports it late: it is older.
    display.on_event(TrialEnded(1, number=2, status=TrialStatus.FAILED, finished=2))
    display.update_totals(2)
    assert re.search(r" 3/5 ", _frame(display)["s trials"])


def test_the_dispatcher_counts_from_its_workers_events_not_by_polling(
    tmp_path: Path, monkeypatch
) -> None:
    """A real sweep whose dispatcher would poll no more during it (the poll for workers on
    other machines is set to once an hour): the display still counts every trial, and the
    store is counted only when the display starts and once at the end."""
    from storage.transaction_log import TransactionLog
    from sweeps import dispatcher
    from sweeps.config import SweepConfig, SweepSpec
    from sweeps.devices import plan_slots
    from sweeps.optuna_study import create_study

    monkeypatch.setattr(dispatcher, "COUNT_EVERY_SECONDS", 3600.0)
    spec = SweepSpec(trials=2, epochs=1, workers=1, pruner="none", patience=0, val_fraction=0.1)
    config = SweepConfig(spec.validate())
    handle = create_study(config, f"sqlite:///{tmp_path / 's.db'}", "evented", None)
    console = _console()
    with TransactionLog() as log:
        run = dispatcher.Dispatcher(handle, plan_slots(config), str(tmp_path), console=console)
        result = run.run()
    assert result.finished == 2
    counted = [t for _, t in log.transactions if t.first.startswith("SELECT trials.state, count")]
    assert len(counted) <= 3, [t.first for t in counted]  # the display's start, the end
    text = console.export_text()
    assert re.search(r"evented trials .* 2/2 ", _lines(text)["evented trials"]), text

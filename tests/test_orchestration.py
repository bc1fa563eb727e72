"""Real worker processes: killed, interrupted, many on one SQLite file, several on PostgreSQL."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, invoke, sweeps_process
from tests.orchestration_helpers import finished, query, results, wait_for

FLAKY = str(REPO / "tests" / "spaces" / "flaky_space.py")
ALWAYS_FAILS = str(REPO / "tests" / "spaces" / "always_fails.py")


def _worker_on_epoch(url: str, epoch: int) -> tuple | None:
    rows = query(
        url,
        "SELECT pid, trial_number, epoch FROM sweeps_worker "
        "WHERE state = 'training' AND epoch >= :epoch",
        epoch=epoch,
    )
    return rows[0] if rows else None


def _slow_sweep(url: str, study: str, *, trials: int, epochs: int, cwd: Path):
    """A real `sweeps run` of all_cnn (about 0.7 s an epoch here): slow enough to hit mid-trial."""
    return sweeps_process(
        "run",
        "--space",
        "all_cnn",
        "--trials",
        trials,
        "--epochs",
        epochs,
        "--pruner",
        "none",
        "--patience",
        0,
        "--storage",
        url,
        "--study",
        study,
        cwd=cwd,
    )


def test_kill_9_of_a_worker_costs_at_most_the_epoch_in_progress(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'sweeps.db'}"
    run = _slow_sweep(url, "killed", trials=2, epochs=8, cwd=tmp_path)
    try:
        pid, number, _ = wait_for(lambda: _worker_on_epoch(url, 2), 240, "a trial at epoch 2")
        os.kill(pid, signal.SIGKILL)
        output, _ = run.communicate(timeout=300)
    finally:
        run.kill()
    assert run.returncode == 0, output
    trials = results(url)
    lost = trials[number]
    assert lost["status"] == "lost", lost
    assert "died during epoch" in lost["failure_reason"]
    done_before_kill = query(
        url, "SELECT count(*) FROM sweeps_epoch_metric WHERE trial_id = :t", t=lost["trial_id"]
    )[0][0]
    retry = next(t for t in trials.values() if t["retry_of"] == number)
    assert retry["status"] == "complete"
    assert retry["resumed_from_epoch"] >= done_before_kill >= 2
    assert retry["epochs_run"] == 8
    restored = query(
        url,
        "SELECT count(*) FROM sweeps_epoch_metric WHERE trial_id = :t AND restored",
        t=retry["trial_id"],
    )[0][0]
    assert restored == retry["resumed_from_epoch"]
    assert finished(url, "killed") == 2
    assert "will continue from their last checkpoint" in output


def test_ctrl_c_stops_gracefully_and_resume_finishes_the_budget(tmp_path: Path, cli) -> None:
    url = f"sqlite:///{tmp_path / 'sweeps.db'}"
    run = _slow_sweep(url, "interrupted", trials=3, epochs=6, cwd=tmp_path)
    try:
        _, number, _ = wait_for(lambda: _worker_on_epoch(url, 1), 240, "a trial at epoch 1")
        os.killpg(run.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole group
        output, _ = run.communicate(timeout=120)
    finally:
        run.kill()
    assert run.returncode == 130, output
    assert "sweeps resume --study interrupted" in output
    trials = results(url)
    assert trials[number]["status"] == "interrupted"
    assert finished(url, "interrupted") < 3

    result = invoke(cli, "resume", "--study", "interrupted", "--storage", url)
    assert result.exit_code == 0, result.output
    assert finished(url, "interrupted") == 3
    retry = next(t for t in results(url).values() if t["retry_of"] == number)
    assert retry["resumed_from_epoch"] >= 1 and retry["epochs_run"] == 6
    # Nothing is left running or claimed once the budget is met.
    assert query(url, "SELECT claimed, budget FROM sweeps_sweep")[0] == (3, 3)
    assert not query(url, "SELECT 1 FROM trials WHERE state = 'RUNNING'")


def test_eight_workers_on_one_sqlite_file_reach_exactly_the_budget(tmp_path: Path, cli) -> None:
    url = f"sqlite:///{tmp_path / 'sweeps.db'}"
    result = invoke(
        cli,
        "run",
        "--workers",
        8,
        "--trials",
        16,
        "--epochs",
        1,
        "--storage",
        url,
        "--study",
        "eight",
    )
    assert result.exit_code == 0, result.output
    assert "locked" not in result.output
    assert finished(url, "eight") == 16
    assert not query(url, "SELECT 1 FROM trials WHERE state IN ('RUNNING', 'WAITING')")
    busy = query(url, "SELECT count(*) FROM sweeps_worker WHERE trials_done > 0")[0][0]
    assert busy >= 2, "the trials did not spread over the workers"


def test_failed_trials_do_not_count_and_are_retried_a_bounded_number_of_times(
    tmp_path: Path, cli
) -> None:
    url = f"sqlite:///{tmp_path / 'sweeps.db'}"
    result = invoke(
        cli,
        "run",
        "--space",
        FLAKY,
        "--trials",
        6,
        "--epochs",
        1,
        "--sampler",
        "random",
        "--max-retries",
        1,
        "--storage",
        url,
        "--study",
        "flaky",
        "--max-consecutive-failures",
        50,
    )
    assert result.exit_code == 0, result.output
    assert finished(url, "flaky") == 6
    trials = results(url).values()
    failed = [t for t in trials if t["status"] == "failed"]
    assert failed, "the random sampler never chose a failing mode"
    assert all(t["failure_reason"] for t in failed)
    reasons = " ".join(t["failure_reason"] for t in failed)
    assert "bad combination" in reasons or "loss became nan" in reasons
    # Each failing parameter set runs at most 1 + max_retries times.
    chains: dict[int, int] = {}
    for t in failed:
        root = t["number"]
        while (parent := next((p for p in trials if p["number"] == root), None)) and parent[
            "retry_of"
        ] is not None:
            root = parent["retry_of"]
        chains[root] = chains.get(root, 0) + 1
    assert max(chains.values()) <= 2


def test_consecutive_failures_stop_the_sweep_with_the_reason(tmp_path: Path, cli) -> None:
    url = f"sqlite:///{tmp_path / 'sweeps.db'}"
    result = invoke(
        cli,
        "run",
        "--space",
        ALWAYS_FAILS,
        "--trials",
        5,
        "--epochs",
        1,
        "--max-consecutive-failures",
        3,
        "--storage",
        url,
        "--study",
        "doomed",
    )
    assert result.exit_code == 1, result.output
    assert "the last 3 trials failed" in result.output
    failed = [t for t in results(url).values() if t["status"] == "failed"]
    assert len(failed) == 3
    assert all("NeverTrains" in t["failure_reason"] for t in failed)  # its layer's name
    # A resume gets a fresh count: it runs trials again (here they fail again) before stopping.
    again = invoke(cli, "resume", "--study", "doomed", "--storage", url)
    assert again.exit_code == 1 and "the last 3 trials failed" in again.output
    assert sum(t["status"] == "failed" for t in results(url).values()) == 6


@pytest.mark.parametrize(
    "bound", [["--max-trials-per-worker", 1], ["--max-worker-memory-mb", 1]]
)  # any TF process is above
def test_workers_are_recycled_after_their_quota(tmp_path: Path, cli, bound) -> None:
    url = f"sqlite:///{tmp_path / 'sweeps.db'}"
    result = invoke(
        cli, "run", "--trials", 3, "--epochs", 1, *bound, "--storage", url, "--study", "recycled"
    )
    assert result.exit_code == 0, result.output
    assert finished(url, "recycled") == 3
    pids = query(url, "SELECT pid FROM sweeps_worker WHERE trials_done > 0")
    assert len({p for (p,) in pids}) == 3


def test_several_workers_on_postgresql_share_one_budget(tmp_path: Path, postgres_url, cli) -> None:
    study = "pg-shared"
    run = sweeps_process(
        "run",
        "--trials",
        6,
        "--epochs",
        2,
        "--workers",
        1,
        "--storage",
        postgres_url,
        "--study",
        study,
        cwd=tmp_path,
    )
    try:
        wait_for(
            lambda: query(
                postgres_url, "SELECT 1 FROM sweeps_sweep WHERE study_name = :s", s=study
            ),
            120,
            "the study to exist",
        )
        joined = invoke(cli, "worker", "--study", study, "--storage", postgres_url, "--workers", 1)
        output, _ = run.communicate(timeout=300)
    finally:
        run.kill()
    assert joined.exit_code == 0, joined.output
    assert run.returncode == 0, output
    assert finished(postgres_url, study) == 6
    workers = query(
        postgres_url,
        "SELECT w.pid, w.trials_done FROM sweeps_worker w JOIN "
        "sweeps_sweep s USING (study_id) WHERE s.study_name = :s",
        s=study,
    )
    assert len(workers) == 2
    assert sum(done for _, done in workers) == 6


def test_storage_passwords_are_masked_in_output(cli, tmp_path: Path) -> None:
    from storage import mask_url

    masked = mask_url("postgresql://alice:s3cret@db/sweeps")
    assert "s3cret" not in masked and "***" in masked
    result = invoke(cli, "run", "--storage", "postgresql://alice:s3cret@127.0.0.1:1/sweeps")
    assert result.exit_code == 2
    assert "alice:***@127.0.0.1" in result.stderr and "s3cret" not in result.output


def test_resume_after_everything_was_killed_reaps_and_finishes(tmp_path: Path, cli) -> None:
    """A power cut: dispatcher and workers die at once, mid-trial; resume picks it all up."""
    url = f"sqlite:///{tmp_path / 'sweeps.db'}"
    run = _slow_sweep(url, "power-cut", trials=2, epochs=5, cwd=tmp_path)
    try:
        _, number, _ = wait_for(lambda: _worker_on_epoch(url, 1), 240, "a trial at epoch 1")
        os.killpg(run.pid, signal.SIGKILL)
        run.wait(timeout=60)
    finally:
        run.kill()
    assert query(url, "SELECT state FROM trials WHERE number = :n", n=number) == [("RUNNING",)]

    result = invoke(cli, "resume", "--study", "power-cut", "--storage", url)
    assert result.exit_code == 0, result.output
    assert finished(url, "power-cut") == 2
    trials = results(url)
    assert trials[number]["status"] == "lost"
    retry = next(t for t in trials.values() if t["retry_of"] == number)
    assert retry["resumed_from_epoch"] >= 1 and retry["status"] == "complete"


def test_a_second_ctrl_c_stops_at_once_and_resume_still_finishes(tmp_path: Path, cli) -> None:
    url = f"sqlite:///{tmp_path / 'sweeps.db'}"
    run = _slow_sweep(url, "impatient", trials=2, epochs=6, cwd=tmp_path)
    try:
        _, number, _ = wait_for(lambda: _worker_on_epoch(url, 1), 240, "a trial at epoch 1")
        os.killpg(run.pid, signal.SIGINT)
        time.sleep(0.2)
        os.killpg(run.pid, signal.SIGINT)
        output, _ = run.communicate(timeout=60)
    finally:
        run.kill()
    assert run.returncode == 130, output
    assert results(url)[number]["status"] in ("interrupted", "lost")
    assert query(url, "SELECT count(*) FROM trials WHERE state = 'WAITING'")[0][0] == 1

    result = invoke(cli, "resume", "--study", "impatient", "--storage", url)
    assert result.exit_code == 0, result.output
    assert finished(url, "impatient") == 2


def test_resume_raises_the_budget_of_a_finished_study(tmp_path: Path, cli) -> None:
    url = f"sqlite:///{tmp_path / 'sweeps.db'}"
    assert (
        invoke(
            cli, "run", "--trials", 2, "--epochs", 1, "--storage", url, "--study", "grow"
        ).exit_code
        == 0
    )
    done = invoke(cli, "resume", "--study", "grow", "--storage", url)
    assert done.exit_code == 0 and "already has 2/2 finished trials" in done.stderr
    grown = invoke(cli, "resume", "--study", "grow", "--storage", url, "--trials", 3)
    assert grown.exit_code == 0, grown.output
    assert finished(url, "grow") == 3
    assert query(url, "SELECT claimed, budget FROM sweeps_sweep")[0] == (3, 3)

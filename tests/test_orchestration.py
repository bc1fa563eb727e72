"""Real worker processes: killed, interrupted, many on one SQLite file, several on PostgreSQL."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

import sweeps
from tests.conftest import REPO, invoke, sweeps_process
from tests.orchestration_helpers import (
    Output,
    Pause,
    finished,
    kill_group,
    query,
    results,
    wait_for,
)

FLAKY = str(REPO / "tests" / "spaces" / "flaky_space.py")
ALWAYS_FAILS = str(REPO / "tests" / "spaces" / "always_fails.py")


def _sweep(url: str, study: str, pause: Pause, *, trials: int, epochs: int, cwd: Path):
    """A real `sweeps run` whose first trial pauses after an epoch until the test releases it:
    every signal and kill below lands at a known point, however fast the hardware."""
    return sweeps_process(
        "run",
        "--trials",
        trials,
        "--epochs",
        epochs,
        "--workers",
        1,
        "--pruner",
        "none",
        "--patience",
        0,
        "--storage",
        url,
        "--study",
        study,
        cwd=cwd,
        env=pause.env,
    )


def test_kill_9_of_a_worker_costs_at_most_the_epoch_in_progress(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'sweeps.db'}"
    pause = Pause(tmp_path, epoch=2)
    run = _sweep(url, "killed", pause, trials=1, epochs=3, cwd=tmp_path)
    try:
        pid, number, _ = pause.wait(process=run)
        os.kill(pid, signal.SIGKILL)
        pause.release()
        output, _ = run.communicate(timeout=300)
    finally:
        kill_group(run)
    assert run.returncode == 0, output
    trials = results(url)
    lost = trials[number]
    assert lost["status"] == "lost", lost
    assert "died during epoch 3" in lost["failure_reason"], lost
    recorded = query(
        url, "SELECT count(*) FROM sweeps_epoch_metric WHERE trial_id = :t", t=lost["trial_id"]
    )
    assert recorded == [(2,)]
    retry = next(t for t in trials.values() if t["retry_of"] == number)
    assert retry["status"] == "complete"
    assert retry["resumed_from_epoch"] == 2 and retry["epochs_run"] == 3
    restored = query(
        url,
        "SELECT epoch FROM sweeps_epoch_metric WHERE trial_id = :t AND restored ORDER BY epoch",
        t=retry["trial_id"],
    )
    assert restored == [(1,), (2,)]
    assert finished(url, "killed") == 1
    assert "will continue from their last checkpoint" in output


@pytest.mark.slow  # the quick tier's killed worker is the kill -9 test below
@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_ctrl_c_or_sigterm_stops_gracefully_and_resume_finishes_the_budget(
    tmp_path: Path, cli, how: str
) -> None:
    """Ctrl-C reaches the terminal's whole process group; SIGTERM (a job scheduler's stop)
    reaches `sweeps run` alone. Both stop the paused trial at its next batch."""
    url = f"sqlite:///{tmp_path / 'sweeps.db'}"
    pause = Pause(tmp_path, epoch=1)
    run = _sweep(url, "interrupted", pause, trials=1, epochs=2, cwd=tmp_path)
    output = Output(run)
    try:
        _, number, _ = pause.wait(process=run)
        if how == "ctrl-c":
            os.killpg(run.pid, signal.SIGINT)
        else:
            os.kill(run.pid, signal.SIGTERM)
        output.wait_for("Stopping: running trials stop at the next batch")
        pause.release()  # the worker already holds its stop request
        text = output.finish(timeout=120)
    finally:
        kill_group(run)
    assert run.returncode == 130, text
    assert "sweeps resume --study interrupted" in text
    trials = results(url)
    assert trials[number]["status"] == "interrupted"
    assert trials[number]["epochs_run"] == 1
    assert finished(url, "interrupted") == 0

    result = invoke(cli, "resume", "--study", "interrupted", "--storage", url)
    assert result.exit_code == 0, result.output
    assert finished(url, "interrupted") == 1
    retry = next(t for t in results(url).values() if t["retry_of"] == number)
    assert retry["resumed_from_epoch"] == 1 and retry["epochs_run"] == 2
    # An interrupt is no failure anywhere: status, studies and the Python API count it apart.
    status = invoke(cli, "status", "--study", "interrupted", "--storage", url).output
    assert "1/1 finished" in status and "0 failed, 0 lost, 1 interrupted" in status, status
    assert sweeps.load_study("interrupted", url).status().counts.failed == 0
    listed = sweeps.studies(url).set_index("study").loc["interrupted"]
    assert (listed["failed"], listed["lost"], listed["interrupted"]) == (0, 0, 1)
    # Nothing is left running or holding a claim once the budget is met.
    assert not query(url, "SELECT 1 FROM sweeps_worker WHERE holds_claim")
    assert not query(url, "SELECT 1 FROM trials WHERE state = 'RUNNING'")


@pytest.mark.slow
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


@pytest.mark.slow
def test_failed_trials_do_not_count_and_deterministic_ones_are_not_retried(
    tmp_path: Path, cli
) -> None:
    url = f"sqlite:///{tmp_path / 'sweeps.db'}"
    result = invoke(
        cli,
        "run",
        "--space",
        FLAKY,
        "--trials",
        10,
        "--epochs",
        1,
        "--sampler",
        "random",
        # Seed 2 on one worker draws the failing mode 3 times in 10 (seed 0 never does).
        "--seed",
        2,
        "--workers",
        1,
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
    assert finished(url, "flaky") == 10
    trials = list(results(url).values())
    failed = [t for t in trials if t["status"] == "failed"]
    assert failed, "the random sampler never chose a failing mode"
    assert all("bad combination" in (t["failure_reason"] or "") for t in failed), [
        t["failure_reason"] for t in failed
    ]
    # The space's own error is deterministic: the same parameters would raise it again, so no
    # trial is retried; failures do not count, diverged trials (NaN) do.
    assert all(t["retry_of"] is None for t in trials)
    counted = [t for t in trials if t["status"] in ("complete", "pruned", "diverged")]
    assert len(counted) == 10


@pytest.mark.slow
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
    assert all("NeverTrains" in t["failure_reason"] for t in failed)
    # Optuna's own tools see why: the reason is a user attribute of each failed Optuna trial.
    import optuna

    optuna_trials = optuna.load_study(study_name="doomed", storage=url).trials
    attrs = [t.user_attrs for t in optuna_trials if t.user_attrs.get("status") == "failed"]
    assert len(attrs) == 3
    assert all("NeverTrains" in a["failure_reason"] and a["epochs_run"] == 0 for a in attrs)
    # A resume gets a fresh count: it runs trials again (here they fail again) before stopping.
    again = invoke(cli, "resume", "--study", "doomed", "--storage", url)
    assert again.exit_code == 1 and "the last 3 trials failed" in again.output
    assert sum(t["status"] == "failed" for t in results(url).values()) == 6


@pytest.mark.slow
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


@pytest.mark.slow
def test_several_workers_on_postgresql_share_one_budget(tmp_path: Path, postgres_url) -> None:
    """The first machine's trial pauses until a second machine's worker has joined and taken a
    trial of its own: both then work the one budget to exactly its end."""
    study = "pg-shared"
    pause = Pause(tmp_path, epoch=1)
    run = sweeps_process(
        "run", "--trials", 4, "--epochs", 1, "--workers", 1, "--pruner", "none",
        "--storage", postgres_url, "--study", study, cwd=tmp_path, env=pause.env,
    )  # fmt: skip
    joiner = None
    try:
        first_pid, _, _ = pause.wait(process=run)
        joiner = sweeps_process(
            "worker", "--study", study, "--storage", postgres_url, "--workers", 1, cwd=tmp_path
        )

        def joiner_training():
            if joiner.poll() is not None:
                raise AssertionError(f"the joiner exited first: {joiner.communicate()[0]}")
            return query(
                postgres_url,
                "SELECT pid FROM sweeps_worker WHERE pid != :p AND trial_number IS NOT NULL",
                p=first_pid,
            )

        wait_for(joiner_training, 300, "the joining worker to take a trial")
        pause.release()
        joined, _ = joiner.communicate(timeout=300)
        output, _ = run.communicate(timeout=300)
    finally:
        kill_group(run)
        if joiner is not None:
            kill_group(joiner)
    assert joiner.returncode == 0, joined
    assert run.returncode == 0, output
    assert finished(postgres_url, study) == 4
    workers = query(
        postgres_url,
        "SELECT w.pid, w.trials_done FROM sweeps_worker w JOIN "
        "sweeps_sweep s USING (study_id) WHERE s.study_name = :s",
        s=study,
    )
    assert len(workers) == 2
    assert all(done >= 1 for _, done in workers), workers
    assert sum(done for _, done in workers) == 4


def test_storage_passwords_are_masked_in_output(cli, tmp_path: Path) -> None:
    from storage import mask_url

    masked = mask_url("postgresql://alice:s3cret@db/sweeps")
    assert "s3cret" not in masked and "***" in masked
    result = invoke(cli, "run", "--storage", "postgresql://alice:s3cret@127.0.0.1:1/sweeps")
    assert result.exit_code == 2
    assert "alice:***@127.0.0.1" in result.stderr and "s3cret" not in result.output


@pytest.mark.slow
def test_resume_after_everything_was_killed_reaps_and_finishes(tmp_path: Path, cli) -> None:
    """A power cut: dispatcher and workers die at once, mid-trial; resume picks it all up."""
    url = f"sqlite:///{tmp_path / 'sweeps.db'}"
    pause = Pause(tmp_path, epoch=1)
    run = _sweep(url, "power-cut", pause, trials=1, epochs=2, cwd=tmp_path)
    try:
        _, number, _ = pause.wait(process=run)
        os.killpg(run.pid, signal.SIGKILL)
        run.wait(timeout=60)
    finally:
        kill_group(run)
    assert query(url, "SELECT state FROM trials WHERE number = :n", n=number) == [("RUNNING",)]

    result = invoke(cli, "resume", "--study", "power-cut", "--storage", url)
    assert result.exit_code == 0, result.output
    assert finished(url, "power-cut") == 1
    trials = results(url)
    assert trials[number]["status"] == "lost"
    retry = next(t for t in trials.values() if t["retry_of"] == number)
    assert retry["resumed_from_epoch"] == 1 and retry["status"] == "complete"


@pytest.mark.slow
def test_a_second_ctrl_c_stops_at_once_and_resume_still_finishes(tmp_path: Path, cli) -> None:
    """The worker stays paused inside its trial through both Ctrl-Cs: only the second one's
    kill can end it, so its trial is lost (not interrupted) and continues on resume."""
    url = f"sqlite:///{tmp_path / 'sweeps.db'}"
    pause = Pause(tmp_path, epoch=1)
    run = _sweep(url, "impatient", pause, trials=1, epochs=2, cwd=tmp_path)
    output = Output(run)
    try:
        _, number, _ = pause.wait(process=run)
        os.killpg(run.pid, signal.SIGINT)
        output.wait_for("Ctrl-C again to stop at once")
        os.killpg(run.pid, signal.SIGINT)
        text = output.finish(timeout=60)
    finally:
        kill_group(run)
    assert run.returncode == 130, text
    assert results(url)[number]["status"] == "lost"
    assert query(url, "SELECT count(*) FROM trials WHERE state = 'WAITING'") == [(1,)]

    result = invoke(cli, "resume", "--study", "impatient", "--storage", url)
    assert result.exit_code == 0, result.output
    assert finished(url, "impatient") == 1


@pytest.mark.slow
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
    assert query(url, "SELECT budget FROM sweeps_sweep") == [(3,)]
    assert not query(url, "SELECT 1 FROM sweeps_worker WHERE holds_claim")

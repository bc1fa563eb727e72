"""How trials end: each outcome recorded in its own word, told to Optuna, retried or not.

Real training on digits through tests/spaces/outcome_space.py, whose ``mode`` parameter makes a
trial diverge (a real NaN loss in epoch 2), fail transiently (an OSError once) or
deterministically (a ValueError in the space's own code); a test hook makes a batch size too
big for the "device" (TensorFlow's own ResourceExhaustedError).
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path

import optuna
import pytest

import sweeps
from storage import TrialStatus
from sweeps.worker.trainer import OOM_ABOVE_BATCH_ENV
from tests.conftest import REPO, invoke
from tests.scripted_trials import add_trial

# Slow: one real sweep per outcome; test_pruning.py and test_trainer.py check the rules in
# the quick tier.
pytestmark = pytest.mark.slow

OUTCOMES = str(REPO / "tests" / "spaces" / "outcome_space.py")


def _sweep(tmp_path: Path, study: str, **settings):
    return sweeps.run(
        space=OUTCOMES,
        dataset="digits",
        storage=str(tmp_path / "sweeps.db"),
        study=study,
        quiet=True,
        workers=1,
        **settings,
    )


def _optuna_trials(tmp_path: Path, study: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=study, storage=f"sqlite:///{tmp_path / 'sweeps.db'}").trials


def test_a_nan_loss_is_diverged_with_its_last_finite_epoch(tmp_path: Path) -> None:
    from search_spaces import load_space
    from sweeps.config import SweepConfig, SweepSpec, SweepState
    from sweeps.data import load_splits
    from sweeps.worker.trainer import TrialRun, train_trial

    study = optuna.create_study(direction="maximize")
    study.enqueue_trial({**load_space(OUTCOMES).baseline, "mode": "diverge"})
    seen = []
    outcome = train_trial(
        TrialRun(
            trial=study.ask(),
            config=SweepConfig(
                SweepSpec(space=OUTCOMES, epochs=4, patience=0), SweepState(fitted_ranges=False)
            ),
            space=load_space(OUTCOMES),
            splits=load_splits("digits"),
            checkpoint_dir=tmp_path,
            resume=False,
            on_epoch=seen.append,
        )
    )
    assert outcome.status == TrialStatus.DIVERGED
    assert outcome.failure_reason == "loss became nan in epoch 2"
    assert [e.epoch for e in seen] == [1] and outcome.epochs_run == 1
    # The metrics of its last finite epoch, and no test score for weights that went to NaN.
    assert outcome.val_accuracy == seen[0].val_accuracy and outcome.best_epoch == 1
    assert outcome.val_loss == seen[0].val_loss and outcome.test_accuracy is None


def test_diverged_trials_count_are_not_retried_and_rank_last(tmp_path: Path, cli) -> None:
    study = _sweep(
        tmp_path,
        "diverging",
        trials=6,
        epochs=3,
        patience=0,
        pruner="none",
        sampler="random",
        seed=3,
        # At batch 64 the space's NaN comes in epoch 2, after one finite epoch.
        overrides={"mode": {"values": ["ok", "diverge"]}, "batch_size": {"value": 64}},
    )
    trials = study.trials()
    statuses = list(trials["status"])
    assert statuses.count("diverged") >= 1 and statuses.count("complete") >= 2, statuses
    # The budget holds with diverged trials counted in it, and nothing ran twice.
    assert len(trials) == 6 and study.status().finished == 6
    assert trials["retry_of"].isna().all()
    counts = study.status().counts
    assert (counts.diverged, counts.failed, counts.lost) == (statuses.count("diverged"), 0, 0)

    # The sampler is told: PRUNED, with the epochs that were finite as its intermediate values.
    frozen = {t.number: t for t in _optuna_trials(tmp_path, "diverging")}
    for row in trials.itertuples():
        if row.status == "diverged":
            t = frozen[row.number]
            assert t.state == optuna.trial.TrialState.PRUNED
            assert list(t.intermediate_values) == [1]
            assert t.user_attrs["status"] == "diverged"
            assert t.user_attrs["failure_reason"] == "loss became nan in epoch 2"
            assert row.val_accuracy == pytest.approx(t.intermediate_values[1])

    ranked = study.best(10)
    kinds = ["diverged" if s == "diverged" else "finite" for s in ranked["status"]]
    assert kinds == sorted(kinds, key=lambda k: k == "diverged"), kinds  # diverged come last
    assert "diverged" in kinds

    url = str(tmp_path / "sweeps.db")
    status = invoke(cli, "status", "--study", "diverging", "--storage", url)
    assert f"{statuses.count('diverged')} diverged" in status.output
    assert "0 failed, 0 lost" in status.output


def test_out_of_memory_is_its_own_outcome_and_retries_at_half_the_batch(
    tmp_path: Path, monkeypatch, cli
) -> None:
    monkeypatch.setenv(OOM_ABOVE_BATCH_ENV, "32")  # the baseline's batch of 64 does not fit
    study = _sweep(tmp_path, "oom", trials=1, epochs=1)
    trials = study.trials().set_index("number")
    assert trials.loc[0, "status"] == "out_of_memory"
    assert trials.loc[0, "failure_reason"] == (
        "out of memory at batch size 64; retried at batch size 32"
    )
    assert trials.loc[1, "status"] == "complete" and trials.loc[1, "retry_of"] == 0
    frozen = {t.number: t for t in _optuna_trials(tmp_path, "oom")}
    assert frozen[1].user_attrs["sweeps:batch_size"] == 32
    assert frozen[1].params == frozen[0].params  # the same configuration, at half the batch
    # The retry really trained at 32: its epoch saw every full batch of 32.
    assert study.status().counts.out_of_memory == 1 and study.status().counts.failed == 0
    shown = invoke(cli, "show", "1", "--study", "oom", "--storage", str(tmp_path / "sweeps.db"))
    assert "batch size 32" in shown.output, shown.output


def test_a_transient_failure_is_retried_with_the_same_parameters(
    tmp_path: Path, monkeypatch
) -> None:
    # The baseline ("ok") passes the preflight; a sampled "io" trial meets the hiccup once.
    monkeypatch.setenv("OUTCOME_IO_MARKER", str(tmp_path / "hiccupped"))
    study = _sweep(
        tmp_path, "transient", trials=3, epochs=1, sampler="random", seed=1,
        overrides={"mode": {"values": ["ok", "io"]}, "batch_size": {"value": 64}},
    )  # fmt: skip
    trials = study.trials().set_index("number")
    failed = trials[trials["status"] == "failed"]
    assert len(failed) == 1, list(trials["status"])
    number = int(failed.index[0])
    assert failed.loc[number, "failure_reason"] == (
        "OSError: the disk hiccupped; retried from its checkpoint"
    )
    retry = trials[trials["retry_of"] == number]
    assert list(retry["status"]) == ["complete"]
    frozen = {t.number: t for t in _optuna_trials(tmp_path, "transient")}
    assert frozen[int(retry.index[0])].params == frozen[number].params
    assert study.status().finished == 3


def test_a_deterministic_failure_is_not_retried(tmp_path: Path) -> None:
    study = _sweep(
        tmp_path, "buggy", trials=3, epochs=1, sampler="random", seed=1,
        max_consecutive_failures=50,  # a deterministic failure fails fast: let them come
        overrides={"mode": {"values": ["ok", "bug"]}, "batch_size": {"value": 64}},
    )  # fmt: skip
    trials = study.trials()
    failed = trials[trials["status"] == "failed"]
    assert len(failed) >= 1, list(trials["status"])
    # Not retried: the same parameters would raise again.
    assert trials["retry_of"].isna().all()
    assert all(r.endswith("(not retried: the same parameters would fail again)")
               for r in failed["failure_reason"])  # fmt: skip
    assert study.status().finished == 3 and study.status().counts.failed == len(failed)


@pytest.mark.parametrize(
    ("newest_first", "stops"),
    [
        (["failed", "lost", "failed"], True),
        (["failed", "interrupted", "lost", "interrupted", "failed"], True),  # interrupts skipped
        (["failed", "diverged", "failed"], False),  # a result breaks the run
        (["failed", "out_of_memory", "lost"], False),
        (["failed", "pruned", "failed"], False),
        (["interrupted", "interrupted", "interrupted"], False),
    ],
)
def test_the_failures_in_a_row_stop_counts_only_faults(
    tmp_path: Path, newest_first: list[str], stops: bool
) -> None:
    from sweeps.config import SweepConfig, SweepSpec, SweepState
    from sweeps.optuna_study import create_study
    from sweeps.protocol import WorkerOptions
    from sweeps.worker.trial_loop import TrialLoop

    url = f"sqlite:///{tmp_path / 'sweeps.db'}"
    spec = SweepSpec(max_consecutive_failures=3, workers=1).validate()
    handle = create_study(
        SweepConfig(spec, SweepState(artifacts=str(tmp_path))), url, "faults", None
    )
    start = datetime(2026, 1, 1)
    for i, status in enumerate(reversed(newest_first)):
        add_trial(handle, status, finished_at=start + timedelta(minutes=i))
    loop = TrialLoop(
        WorkerOptions(study_name="faults", storage_url=url, artifacts=str(tmp_path)),
        should_stop=lambda: False, emit=lambda event: None, host="here", pid=os.getpid(),
    )  # fmt: skip
    assert bool(loop._fatal_reason()) == stops
    loop.close()

"""The training loop on real digits: records, checkpoints, resume mid-schedule, NaN, early stop."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from search_spaces import load_space
from sweeps.config import SweepConfig, SweepSpec, SweepState
from sweeps.worker import checkpoint
from sweeps.worker.trainer import TrialRun, train_trial

REPO = Path(__file__).resolve().parents[1]
# Every parameter fixed, so a resumed trial rebuilds exactly the same network.
MLP_PARAMS = {
    **load_space("mlp").baseline,
    "optimizer": "adam",
    "learning_rate": 0.01,
    "schedule": "exponential",
    "decay_rate": 0.5,
    "batch_size": 128,
}


@pytest.fixture(scope="module")
def splits():
    from sweeps.data import load_splits

    return load_splits("digits")


def _trial(params: dict) -> optuna.Trial:
    study = optuna.create_study(direction="maximize")
    study.enqueue_trial(params)
    return study.ask()


def _run(trial, splits, folder, *, space="mlp", epochs=2, resume=False, patience=0, **kw):
    # Generic ranges: these fixed parameters (batch 128 in a 2-epoch trial) are outside what a
    # budget this small allows.
    spec = SweepSpec(space=space, epochs=epochs, patience=patience)
    config = SweepConfig(spec, SweepState(fitted_ranges=False))
    return TrialRun(
        trial=trial,
        config=config,
        space=load_space(space),
        splits=splits,
        checkpoint_dir=folder,
        resume=resume,
        **kw,
    )


def test_a_trial_trains_records_each_epoch_and_reports_test_separately(splits, tmp_path) -> None:
    epochs = []
    outcome = train_trial(_run(_trial(MLP_PARAMS), splits, tmp_path, on_epoch=epochs.append))
    assert outcome.status == "complete"
    assert [e.epoch for e in epochs] == [1, 2]
    assert epochs[0].learning_rate == pytest.approx(0.01)
    assert epochs[1].learning_rate == pytest.approx(0.005)
    assert all(e.images_per_second > 0 and e.seconds > 0 for e in epochs)
    assert 0.5 < outcome.val_accuracy <= 1.0 and 0.5 < outcome.test_accuracy <= 1.0
    best = max(e.val_accuracy for e in epochs)
    assert outcome.val_accuracy == pytest.approx(best, abs=1e-6)  # the best epoch's weights
    assert checkpoint.load_state(tmp_path).epoch == 2


def test_an_interrupted_trial_resumes_at_its_epoch_and_schedule_position(splits, tmp_path) -> None:
    seen = []
    first = train_trial(
        _run(
            _trial(MLP_PARAMS),
            splits,
            tmp_path,
            epochs=4,
            on_epoch=seen.append,
            should_stop=lambda: len(seen) >= 2,
        )
    )
    assert first.status == "interrupted" and first.epochs_run == 2

    resumed = []
    second = train_trial(
        _run(_trial(MLP_PARAMS), splits, tmp_path, epochs=4, resume=True, on_epoch=resumed.append)
    )
    assert second.status == "complete"
    assert second.resumed_from_epoch == 2 and second.epochs_run == 4
    assert [e.epoch for e in resumed] == [3, 4]
    # Epoch 3 runs at lr * 0.5**2: the optimizer's step counter came back with the weights.
    assert resumed[0].learning_rate == pytest.approx(0.01 * 0.25)
    assert resumed[1].learning_rate == pytest.approx(0.01 * 0.125)
    # Training continued from the restored weights, not from scratch.
    assert resumed[0].loss < seen[0].loss


def test_a_nan_loss_diverges_the_trial_with_that_reason(splits, tmp_path) -> None:
    space = str(REPO / "tests" / "spaces" / "flaky_space.py")
    outcome = train_trial(_run(_trial({"mode": "nan"}), splits, tmp_path, space=space))
    assert outcome.status == "diverged"
    assert outcome.failure_reason == "loss became nan in epoch 1"
    assert outcome.val_accuracy is None  # no finite epoch to keep


def test_early_stopping_keeps_the_best_epoch(splits, tmp_path) -> None:
    space = str(REPO / "tests" / "spaces" / "flaky_space.py")
    outcome = train_trial(
        _run(_trial({"mode": "frozen"}), splits, tmp_path, space=space, epochs=5, patience=2)
    )
    assert outcome.status == "pruned" and outcome.early_stopped
    assert outcome.failure_reason.startswith("early stopping after epoch 3")
    assert outcome.epochs_run == 3 and outcome.best_epoch == 1


def test_the_baseline_is_never_early_stopped(splits, tmp_path) -> None:
    """The notebook's recipe trains as the notebook trained it: the pruners pace by its curve
    and the sweep must beat its full run, not a cut one."""
    space = str(REPO / "tests" / "spaces" / "flaky_space.py")
    outcome = train_trial(
        _run(
            _trial({"mode": "frozen"}), splits, tmp_path, space=space, epochs=5, patience=2,
            baseline=True,
        )
    )  # fmt: skip
    assert outcome.status == "complete" and not outcome.early_stopped
    assert outcome.epochs_run == 5 and outcome.best_epoch == 1

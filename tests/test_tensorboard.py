"""TensorBoard: every trial of a real sweep is a run with per-epoch scalars and an HParams
session holding its parameters and final val/test metrics, read back from the event files."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

import sweeps
from tests.conftest import invoke

# Each test here runs or reads a real sweep: the full tier only.
pytestmark = pytest.mark.slow

STUDY = "tb"


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, sweeps.Study]:
    folder = tmp_path_factory.mktemp("tb")
    url = f"sqlite:///{folder / 'sweeps.db'}"
    study = sweeps.run(
        "mnist_cnn",
        "digits",
        storage=url,
        study=STUDY,
        trials=3,
        epochs=2,
        pruner="none",
        patience=0,
        quiet=True,
    )
    return url, study


def _runs(logdir: Path):
    from tensorboard.backend.event_processing import event_multiplexer

    mux = event_multiplexer.EventMultiplexer()
    mux.AddRunsFromDirectory(str(logdir))
    mux.Reload()
    return mux


def _scalar(mux, run: str, tag: str) -> dict[int, float]:
    from tensorboard.util import tensor_util

    return {e.step: float(tensor_util.make_ndarray(e.tensor_proto)) for e in mux.Tensors(run, tag)}


def _hparams(mux, run: str) -> dict[str, object]:
    from tensorboard.plugins.hparams import metadata

    content = mux.PluginRunToTagToContent(metadata.PLUGIN_NAME)[run]
    start = metadata.parse_session_start_info_plugin_data(content[metadata.SESSION_START_INFO_TAG])
    values = {}
    for name, value in start.hparams.items():
        kind = value.WhichOneof("kind")
        values[name] = getattr(value, kind)
    return values


def test_every_trial_is_a_run_with_its_hparams_and_final_metrics(swept) -> None:
    url, study = swept
    logdir = study.artifacts_folder / "tensorboard"
    mux = _runs(logdir)
    trials = study.trials()
    epochs = study.epochs()
    assert sorted(mux.Runs()) == [f"trial-{n:05d}" for n in trials["number"]]
    for row in trials.itertuples():
        run = f"trial-{row.number:05d}"
        hparams = _hparams(mux, run)
        params = study.show(row.number).params
        assert set(hparams) == set(params)
        for name, value in params.items():
            assert hparams[name] == pytest.approx(value), name
        # Per-epoch curves, equal to the store's, at step = epoch.
        curve = epochs[epochs["trial"] == row.number]
        logged = _scalar(mux, run, "epoch/val_accuracy")
        assert logged == pytest.approx(
            dict(zip(curve["epoch"], curve["val_accuracy"], strict=True))
        )
        assert set(_scalar(mux, run, "epoch/loss")) == {1, 2}
        # The HParams table's metric columns: the best-validation weights' val and test.
        assert _scalar(mux, run, "final/val_accuracy") == {
            row.best_epoch: pytest.approx(row.val_accuracy)
        }
        assert _scalar(mux, run, "final/test_accuracy") == {
            row.best_epoch: pytest.approx(row.test_accuracy)
        }


def test_sweeps_tensorboard_prints_the_command(cli, swept) -> None:
    url, study = swept
    result = invoke(cli, "tensorboard", "--study", STUDY, "--storage", url)
    assert result.exit_code == 0, result.output
    command = shlex.split(result.stdout.strip())
    assert Path(command[0]).name == "tensorboard"
    assert command[1:] == [
        "--logdir",
        str(study.artifacts_folder / "tensorboard"),
        "--host",
        "127.0.0.1",
        "--port",
        "6006",
    ]


def test_no_tensorboard_writes_no_event_files(cli, tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    result = invoke(
        cli,
        "run",
        "--no-tensorboard",
        "--trials",
        1,
        "--epochs",
        1,
        "--storage",
        url,
        "--study",
        "quiet",
    )
    assert result.exit_code == 0, result.output
    assert not list(tmp_path.rglob("events.out.tfevents.*"))
    assert list((tmp_path / "sweeps-artifacts").glob("quiet-*/trial-00000/state.json"))
    missing = invoke(cli, "tensorboard", "--study", "quiet", "--storage", url)
    assert missing.exit_code == 2 and "--no-tensorboard" in missing.stderr
    assert missing.stderr.count("\n") == 1

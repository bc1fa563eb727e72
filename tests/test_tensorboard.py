"""TensorBoard: every trial of a real sweep is a run with per-epoch scalars and an HParams
session holding its parameters and result (best val accuracy, its test accuracy), read back
from the event files, through the HParams plugin's own backend, and in a real browser."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import numpy as np
import pytest

import sweeps
from sweeps.viewers import tensorboard_command
from tests.browser import (
    cells,
    chromium_page,
    free_port,
    in_window,
    require_browser,
    wait_until_served,
)
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


def test_every_trial_is_a_run_with_its_hparams_and_result(swept) -> None:
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
        # The trial's result, at its best epoch: the best-validation weights' val and test.
        assert _scalar(mux, run, "best_val/accuracy") == {
            row.best_epoch: pytest.approx(row.val_accuracy)
        }
        assert _scalar(mux, run, "best_val/test_accuracy") == {
            row.best_epoch: pytest.approx(row.test_accuracy)
        }
        assert _scalar(mux, run, "best_val/val_loss") == {
            row.best_epoch: pytest.approx(row.val_loss)
        }


# The metric columns the HParams dashboard ticks when it opens: its first five.
SHOWN_METRICS = 5


def test_the_hparams_dashboard_lists_the_result_first(swept) -> None:
    """What the HParams plugin's backend tells the page: best val accuracy, then its test
    accuracy, are the first metrics, so they are the first metric columns ticked."""
    from tensorboard import context
    from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
    from tensorboard.plugins import base_plugin
    from tensorboard.plugins.hparams import api_pb2, backend_context, get_experiment

    url, study = swept
    logdir = str(study.artifacts_folder / "tensorboard")
    mux = plugin_event_multiplexer.EventMultiplexer()
    mux.AddRunsFromDirectory(logdir)
    mux.Reload()
    provider = data_provider.MultiplexerDataProvider(mux, logdir)
    backend = backend_context.Context(
        base_plugin.TBContext(logdir=logdir, multiplexer=mux, data_provider=provider)
    )
    request = api_pb2.GetExperimentRequest()
    experiment = get_experiment.Handler(context.RequestContext(), backend, "", request).run()
    metrics = [info.name.tag for info in experiment.metric_infos]
    assert metrics[:SHOWN_METRICS] == [
        "best_val/accuracy",
        "best_val/test_accuracy",
        "best_val/test_loss",
        "best_val/val_loss",
        "epoch/accuracy",
    ]
    # Every parameter of every trial is a column to tick (a declared experiment would fix them).
    params = {name for n in study.trials()["number"] for name in study.show(n).params}
    assert {info.name for info in experiment.hparam_infos} == params


def _shown(value: float) -> str:
    """A metric as the HParams table prints it: the float32 logged, to 5 significant digits
    (JavaScript's toPrecision(5))."""
    return f"{float(np.float32(value)):#.5g}"


def _cell(table: list[dict], column: str, row: str) -> dict:
    """The cell of ``table`` under the header ``column``, in the row that starts with ``row``."""
    header = next((c for c in table if c["text"] == column), None)
    assert header is not None, f"the table shows no {column!r} column (it is not ticked)"
    first = next(c for c in table if c["text"] == row)
    return next(
        c
        for c in table
        if header["x"] <= c["x"] + c["width"] / 2 <= header["x"] + header["width"]
        and first["y"] <= c["y"] + c["height"] / 2 <= first["y"] + first["height"]
    )


def test_the_hparams_table_shows_each_trials_val_and_test_accuracy_at_first_sight(
    swept, tmp_path
) -> None:
    require_browser()
    url, study = swept
    port = free_port()
    server = subprocess.Popen(
        tensorboard_command(study, port=port),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_until_served(f"http://127.0.0.1:{port}/", server)
        # A desktop window: the table shows five parameter columns before the metrics.
        with chromium_page(1920, 1080) as page:
            page.goto(f"http://127.0.0.1:{port}/#hparams")
            trials = study.trials()
            for number in trials["number"]:
                page.get_by_text(f"trial-{number:05d}").wait_for(timeout=60_000)
            page.screenshot(path=str(tmp_path / "tensorboard.png"))
            table = cells(page.locator("tf-hparams-table-view vaadin-grid-cell-content"))
            for row in trials.itertuples():
                run = f"trial-{row.number:05d}"
                for column, value in (
                    ("best_val/accuracy", row.val_accuracy),
                    ("best_val/test_accuracy", row.test_accuracy),
                ):
                    cell = _cell(table, column, run)
                    assert cell["text"] == _shown(value), (run, column)
                    assert in_window(page, cell), (run, column, cell)
    finally:
        server.terminate()
        server.wait(timeout=30)


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

"""The Python API: the same sweep as the CLI, from a script or a notebook kernel."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pandas as pd
import pytest

import sweeps
from search_spaces import load_space
from tests.conftest import REPO
from tests.orchestration_helpers import Output, Pause, finished, kill_group


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> tuple[sweeps.Study, str]:
    """The README's five calls' first: a real tiny sweep on digits."""
    url = f"sqlite:///{tmp_path_factory.mktemp('api') / 'sweeps.db'}"
    study = sweeps.run(
        space="leaky_cnn",
        dataset="digits",
        trials=3,
        epochs=2,
        storage=url,
        study="api",
        pruner="none",
        quiet=True,
    )
    return study, url


def test_run_returns_the_study_and_best_ranks_it(swept) -> None:
    study, _ = swept
    assert isinstance(study, sweeps.Study) and study.name == "api"
    assert not study.interrupted and study.last_run.finished == 3
    best = study.best(5)
    assert isinstance(best, pd.DataFrame) and len(best) == 3
    assert list(best["rank"]) == [1, 2, 3]
    assert best["val_accuracy"].is_monotonic_decreasing
    assert best["test_accuracy"].between(0, 1).all()
    assert best["baseline"].sum() == 1
    assert "learning_rate" in best.iloc[0]["params"]
    assert study.config.space == "leaky_cnn" and study.config.epochs == 2
    assert study.config.val_fraction == 0.2  # resolved for digits and saved


def test_show_gives_result_params_and_curve(swept) -> None:
    study, _ = swept
    number = int(study.best(1).iloc[0]["trial"])
    detail = study.show(number)
    assert detail.result.number == number and detail.status == sweeps.TrialStatus.COMPLETE
    assert "learning_rate" in detail.params
    assert [e.epoch for e in detail.epochs] == [1, 2]
    with pytest.raises(sweeps.ConfigError, match="no recorded trial 99"):
        study.show(99)


def test_resume_and_studies(swept) -> None:
    study, url = swept
    again = sweeps.resume(study.name, storage=url, quiet=True)
    assert again.last_run is None  # the budget was met: nothing dispatched
    frame = sweeps.studies(url)
    assert list(frame["study"]) == ["api"]
    assert frame.iloc[0]["finished"] == 3 and frame.iloc[0]["budget"] == 3
    with pytest.raises(sweeps.ConfigError, match="can only raise the budget"):
        sweeps.resume(study.name, storage=url, trials=2)
    status = sweeps.load_study("api", url).status()
    assert status.done and status.counts.complete == 3 and len(status.workers) == 1


def test_status_export_and_plot_from_python(swept, tmp_path) -> None:
    study = sweeps.load_study(storage=swept[1])  # the newest
    trials_csv, epochs_csv = study.export(tmp_path)
    assert len(pd.read_csv(trials_csv)) == 3 and len(pd.read_csv(epochs_csv)) == 6
    image = study.plot("curves", tmp_path / "c.png")
    assert image.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(sweeps.ConfigError, match="^kind must be one of"):
        study.plot("pie")


def test_best_lists_the_baseline_once_wherever_it_ranks(swept) -> None:
    """(Below the top trials in test_cli, whose sweep's baseline did not win.)"""
    study, _ = swept
    every = study.best(3)
    rank = int(every.loc[every["baseline"], "rank"].iloc[0])
    top = max(1, rank - 1)
    best = study.best(top)
    assert best["baseline"].sum() == 1 and int(best.iloc[-1]["rank"]) == rank
    assert len(best) == (top + 1 if rank > top else top)
    assert len(study.best(top, baseline=False)) == top


def _python_message(call) -> str:
    with pytest.raises(sweeps.SweepsError) as caught:
        call()
    return str(caught.value)


def test_errors_from_python_speak_python(swept, tmp_path) -> None:
    """The same checks as the CLI's, in a Python caller's words: keywords and calls, no
    flags, no command lines."""
    study, url = swept
    messages = {
        "best": _python_message(lambda: study.best(0)),
        "ensemble": _python_message(lambda: study.ensemble(9)),
        "show": _python_message(lambda: study.show(99)),
        "export": _python_message(lambda: study.export(tmp_path / "missing")),
        "resume": _python_message(lambda: sweeps.resume("api", storage=url, trials=2)),
        "run": _python_message(lambda: sweeps.run(study="api", storage=url, trials=1)),
        "load": _python_message(lambda: sweeps.load_study("ghost", url)),
        "keep": _python_message(lambda: sweeps.run(keep_models="best-3", storage=url)),
    }
    for name, message in messages.items():
        assert "--" not in message and "`sweeps " not in message, (name, message)
    assert messages["best"].startswith("n must be a positive integer")
    assert messages["ensemble"].startswith("k=9 needs 9 finished trials, but study 'api' has 3")
    assert f"`sweeps.resume('api', storage='{url}', trials=N)`" in messages["ensemble"]
    assert "`study.best()` lists its trials" in messages["show"]
    assert messages["export"].startswith(f"folder {str(tmp_path / 'missing')!r} is not a folder")
    assert messages["resume"].startswith("trials can only raise the budget")
    assert f"continue it with `sweeps.resume('api', storage='{url}')`" in messages["run"]
    assert f"(`sweeps.studies('{url}')` lists them)" in messages["load"]
    assert messages["keep"].startswith("keep_models must be top-K")


def test_notes_from_python_speak_python(swept, capsys) -> None:
    study, url = swept
    sweeps.resume(study.name, storage=url)  # the budget is met: it says how to raise it
    said = capsys.readouterr().err
    assert f"`sweeps.resume('api', storage='{url}', trials=N)`" in " ".join(said.split())
    assert "--trials" not in said


def test_study_a_trial_and_a_ranking_print_readably_and_render_in_jupyter(swept) -> None:
    from typer.testing import CliRunner

    from tests.conftest import invoke

    study, url = swept
    text, page = repr(study), study._repr_html_()
    assert text.startswith("Study api in ") and "3/3 trials finished" in text
    assert "baseline (notebook 002)" in text and "object at 0x" not in text
    assert page.count("<table") == 1 and "baseline (notebook 002)" in page
    best = int(study.best(1).iloc[0]["trial"])
    trial = study.show(best)
    shown = repr(trial)
    assert "object at 0x" not in shown and "TrialDetail" not in shown
    # The same view as `sweeps show` prints: the same lines, each next step phrased for its
    # reader (`study.save_model(N)` here, `sweeps model N --study api ...` there).
    cli = invoke(CliRunner(), "show", best, "--study", "api", "--storage", url).stdout
    assert "`study.save_model(" in shown and "`sweeps model " in cli

    def unphrased(view: str) -> list[str]:
        return [re.sub(r"`[^`]*`", "`...`", line) for line in view.splitlines()]

    assert unphrased(shown) == unphrased(cli.rstrip("\n"))
    html = trial._repr_html_()
    assert html.count("<table") == 3  # result, parameters, per-epoch curve
    assert "Per-epoch curve" in html and "learning_rate" in html
    assert trial.result.number == best and list(trial.params) == list(study.show(best).params)


def test_bad_input_raises_typed_errors_and_creates_nothing(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'never.db'}"
    with pytest.raises(sweeps.SpaceError, match="unknown space 'nope'"):
        sweeps.run(space="nope", storage=url)
    with pytest.raises(sweeps.ConfigError, match="^trials must be a positive integer"):
        sweeps.run(trials=0, storage=url)
    with pytest.raises(sweeps.ConfigError, match="unknown setting 'epoch'"):
        sweeps.run(epoch=3, storage=url)
    with pytest.raises(sweeps.DatasetError):
        sweeps.run(dataset="imagenet", storage=url)
    with pytest.raises(sweeps.StorageError, match="does not exist"):
        sweeps.load_study(storage=url)
    assert not (tmp_path / "never.db").exists()


@pytest.mark.slow
def test_a_space_module_or_searchspace_object_is_accepted(tmp_path) -> None:
    import search_spaces.mlp as mlp_module
    from sweeps.api import _space_reference

    assert _space_reference(mlp_module) == "mlp"
    assert _space_reference(load_space("mlp")) == "mlp"
    user_file = REPO / "tests" / "spaces" / "flaky_space.py"
    assert _space_reference(load_space(str(user_file))) == str(user_file)
    assert _space_reference(load_space(str(user_file)).module) == str(user_file)
    notebook_space = types.ModuleType("__main__")
    with pytest.raises(sweeps.ConfigError, match="defined in __main__"):
        _space_reference(notebook_space)
    with pytest.raises(sweeps.ConfigError, match="space must be a name"):
        _space_reference(42)
    url = f"sqlite:///{tmp_path / 's.db'}"
    study = sweeps.run(mlp_module, trials=1, epochs=1, storage=url, baseline=False, quiet=True)
    assert study.config.space == "mlp" and study.last_run.finished == 1


def test_import_sweeps_and_every_query_do_not_import_tensorflow(swept, tmp_path) -> None:
    url = swept[1]
    code = textwrap.dedent(f"""
        import sys
        import sweeps
        study = sweeps.load_study("api", {url!r})
        study.best(3); study.show(0); study.status(); study.trials(); study.epochs()
        study.export({str(tmp_path)!r}); study.plot("history", {str(tmp_path / "h.png")!r})
        study.plot("importance", {str(tmp_path / "i.png")!r})
        sweeps.studies({url!r})
        loaded = {{"tensorflow", "keras", "sweeps.worker"}} & set(sys.modules)
        assert not loaded, loaded
    """)
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=120)


NOTEBOOK_SCRIPT = """
import tensorflow as tf  # a notebook kernel that trained something already
tf.constant(1.0) + 1
import sweeps
print("STARTING", flush=True)
study = sweeps.run(trials=1, epochs=2, workers=1, pruner="none", patience=0,
                   storage={url!r}, study="kernel")
print("RETURNED interrupted=%s" % study.interrupted, flush=True)
"""


@pytest.mark.slow
def test_a_kernel_that_imported_tensorflow_runs_and_interrupts_a_sweep(tmp_path) -> None:
    """No `if __name__ == "__main__"` guard, TensorFlow already imported, then SIGINT to the
    kernel process alone (as Jupyter's interrupt does) while its first trial is paused after
    epoch 1: the sweep stops gracefully and returns; resume finishes it."""
    url = f"sqlite:///{tmp_path / 'sweeps.db'}"
    script = tmp_path / "cell.py"
    script.write_text(NOTEBOOK_SCRIPT.format(url=url))
    pause = Pause(tmp_path, epoch=1)
    kernel = subprocess.Popen(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **pause.env},
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # SIGINT goes to the kernel alone; cleanup kills its workers too
    )
    output = Output(kernel)
    try:
        pause.wait(process=kernel)
        kernel.send_signal(signal.SIGINT)
        output.wait_for("Stopping: running trials stop at the next batch")
        pause.release()
        text = output.finish(timeout=120)
    finally:
        kill_group(kernel)
    assert kernel.returncode == 0, text
    assert text.count("STARTING") == 1, "a worker re-ran the caller's script"
    assert "RETURNED interrupted=True" in text, text
    assert "Traceback" not in text, text
    assert finished(url, "kernel") == 0
    study = sweeps.resume("kernel", storage=url, quiet=True)
    assert study.last_run.finished == 1 and finished(url, "kernel") == 1


@pytest.mark.slow
def test_a_fatal_stop_raises_from_python(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    always_fails = str(REPO / "tests" / "spaces" / "always_fails.py")
    with pytest.raises(sweeps.FatalSweepError, match="the last 2 trials failed"):
        sweeps.run(
            space=always_fails,
            trials=3,
            epochs=1,
            storage=url,
            baseline=False,
            max_consecutive_failures=2,
            max_retries=0,
            quiet=True,
        )


def test_cli_and_api_share_one_default_storage() -> None:
    from sweeps.cli.app import DEFAULT_STORAGE

    assert DEFAULT_STORAGE == sweeps.DEFAULT_STORAGE == "sweeps.db"
    # The package imported is this checkout's, not an installed copy.
    assert Path(sweeps.__file__).resolve().parent == REPO / "sweeps"

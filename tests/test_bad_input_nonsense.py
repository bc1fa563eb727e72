"""Input that used to give silent nonsense (an empty plot, an impossible port, a duplicate key
that kept the last value, a traceback) is bad input: one ``Error:`` line, exit code 2, and
nothing created or changed."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import sweeps
from tests.conftest import invoke
from tests.digests import folder_digest

STUDY = "nonsense"


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real two-trial sweep with TensorBoard logs; its folder holds the store."""
    folder = tmp_path_factory.mktemp("nonsense")
    sweeps.run(
        "mnist_cnn", "digits", storage=str(folder / "sweeps.db"), study=STUDY, trials=2,
        epochs=1, baseline=False, lr_range_test=False, pruner="none", quiet=True,
    )  # fmt: skip
    return folder


def _one_error_line(result) -> str:
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert "Traceback" not in result.output
    return lines[0]


def _params(folder: Path) -> tuple[str, str, str]:
    """Two parameters that took two values in the study's trials, and one that took one."""
    trials = sweeps.load_study(STUDY, str(folder / "sweeps.db")).trials()
    columns = [c for c in trials.columns if c.startswith("hp_") and trials[c].notna().all()]
    varied = [c[3:] for c in columns if trials[c].nunique() > 1]
    same = [c[3:] for c in columns if trials[c].nunique() == 1]
    assert len(varied) >= 2 and same, trials
    return varied[0], varied[1], same[0]


PLOT_CASES = {
    # (kind, which parameters: indices into _params' answer) -> what the message says
    "contour with one parameter": ("contour", [0], "needs at least 2 parameters"),
    "contour with one parameter twice": ("contour", [0, 0], "twice"),
    "contour with a parameter that took one value": ("contour", [0, 2], "took only"),
    "slice with a parameter twice": ("slice", [0, 0], "twice"),
    "parallel with a parameter twice": ("parallel", [1, 0, 1], "twice"),
    "history draws no chosen parameters": ("history", [0, 1], "drop --params"),
    "curves draws no chosen parameters": ("curves", [0], "drop --params"),
    "intermediate draws no chosen parameters": ("intermediate", [0, 1], "drop --params"),
}


@pytest.mark.slow  # the tests that read a real sweep (its fixture) run in the full tier
@pytest.mark.parametrize("case", PLOT_CASES.values(), ids=PLOT_CASES.keys())
def test_a_plot_that_would_be_empty_or_ignore_params_is_refused(swept, tmp_path, case) -> None:
    kind, picks, says = case
    names = _params(swept)
    out = tmp_path / "figure.png"
    before = folder_digest(swept)
    result = invoke(
        CliRunner(), "plot", "--study", STUDY, "--storage", swept / "sweeps.db", "--kind", kind,
        "--params", ",".join(names[i] for i in picks), "--out", out,
    )  # fmt: skip
    assert says in _one_error_line(result)
    assert not out.exists() and folder_digest(swept) == before


@pytest.mark.slow
def test_a_contour_of_two_parameters_that_varied_is_drawn(swept, tmp_path) -> None:
    """The refusals above are not a refusal of every contour."""
    first, second, _ = _params(swept)
    out = tmp_path / "contour.png"
    result = invoke(
        CliRunner(), "plot", "--study", STUDY, "--storage", swept / "sweeps.db", "--kind",
        "contour", "--params", f"{first},{second}", "--out", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 0


@pytest.mark.slow
@pytest.mark.parametrize("command", ["tensorboard", "tensorboard --run", "dashboard"])
@pytest.mark.parametrize("port", ["99999", "65536", "0", "-1", "abc", "6006.5"])
def test_a_port_out_of_range_is_refused(swept, command, port) -> None:
    before = folder_digest(swept)
    result = invoke(
        CliRunner(), *command.split(), "--study", STUDY, "--storage", swept / "sweeps.db",
        "--port", port,
    )  # fmt: skip
    assert "port" in _one_error_line(result)
    assert result.stdout == ""  # no command printed, no server started
    assert folder_digest(swept) == before


SWEEP_FILES = {
    "duplicate top-level key": (b"space: mlp\ntrials: 8\nepochs: 2\ntrials: 2\n", "'trials'"),
    "duplicate parameter": (
        b"space: mlp\nparameters:\n  units: {value: 64}\n  dropout: {value: 0.1}\n"
        b"  units: {value: 128}\n",
        "'units'",
    ),
    "duplicate key inside a parameter": (
        b"space: mlp\nparameters:\n  dropout: {min: 0.1, max: 0.3, min: 0.2}\n",
        "'min'",
    ),
    "duplicate key in a flow mapping": (b"{space: mlp, space: mnist_cnn}\n", "'space'"),
    "Latin-1, not UTF-8": (b"space: mlp\n# caf\xe9 au lait\n", "not UTF-8"),
    "UTF-16": ("space: mlp\n".encode("utf-16"), "not UTF-8"),
    "invalid UTF-8 in a value": (b"space: mlp\nstudy: \xff\xfe\n", "not UTF-8"),
}


@pytest.mark.parametrize("case", SWEEP_FILES.values(), ids=SWEEP_FILES.keys())
def test_a_sweep_file_with_a_duplicate_key_or_not_utf8_is_refused(tmp_path, case) -> None:
    content, says = case
    config = tmp_path / "sweep.yaml"
    config.write_bytes(content)
    # The flags keep the run short should the file ever be taken.
    result = invoke(
        CliRunner(), "run", "--config", config, "--storage", tmp_path / "s.db", "--trials", 1,
        "--epochs", 1,
    )  # fmt: skip
    message = _one_error_line(result)
    assert says in message and str(config) in message, message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sweep.yaml"]


def test_a_duplicate_key_message_names_both_lines(tmp_path) -> None:
    config = tmp_path / "sweep.yaml"
    config.write_text("space: mlp\ntrials: 8\nepochs: 2\ntrials: 2\n")
    message = _one_error_line(
        invoke(CliRunner(), "run", "--config", config, "--trials", 1, "--epochs", 1)
    )
    assert "lines 2 and 4" in message


def test_a_merge_key_is_not_a_duplicate(tmp_path) -> None:
    from sweeps.sweep_file import load_sweep_file

    config = tmp_path / "sweep.yaml"
    config.write_text(
        "parameters:\n  dropout: &range {min: 0.1, max: 0.3}\n  learning_rate:\n"
        "    <<: *range\n    max: 0.2\n"
    )
    overrides = load_sweep_file(config).settings["overrides"]
    assert overrides["learning_rate"] == {"min": 0.1, "max": 0.2}


@pytest.mark.parametrize(
    ("given", "says"),
    [("", "path is empty"), ("   ", "path is empty"), (".", "is a folder")],
)
def test_an_empty_or_folder_config_path_says_so(tmp_path, monkeypatch, given, says) -> None:
    monkeypatch.chdir(tmp_path)
    message = _one_error_line(invoke(CliRunner(), "run", "--config", given))
    assert says in message and "does not exist" not in message, message
    assert list(tmp_path.iterdir()) == []

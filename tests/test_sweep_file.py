"""Sweep files: every `run` option from YAML, flags over the file, range overrides that reach
the worker, the shipped examples (each run for real), and one line for every bad key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

import sweeps
from search_spaces import BUILTIN_SPACES, load_space
from sweeps.config import declared
from sweeps.sweep_file import check_overrides, file_keys, load_sweep_file, saved_text
from tests.conftest import REPO, invoke

EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A tiny image folder (2 digit classes, 30 train and 5 test images each) for fast runs."""
    from PIL import Image
    from sklearn.datasets import load_digits

    root = tmp_path_factory.mktemp("stand_in")
    digits = load_digits()
    for label in (0, 1):
        images = digits.images[digits.target == label]
        for split, chosen in (("train", images[:30]), ("test", images[30:35])):
            folder = root / split / str(label)
            folder.mkdir(parents=True)
            for i, image in enumerate(chosen):
                Image.fromarray((image * 16).astype("uint8")).save(folder / f"{i}.png")
    return f"folder:{root}"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sweep.yaml"
    path.write_text(text)
    return path


def _saved_config(url: str, study: str) -> sweeps.SweepConfig:
    return sweeps.load_study(study, url).config


def test_every_notebook_architecture_has_an_example_with_its_dataset() -> None:
    spaces = {}
    for path in EXAMPLES:
        data = yaml.safe_load(path.read_text())
        space = load_space(data["space"])
        spaces[space.name] = path
        assert path.name.startswith(space.info.notebook + "_"), path.name
        assert data["dataset"] in space.info.fits, (path.name, data["dataset"])
        assert load_sweep_file(path).settings["epochs"] == data["epochs"]
    assert set(spaces) == set(BUILTIN_SPACES)
    notebooks = {load_space(name).info.notebook[:3] for name in BUILTIN_SPACES}
    assert notebooks == {"000", "001", "002", "003", "004"}


@pytest.mark.slow
@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_each_example_runs_one_trial_of_one_epoch(cli, tmp_path, stand_in, example) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    result = invoke(
        cli,
        "run",
        "--config",
        example,
        "--dataset",
        stand_in,
        "--trials",
        1,
        "--epochs",
        1,
        "--storage",
        url,
        "--study",
        "example",
    )
    assert result.exit_code == 0, result.output
    assert "1/1 trials finished" in result.output
    config = _saved_config(url, "example")
    data = yaml.safe_load(example.read_text())
    # The flags won; everything else came from the file, its parameters included.
    assert (config.trials, config.epochs, config.dataset) == (1, 1, stand_in)
    assert (config.space, config.sampler, config.pruner) == (
        data["space"],
        data["sampler"],
        data["pruner"],
    )
    assert set(config.overrides) == set(data.get("parameters", {}))
    # Saved as read, less its comments (a comment may hold a password: test_secrets.py).
    assert config.sweep_file_text == saved_text(example.read_text())
    best = json.loads(invoke(cli, "best", "-S", "example", "-s", url, "-f", "json").output)
    assert [t["baseline"] for t in best["trials"]] == [True]  # the notebook's recipe ran


@pytest.mark.slow
def test_flags_override_the_file_and_resume_keeps_the_overrides(cli, tmp_path) -> None:
    """The overrides reach the worker's hp adapter through the saved config, also on resume."""
    path = _write(
        tmp_path,
        "space: mlp\ntrials: 5\nepochs: 9\nsampler: random\npruner: none\npatience: 0\n"
        "parameters:\n"
        "  optimizer: {value: adadelta}\n"
        "  learning_rate: {min: 0.1, max: 0.8}\n"
        "  schedule: {values: [constant, time_based]}\n"
        "  units: {values: [128, 256]}\n"
        "  dropout: {min: 0.1, max: 0.3}\n",
    )
    url = f"sqlite:///{tmp_path / 's.db'}"
    result = invoke(
        cli, "run", "-c", path, "--trials", 2, "--epochs", 1, "--storage", url, "-S", "mlp"
    )
    assert result.exit_code == 0, result.output
    config = _saved_config(url, "mlp")
    assert (config.trials, config.epochs, config.sampler, config.space) == (2, 1, "random", "mlp")
    grown = invoke(cli, "resume", "--study", "mlp", "--storage", url, "--trials", 4)
    assert grown.exit_code == 0, grown.output
    trials = sweeps.load_study("mlp", url).trials()
    assert len(trials) == 4
    assert (trials["hp_optimizer"] == "adadelta").all()
    assert trials["hp_learning_rate"].between(0.1, 0.8).all()
    assert trials["hp_schedule"].isin(["constant", "time_based"]).all()
    assert trials["hp_units"].isin([128, 256]).all()
    assert trials["hp_dropout"].between(0.1, 0.3).all()
    status = invoke(cli, "status", "--study", "mlp", "--storage", url)
    assert (
        f"Sweep file {path}:" in status.output and "optimizer: {value: adadelta}" in status.output
    )
    show = invoke(cli, "show", 1, "--study", "mlp", "--storage", url)
    assert "learning_rate: {min: 0.1, max: 0.8}" in show.output


@pytest.mark.slow
def test_run_takes_a_sweep_file_from_python(tmp_path) -> None:
    path = _write(tmp_path, "space: leaky_cnn\ntrials: 7\nepochs: 4\npruner: none\n")
    url = f"sqlite:///{tmp_path / 's.db'}"
    study = sweeps.run(config=path, trials=1, epochs=1, storage=url, study="py", quiet=True)
    assert study.config.space == "leaky_cnn" and study.config.trials == 1
    assert study.config.pruner == "none" and study.config.sweep_file == str(path)
    assert study.last_run.finished == 1


BAD_FILES = [
    ("epoch: 3\n", "unknown key 'epoch'; valid keys are artifacts, baseline, dataset"),
    ("sampler: annealing\n", "sampler must be one of tpe, random, gp, cmaes, qmc"),
    ("trials: ten\n", "trials must be an integer, but got 'ten'"),
    ("trials: 0\n", "trials must be a positive integer (at most 1000000), but got 0"),
    ("baseline: maybe\n", "baseline must be true or false, but got 'maybe'"),
    ("gpus: [a]\n", "gpus must be a list of GPU indices"),
    ("space: [1, 2\n", "not valid YAML"),
    ("- space\n", "a sweep file is a mapping"),
    ("parameters: [dropout]\n", "parameters must map parameter names to {value: V}"),
    ("parameters:\n  dropout: 0.3\n", "parameters.dropout must be one of {value: V}"),
    ("parameters:\n  dropout: {step: 2}\n", "unknown key 'step'; valid keys are value, values"),
    ("parameters:\n  dropout: {value: 0.3, min: 0.1}\n", "parameters.dropout mixes forms"),
    ("parameters:\n  dropout: {min: 0.5, max: 0.1}\n", "min must be below max"),
]
# Checked against the space (mnist_cnn by default) in a CPU-only child process that imports
# TensorFlow: the first case runs in the quick tier, the rest in the full one.
SPACE_CHECKED = [
    (
        "parameters:\n  learning_rte: {min: 0.001}\n",
        "space 'mnist_cnn' has no parameter 'learning_rte'; valid ones are batch_norm, batch_size",
    ),
    (
        "parameters:\n  optimizer: {values: [adam, lion]}\n",
        "'lion' is not a choice of optimizer; valid ones are 'sgd', 'nesterov'",
    ),
    ("parameters:\n  learning_rate: {min: 1.0e-9}\n", "min 1e-09 is outside learning_rate's"),
    ("parameters:\n  dropout: {min: 0.12}\n", "min 0.12 is off dropout's grid"),
    ("parameters:\n  filters: {min: 16}\n", "filters is a choice of 16, 32, 64"),
    ("parameters:\n  dropout: {values: [0.1]}\n", "dropout is a range [0.0, 0.5]"),
    (
        "parameters:\n  batch_size: {value: 32}\n",
        "parameters.batch_size excludes the baseline's batch_size=100",
    ),
]


@pytest.mark.parametrize(
    ("text", "message"),
    [*BAD_FILES, SPACE_CHECKED[0]]
    + [pytest.param(*case, marks=pytest.mark.slow) for case in SPACE_CHECKED[1:]],
)
def test_a_bad_key_or_value_is_one_line_and_creates_nothing(cli, tmp_path, text, message) -> None:
    path = _write(tmp_path, text)
    store = tmp_path / "never.db"
    result = invoke(cli, "run", "--config", path, "--storage", store)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {path}"), result.stderr
    assert message in lines[0]
    assert not store.exists()


def test_a_missing_file_is_one_line(cli, tmp_path) -> None:
    result = invoke(cli, "run", "--config", tmp_path / "nope.yaml")
    assert result.exit_code == 2 and "does not exist" in result.stderr


@pytest.mark.slow  # two children that import TensorFlow
def test_the_baseline_may_be_excluded_when_it_does_not_run() -> None:
    space = load_space("mnist_cnn")
    overrides = {"batch_size": {"value": 32}, "dropout": {"min": 0.1, "max": 0.3}}
    with pytest.raises(sweeps.ConfigError, match="excludes the baseline's batch_size=100"):
        check_overrides("mnist_cnn", overrides, space.baseline)
    check_overrides("mnist_cnn", overrides, None)  # baseline: false


# Settings a file does not give, spelled out here rather than read from sweeps.config: a
# setting wrongly left out of sweep files must fail this test, not be copied into it.
NOT_FILE_KEYS = {"sweep_file", "sweep_file_text"}  # run() fills them in from the file itself


@pytest.mark.parametrize(
    "setting", [s for s in declared() if s.name not in NOT_FILE_KEYS], ids=lambda s: s.name
)
def test_every_declared_setting_but_the_file_s_own_is_a_file_key(tmp_path, setting) -> None:
    """Each setting, at its default value, loads from a real sweep file into run()'s keywords."""
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump({setting.file_key: setting.default}))
    assert load_sweep_file(path).settings == {setting.name: setting.default}
    assert setting.file_key in file_keys()


def test_the_file_s_own_settings_and_place_keys() -> None:
    assert {s.name for s in declared() if s.file_key is None} == NOT_FILE_KEYS
    assert not NOT_FILE_KEYS & set(file_keys())
    assert {"study", "storage", "parameters"} <= set(file_keys())
    assert "overrides" not in file_keys()  # a file writes them as parameters


def test_the_hp_adapter_applies_overrides_to_every_question() -> None:
    """Fixed, kept choices and narrowed ranges, over many random trials of the shared tunables."""
    import keras_tuner  # noqa: F401  (the adapter subclasses it)
    import optuna

    from search_spaces import tunables
    from sweeps.worker.hp_adapter import OptunaHyperParameters

    overrides = {
        "optimizer": {"values": ["sgd", "adam"]},
        "learning_rate": {"min": 1e-3, "max": 1e-2},
        "batch_size": {"value": 64},
        "momentum": {"min": 0.5},
        "translation": {"max": 0.1},
    }
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(40):
        trial = study.ask()
        hp = OptunaHyperParameters(trial, overrides=overrides)
        recipe = tunables.ask_training(hp, {}, augmentations=("translation",))
        assert recipe.optimizer in ("sgd", "adam")
        assert 1e-3 <= recipe.learning_rate <= 1e-2
        assert recipe.batch_size == 64
        assert recipe.translation in (0.0, 0.05, 0.1)  # the 0.05 grid, narrowed
        if recipe.optimizer == "sgd":
            assert 0.5 <= recipe.momentum <= 0.99
        study.tell(trial, 0.5)
    kinds = {type(d).__name__ for d in study.trials[0].distributions.values()}
    assert "CategoricalDistribution" in kinds
    assert study.trials[0].distributions["batch_size"].choices == (64,)

"""Bad input that only a worker used to find, now found before anything is created or changed.

Each case is one member of a class (issue 15): a space whose import ends the process, a space
that cannot build its first model, a BASELINE outside its own questions, a weights file of
another architecture, an image Pillow reads but TensorFlow's decoder (training's) cannot.
`run` must answer one `Error:` line and exit 2 and leave no store, study or artifacts folder;
`resume` must do the same before it raises a budget, leaving every recorded byte as it was.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from tests.conftest import REPO, invoke
from tests.digests import folder_digest, store_rows

# Slow: each case starts the preflight child (a TensorFlow start-up); the quick tier checks
# bad input through test_hardening.py.
pytestmark = pytest.mark.slow

# --- the inputs ---------------------------------------------------------------------------

HEAD = """
from search_spaces import SpaceInfo, pretrained

INFO = SpaceInfo(name="{name}", notebook="test", title="test space", published="-")
BASELINE = {"optimizer": "adam", "learning_rate": 1e-3, "schedule": "constant",
            "batch_size": 16, "units": 8}
"""

GOOD_BUILD = """
def build(hp, spec):
    import keras

    units = hp.Choice("units", [8, 16], default=8)
    inputs = keras.Input(spec.shape)
    x = keras.layers.Dense(units, activation="relu")(keras.layers.Flatten()(inputs))
    return keras.Model(inputs, keras.layers.Dense(spec.num_classes)(x))
"""

# name -> source of a space file (HEAD's INFO and BASELINE unless the case sets its own).
SPACES = {
    "good": HEAD + GOOD_BUILD,
    "exits_at_import": "import sys\nsys.exit(3)\n" + HEAD + GOOD_BUILD,
    "raises_system_exit_at_import": HEAD + GOOD_BUILD + "raise SystemExit('bye')\n",
    "os_exit_at_import": "import os\nos._exit(3)\n" + HEAD + GOOD_BUILD,
    "build_raises": HEAD
    + """
def build(hp, spec):
    hp.Choice("units", [8, 16], default=8)
    raise RuntimeError("no such layer: Conv9D")
""",
    "build_exits": HEAD
    + """
def build(hp, spec):
    import sys

    sys.exit(4)
""",
    "build_returns_none": HEAD
    + """
def build(hp, spec):
    hp.Choice("units", [8, 16], default=8)
    return None
""",
    "wrong_class_count": HEAD
    + """
def build(hp, spec):
    import keras

    hp.Choice("units", [8, 16], default=8)
    inputs = keras.Input(spec.shape)
    return keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(inputs)))
""",
    "baseline_not_a_choice": HEAD.replace('"units": 8', '"units": 12') + GOOD_BUILD,
    "baseline_out_of_range": HEAD.replace('"units": 8', '"units": 8, "rate": 0.9')
    + """
def build(hp, spec):
    import keras

    units = hp.Choice("units", [8, 16], default=8)
    rate = hp.Float("rate", 0.0, 0.5)
    inputs = keras.Input(spec.shape)
    x = keras.layers.Dropout(rate)(keras.layers.Flatten()(inputs))
    x = keras.layers.Dense(units)(x)
    return keras.Model(inputs, keras.layers.Dense(spec.num_classes)(x))
""",
    "baseline_training_value": HEAD.replace('"adam"', '"adamw2"') + GOOD_BUILD,
    "pretrained": HEAD
    + """
WEIGHTS_FILE = "tiny_base_notop.h5"
WEIGHTS_URL = "https://example.invalid/tiny_base_notop.h5"


def build(hp, spec):
    import keras

    units = hp.Choice("units", [8, 16], default=8)
    weights = pretrained.resolve_weights(spec.weights, INFO.name, WEIGHTS_FILE, WEIGHTS_URL)
    base = keras.Sequential(
        [keras.Input(spec.shape), keras.layers.Conv2D(4, 3), keras.layers.GlobalAveragePooling2D()]
    )
    if weights:
        base.load_weights(weights)
    inputs = keras.Input(spec.shape)
    x = keras.layers.Dense(units, activation="relu")(base(inputs))
    return keras.Model(inputs, keras.layers.Dense(spec.num_classes)(x))
""",
}


def _image_folder(root: Path, per_class: int = 20) -> Path:
    for label in ("cat", "dog"):
        (root / label).mkdir(parents=True)
        for i in range(per_class):
            pixels = np.full((8, 8), 10 + i * 5 + (120 if label == "dog" else 0), dtype=np.uint8)
            Image.fromarray(pixels).save(root / label / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Space files, image folders and weights files, made once."""
    import keras

    folder = tmp_path_factory.mktemp("preflight-inputs")
    paths: dict[str, Path] = {}
    for name, source in SPACES.items():
        paths[name] = folder / f"{name}_space.py"
        paths[name].write_text(textwrap.dedent(source).replace("{name}", name))
    # Pillow reads these; TensorFlow's decoder (training's) knows only JPEG, PNG, GIF, BMP.
    paths["tiff_as_png"] = _image_folder(folder / "tiff-as-png")
    Image.fromarray(np.zeros((8, 8), dtype=np.uint8)).save(
        paths["tiff_as_png"] / "cat" / "odd.png", format="TIFF"
    )
    paths["webp_as_jpg"] = _image_folder(folder / "webp-as-jpg")
    Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(
        paths["webp_as_jpg"] / "dog" / "odd.jpg", format="WEBP"
    )
    paths["images"] = _image_folder(folder / "images")
    # Weights of another architecture, saved the way Keras saves any model's weights.
    other = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3), keras.layers.Dense(2)])
    paths["other_weights"] = folder / "other.weights.h5"
    other.save_weights(paths["other_weights"])
    paths["a_folder"] = folder / "a-folder"
    paths["a_folder"].mkdir()
    return paths


# (arguments after `sweeps run`, a phrase the one error line must contain).
RUN_CASES = [
    # A space whose import ends the process.
    (["--space", "{exits_at_import}"], "calls sys.exit(3) when imported"),
    (["--space", "{raises_system_exit_at_import}"], "calls sys.exit('bye') when imported"),
    (["--space", "{os_exit_at_import}"], "ended with exit code 3"),
    # A space that cannot build, or builds something no trial can train.
    (["--space", "{build_raises}"], "RuntimeError: no such layer: Conv9D"),
    (["--space", "{build_exits}"], "sys.exit(4)"),
    (["--space", "{build_returns_none}"], "build must return a keras.Model"),
    (["--space", "{wrong_class_count}"], "outputs of shape (2, 3)"),
    # A BASELINE its own questions cannot give.
    (["--space", "{baseline_not_a_choice}"], "BASELINE['units'] = 12 is not one of its choices"),
    (["--space", "{baseline_out_of_range}"], "BASELINE['rate'] = 0.9 is outside its range"),
    (["--space", "{baseline_training_value}"], "does not fit the training questions"),
    (
        ["--space", "{baseline_not_a_choice}", "--no-baseline"],
        "BASELINE['units'] = 12 is not one of its choices",
    ),
    # Weights of another architecture: ours, and one of the built-in pretrained spaces.
    (["--space", "{pretrained}", "--weights", "{other_weights}"], "does not fit its model"),
    (["--space", "xception", "--weights", "{other_weights}"], "does not fit its model"),
    # Images Pillow decodes but the training decoder cannot.
    (["--space", "mlp", "--dataset", "folder:{tiff_as_png}"], "odd.png cannot be decoded"),
    (["--space", "mlp", "--dataset", "folder:{webp_as_jpg}"], "odd.jpg cannot be decoded"),
    # Messages that used to say something false.
    (["--space", "xception", "--weights", "{a_folder}"], "is a folder"),
    (["--space", "{a_folder}"], "is a folder"),
    (["--study", "  "], "--study must not be blank"),
]


def _fill(args: list[str], paths: dict[str, Path]) -> list[str]:
    return [a.format(**{k: str(v) for k, v in paths.items()}) for a in args]


def _one_error_line(stderr: str, phrase: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), stderr
    assert "Traceback" not in stderr
    assert phrase in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize(("args", "phrase"), RUN_CASES, ids=[" ".join(a) for a, _ in RUN_CASES])
def test_run_refuses_before_creating_anything(inputs, tmp_path, monkeypatch, args, phrase) -> None:
    monkeypatch.chdir(tmp_path)
    args = ["run", *_fill(args, inputs), "--trials", "2", "--epochs", "1", "--storage", "s.db"]
    result = invoke(CliRunner(), *args)
    assert result.exit_code == 2, (result.exit_code, result.output)
    _one_error_line(result.stderr, phrase)
    assert sorted(os.listdir(tmp_path)) == [], "a store, study or artifacts folder was created"


@pytest.mark.parametrize("space", ["exits_at_import", "os_exit_at_import"])
def test_a_space_that_ends_the_process_at_import_is_one_line_from_the_real_command(
    inputs, tmp_path, space
) -> None:
    """As a process: the exit code and the terminal are the command's, not the space's."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "sweeps", "run", "--space", str(inputs[space]), "--storage", "s.db"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert done.stdout == ""
    _one_error_line(done.stderr, "exit" if space.startswith("os") else "sys.exit(3)")
    assert os.listdir(tmp_path) == []


def test_the_caller_never_imports_tensorflow_nor_the_space_before_the_child(
    inputs, tmp_path
) -> None:
    code = textwrap.dedent(
        f"""
        import sys, sweeps
        for space, dataset in [
            ({str(inputs["build_raises"])!r}, "digits"),
            ("mlp", {"folder:" + str(inputs["tiff_as_png"])!r}),
        ]:
            try:
                sweeps.run(space=space, dataset=dataset, storage="s.db", quiet=True)
            except Exception as exc:
                print(type(exc).__name__)
        print("tensorflow" in sys.modules, "keras" in sys.modules)
        """
    )
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    assert done.stdout.split() == ["SpaceError", "DatasetError", "False", "False"], (
        done.stdout + done.stderr
    )
    assert done.stderr == ""  # Keras' warnings and TensorFlow's start-up lines stay in the child


def test_weights_that_fit_pass_the_preflight(inputs, tmp_path) -> None:
    """The check refuses the wrong weights, not weights: the right ones build and load."""
    import keras

    from sweeps.config import SweepConfig, SweepSpec, SweepState
    from sweeps.spawn import run_in_child

    base = keras.Sequential(
        [keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3), keras.layers.GlobalAveragePooling2D()]
    )
    right = tmp_path / "right.weights.h5"
    base.save_weights(right)
    spec = SweepSpec(
        space=str(inputs["pretrained"]), dataset=f"folder:{inputs['images']}", weights=str(right)
    ).validate()
    config = SweepConfig(spec, SweepState(val_fraction=0.2))
    report = run_in_child("sweeps.worker.preflight:preflight", config)
    assert report["param_count"] > 0


# --- resume: checked before the budget is raised --------------------------------------------

STUDY = "my study"


@pytest.fixture(scope="module")
def recorded(inputs, tmp_path_factory) -> dict[str, Path]:
    """A finished one-trial study of a space file on an image folder given as a relative path."""
    folder = tmp_path_factory.mktemp("preflight-study")
    shutil.copy(inputs["good"], folder / "space.py")
    shutil.copytree(inputs["images"], folder / "images")
    cwd = Path.cwd()
    os.chdir(folder)
    try:
        result = invoke(
            CliRunner(), "run", "--space", "space.py", "--dataset", "folder:images",
            "--study", STUDY, "--trials", 1, "--epochs", 1, "--storage", "s.db",
            "--pruner", "none",
        )  # fmt: skip
    finally:
        os.chdir(cwd)
    assert result.exit_code == 0, result.output
    return {"folder": folder, "db": folder / "s.db", "stderr": result.stderr}


def _digest(recorded: dict[str, Path]) -> tuple[str, dict[str, str]]:
    """The store's rows and every checkpoint file, hashed."""
    return store_rows(recorded["db"]), folder_digest(recorded["folder"] / "sweeps-artifacts")


def test_the_final_hint_quotes_a_name_with_spaces(recorded) -> None:
    assert "Best trials: sweeps best --study 'my study' --storage " in recorded["stderr"]


def test_a_relative_dataset_folder_is_stored_resolved(recorded) -> None:
    import sweeps

    frame = sweeps.studies(str(recorded["db"]))
    assert frame.loc[frame["study"] == STUDY, "dataset"].tolist() == [
        f"folder:{(recorded['folder'] / 'images').resolve()}"
    ]


def _break_dataset_folder(folder: Path, inputs) -> None:
    shutil.move(folder / "images", folder / "images-away")


def _tiff_in_dataset(folder: Path, inputs) -> None:
    Image.fromarray(np.zeros((8, 8), dtype=np.uint8)).save(
        folder / "images" / "dog" / "late.png", format="TIFF"
    )


def _space_file(name: str):
    def replace(folder: Path, inputs) -> None:
        shutil.copy(inputs[name], folder / "space.py")

    replace.__name__ = f"space_now_{name}"
    return replace


# (how the inputs change after the study was recorded, the phrase of the one error line).
RESUME_CASES = [
    (_break_dataset_folder, "does not exist"),
    (_tiff_in_dataset, "late.png cannot be decoded"),
    (_space_file("build_raises"), "no such layer: Conv9D"),
    (_space_file("exits_at_import"), "calls sys.exit(3) when imported"),
    (_space_file("baseline_not_a_choice"), "is not one of its choices"),
]


@pytest.mark.parametrize(
    ("change", "phrase"), RESUME_CASES, ids=[c.__name__.strip("_") for c, _ in RESUME_CASES]
)
def test_resume_checks_before_it_raises_the_budget(recorded, inputs, change, phrase) -> None:
    folder = recorded["folder"]
    saved = folder.parent / f"{folder.name}-saved"
    shutil.copytree(folder, saved)
    try:
        before = _digest(recorded)
        change(folder, inputs)
        result = invoke(
            CliRunner(), "resume", "--study", STUDY, "--trials", 3, "--storage", recorded["db"]
        )
        assert result.exit_code == 2, (result.exit_code, result.output)
        _one_error_line(result.stderr, phrase)
        assert _digest(recorded) == before, "resume changed the store or the checkpoints"
    finally:
        shutil.rmtree(folder)
        shutil.move(saved, folder)


# --- two runs racing for one study name ----------------------------------------------------


def test_the_run_that_loses_a_race_for_a_name_is_told_so(tmp_path, monkeypatch) -> None:
    """Both runs pass the name check before either creates the study (a barrier holds them
    there); the loser must not be told the study 'was not made by sweeps'."""
    from sweeps import optuna_study
    from sweeps.config import SweepConfig, SweepSpec, SweepState
    from sweeps.errors import ConfigError

    url = f"sqlite:///{tmp_path / 'race.db'}"
    real_find = optuna_study.find_sweep
    barrier = threading.Barrier(2, timeout=60)
    held = threading.local()

    def find_then_wait(engine, name):
        found = real_find(engine, name)
        if not getattr(held, "done", False):
            held.done = True
            barrier.wait()
        return found

    monkeypatch.setattr(optuna_study, "find_sweep", find_then_wait)
    outcomes: list[object] = []

    def create() -> None:
        config = SweepConfig(SweepSpec(trials=2, epochs=1), SweepState(study_folder="race-x"))
        try:
            outcomes.append(optuna_study.create_study(config, url, "race", None))
        except ConfigError as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=create) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    errors = [str(o) for o in outcomes if isinstance(o, ConfigError)]
    assert len(outcomes) == 2 and len(errors) == 1, outcomes
    assert "was just created" in errors[0] and "another run" in errors[0], errors[0]


def test_an_optuna_study_of_that_name_is_still_called_foreign(tmp_path) -> None:
    import optuna

    from sweeps import optuna_study
    from sweeps.config import SweepConfig, SweepSpec, SweepState
    from sweeps.errors import ConfigError

    url = f"sqlite:///{tmp_path / 'foreign.db'}"
    optuna.create_study(study_name="theirs", storage=url)
    config = SweepConfig(SweepSpec(trials=2, epochs=1), SweepState(study_folder="theirs-x"))
    with pytest.raises(ConfigError, match="not made by sweeps"):
        optuna_study.create_study(config, url, "theirs", None)


def test_hints_are_commands_that_paste() -> None:
    from sweeps.api import _command

    assert _command("resume", "my study", "sqlite:///a b.db") == (
        "sweeps resume --study 'my study' --storage 'sqlite:///a b.db'"
    )
    assert _command("best", "plain", "sweeps.db") == "sweeps best --study plain --storage sweeps.db"

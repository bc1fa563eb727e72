"""One declaration of a sweep's settings (sweeps/config.py's SweepSpec): the `sweeps run`
options, the sweep-file keys and the `sweeps.run` keywords are exactly the declared settings,
a new setting reaches all three with one edit, and a study's saved config reads into a frozen
spec and a separate state, whichever release saved it."""

from __future__ import annotations

import dataclasses
import inspect
import json
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer
import yaml
from typer.main import get_command
from typer.testing import CliRunner

import sweeps
from sweeps import api as api_module
from sweeps import config as config_module
from sweeps.config import (
    PLACE_KEYS,
    SAVED_VERSION,
    SweepConfig,
    SweepSpec,
    SweepState,
    declare,
    declared,
    upgrade_saved,
)
from sweeps.sweep_file import file_keys, load_sweep_file
from tests.conftest import invoke

FIXTURE = Path(__file__).parent / "fixtures" / "store-before-versioning.db"
# What `sweeps run` and sweeps.run take besides the settings: the sweep file and where the
# sweep is recorded; and, from Python only, the progress display.
# Where the sweep is recorded and runs, not what it does: never saved with the study (a resume
# may run on another Ray cluster).
RUN_OPTIONS_OF_THEIR_OWN = {"config", "storage", "study", "ray"}
RUN_ARGUMENTS_OF_THEIR_OWN = {"config", "storage", "study", "quiet", "ray"}


def _run_options() -> dict[str, object]:
    from sweeps.cli import app

    command = get_command(app).commands["run"]
    return {p.name: p for p in command.params if not p.name.startswith("help")}


def _valid_keywords() -> set[str]:
    """The keywords sweeps.run names as valid, from its own message (nothing starts)."""
    with pytest.raises(sweeps.ConfigError) as raised:
        sweeps.run(no_such_setting=1)
    message = str(raised.value)
    assert message.startswith("unknown setting 'no_such_setting'; valid settings are "), message
    return set(message.split("valid settings are ")[1].rstrip(".").split(", "))


def test_the_run_options_are_the_declared_settings() -> None:
    options = _run_options()
    cli = [s for s in declared() if s.cli]
    assert set(options) == {s.name for s in cli} | RUN_OPTIONS_OF_THEIR_OWN
    for setting in cli:
        option = options[setting.name]
        assert option.opts == [setting.flag], setting.name
        if setting.kind is bool:
            assert option.secondary_opts == [f"--no-{setting.flag[2:]}"], setting.name
        assert option.help == setting.help, setting.name
        assert option.default == (None if setting.from_text else setting.default), setting.name


def test_the_file_keys_are_the_declared_settings() -> None:
    declared_keys = {s.file_key for s in declared() if s.file_key}
    assert set(file_keys()) == declared_keys | set(PLACE_KEYS)


def test_the_keywords_are_the_declared_settings() -> None:
    named = set(inspect.signature(sweeps.run).parameters) - {"settings"}
    keywords = {s.name for s in declared() if s.keyword}
    assert named - keywords == RUN_ARGUMENTS_OF_THEIR_OWN
    assert _valid_keywords() == keywords - named


RANGED = [s for s in declared() if s.at_least is not None]


@pytest.mark.parametrize("setting", RANGED, ids=lambda s: s.name)
def test_a_value_out_of_range_is_refused_alike_on_every_surface(cli, tmp_path, setting) -> None:
    """The declared range, one message, in each reader's words: the flag, the file's key, the
    keyword; nothing is created."""
    low, store = setting.at_least - 1, tmp_path / "never.db"
    wanted = "a positive integer" if setting.at_least == 1 else "an integer of 0 or more"
    result = invoke(cli, "run", setting.flag, low, "--storage", store)
    assert result.exit_code == 2
    assert f"Error: {setting.flag} must be {wanted}" in result.stderr
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump({setting.file_key: low}))
    with pytest.raises(sweeps.ConfigError, match=f"^{re.escape(str(path))}: {setting.name} must"):
        load_sweep_file(path)
    with pytest.raises(sweeps.ConfigError, match=f"^{setting.name} must be {wanted}"):
        sweeps.run(storage=str(store), **{setting.name: low})
    assert list(tmp_path.iterdir()) == [path]


def test_a_new_setting_is_one_declaration(monkeypatch, tmp_path) -> None:
    """One field with its declaration gives an option, a file key and a keyword, checked."""

    @dataclass(frozen=True)
    class WithOneMore(SweepSpec):
        warmup: int = declare(0, help="Epochs of warm-up.", at_least=0, at_most=100)

    # Where the declaration is read: the declared settings, and the class run() builds.
    monkeypatch.setattr(config_module, "SweepSpec", WithOneMore)
    monkeypatch.setattr(api_module, "SweepSpec", WithOneMore)
    declared.cache_clear()
    try:
        from sweeps.cli.sweep_commands import with_settings_options

        received = {}
        app = typer.Typer()

        @app.command()
        @with_settings_options
        def command(**settings: object) -> None:
            received.update(settings)

        result = CliRunner().invoke(app, ["--warmup", "3", "--gpus", "0,1"])
        assert result.exit_code == 0, result.output
        assert received["warmup"] == 3 and received["gpus"] == [0, 1]
        assert "Epochs of warm-up." in CliRunner().invoke(app, ["--help"]).output

        path = tmp_path / "sweep.yaml"
        path.write_text("warmup: 2\n")
        assert load_sweep_file(path).settings == {"warmup": 2}
        path.write_text("warmup: 200\n")
        with pytest.raises(sweeps.ConfigError, match="warmup must be an integer of 0 or more"):
            load_sweep_file(path)

        assert "warmup" in _valid_keywords()
        with pytest.raises(sweeps.ConfigError, match="^warmup must be an integer of 0 or more"):
            sweeps.run(warmup=-1, storage=str(tmp_path / "never.db"))
    finally:
        monkeypatch.undo()
        declared.cache_clear()
    assert "warmup" not in file_keys()


# The spec, the state, and the saved forms ----------------------------------------------------


def test_the_spec_and_the_state_are_frozen_and_derived_by_replace() -> None:
    spec = SweepSpec(trials=4)
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.trials = 8
    config = SweepConfig(spec, SweepState(workers=2))
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.state = SweepState()
    raised = config.with_state(trials=8)
    assert (raised.trials, raised.spec.trials, config.trials) == (8, 4, 4)
    assert dataclasses.replace(spec, epochs=3).epochs == 3 and spec.epochs == 20


def test_a_config_reads_the_state_where_it_has_a_value_else_the_spec() -> None:
    config = SweepConfig(SweepSpec(workers=None, val_fraction=None, epochs=3))
    assert (config.workers, config.val_fraction, config.epochs) == (None, None, 3)
    resolved = config.with_state(workers=2, val_fraction=0.2, study_folder="s-1")
    assert (resolved.workers, resolved.val_fraction, resolved.study_folder) == (2, 0.2, "s-1")
    assert resolved.spec.workers is None  # as asked
    with pytest.raises(AttributeError):
        resolved.validate  # noqa: B018  (a method of the spec is not the config's)


def test_a_config_is_saved_in_the_current_form_and_reads_back() -> None:
    config = SweepConfig(
        SweepSpec(trials=3, gpus=[0], overrides={"dropout": {"value": 0.1}}),
        SweepState(artifacts="/a", study_folder="s-1", learning_rates={"adam": [1e-4, 1e-2]}),
    )
    saved = json.loads(config.to_json())
    assert saved["version"] == SAVED_VERSION and set(saved) == {"version", "spec", "state"}
    assert SweepConfig.from_json(config.to_json()) == config


def test_the_previous_release_s_saved_config_reads_into_spec_and_state() -> None:
    """The flat form of the releases before the split, as the fixture store holds it."""
    connection = sqlite3.connect(FIXTURE)
    try:
        (text,) = connection.execute("SELECT config_json FROM sweeps_sweep").fetchone()
    finally:
        connection.close()
    flat = json.loads(text)
    assert "version" not in flat
    config = SweepConfig.from_json(text)
    assert config.state == SweepState(
        artifacts=flat["artifacts"],
        study_folder=flat["study_folder"],
        workers=flat["workers"],
        val_fraction=flat["val_fraction"],
        learning_rates=None,
        trials=flat["trials"],
        fitted_ranges=True,
    )
    assert (config.spec.space, config.spec.keep_models, config.spec.tensorboard) == (
        "mnist_cnn",
        "none",
        False,
    )
    assert SweepConfig.from_json(config.to_json()) == config  # written back in the new form


def test_a_flat_config_without_fitted_ranges_reads_as_saved_before_them() -> None:
    old = {"space": "mlp", "trials": 4, "workers": 1, "learning_rates": {"adam": [0.001, 0.1]}}
    config = SweepConfig.from_json(json.dumps({**old, "a_field_since_removed": 1}))
    assert config.fitted_ranges is False and config.learning_rates == {"adam": [0.001, 0.1]}
    assert (config.space, config.trials, config.workers) == ("mlp", 4, 1)
    assert SweepConfig.from_json("{}") == SweepConfig(state=SweepState(fitted_ranges=False))
    assert upgrade_saved(dict(old))["version"] == SAVED_VERSION


def test_a_config_saved_by_a_newer_sweeps_is_one_line() -> None:
    newer = json.dumps({"version": SAVED_VERSION + 1, "spec": {}, "state": {}})
    with pytest.raises(sweeps.StorageError, match="saved by a newer sweeps"):
        SweepConfig.from_json(newer)

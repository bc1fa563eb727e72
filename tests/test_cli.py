"""The CLI in-process: a real tiny sweep on digits, the query commands, and bad input."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, invoke
from tests.digests import store_rows

STUDY = "cli-study"


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One real sweep shared by the query tests: 3 trials of 2 epochs on digits."""
    from typer.testing import CliRunner

    folder = tmp_path_factory.mktemp("cli")
    url = f"sqlite:///{folder / 'sweeps.db'}"
    result = invoke(
        CliRunner(),
        "run",
        "--trials",
        3,
        "--epochs",
        2,
        "--storage",
        url,
        "--study",
        STUDY,
        "--pruner",
        "none",
    )
    assert result.exit_code == 0, result.output
    assert "3/3 trials finished" in result.output
    return url


def _digest(url: str) -> str:
    return store_rows(url.removeprefix("sqlite:///"))


def test_every_command_has_help_with_an_example(cli) -> None:
    from sweeps.cli import app

    names = [c.name or c.callback.__name__ for c in app.registered_commands]
    assert {
        "run",
        "resume",
        "worker",
        "best",
        "show",
        "studies",
        "status",
        "spaces",
        "datasets",
        "devices",
    } <= set(names)
    for name in names:
        result = invoke(cli, name, "--help")
        assert result.exit_code == 0, name
        assert "Example:" in result.output, f"`sweeps {name} --help` has no example"


def test_help_shows_the_text_as_written(cli, monkeypatch) -> None:
    """Rich reads square brackets as markup and keeps a docstring's line breaks: the install
    line lost `[dashboard]` and paragraphs broke mid-sentence. Flags show no `<bool>`."""
    from sweeps.cli import app

    monkeypatch.setenv("COLUMNS", "300")  # one paragraph, one line
    names = [c.name or c.callback.__name__ for c in app.registered_commands]
    for name in ["", *names]:
        text = invoke(cli, *([name] if name else []), "--help").stdout
        assert "<bool>" not in text, name
    dashboard = invoke(cli, "dashboard", "--help").stdout
    assert "Needs the extra: pip install 'sweeps[dashboard]'. The objective is" in dashboard
    tensorboard = invoke(cli, "tensorboard", "--help").stdout
    assert "the HParams tab lists the trials with their parameters and their best" in tensorboard
    run = invoke(cli, "run", "--help").stdout
    assert re.search(r"--baseline +--no-baseline +Run the notebook's recipe", run), run
    listing = invoke(cli, "--help").stdout
    assert re.search(
        r"plot +Draw a study with Optuna's plots: optimization history \(test", listing
    )


def test_best_ranks_by_validation_and_marks_the_baseline(cli, swept) -> None:
    result = invoke(cli, "best", "--study", STUDY, "--storage", swept)
    assert result.exit_code == 0, result.output
    assert "baseline (notebook 003)" in result.output
    csv = invoke(cli, "best", "--study", STUDY, "--storage", swept, "--format", "csv")
    lines = csv.output.strip().splitlines()
    assert lines[0].startswith("rank,trial,status,baseline,val_accuracy,test_accuracy")
    assert len(lines) == 4
    data = json.loads(invoke(cli, "best", "--storage", swept, "--format", "json").output)
    assert data["study"] == STUDY  # the newest study by default
    vals = [t["val_accuracy"] for t in data["trials"]]
    assert vals == sorted(vals, reverse=True)
    assert [t["baseline"] for t in data["trials"]].count(True) == 1
    assert all(0.0 <= t["test_accuracy"] <= 1.0 for t in data["trials"])
    assert "learning_rate" in data["trials"][0]["params"]


def _baseline_rank(cli, url: str) -> int:
    every = json.loads(invoke(cli, "best", "-S", STUDY, "-s", url, "-f", "json").stdout)
    return next(t["rank"] for t in every["trials"] if t["baseline"])


def _baseline_last(swept: str, folder: Path) -> str:
    """A copy of the store whose baseline ranks last: which trial of a 3-trial sweep wins is
    chance, and the baseline often does. Only its recorded val accuracy is lowered."""
    import sqlite3

    copy = folder / "baseline-last.db"
    with sqlite3.connect(swept.removeprefix("sqlite:///")) as source:
        with sqlite3.connect(copy) as target:
            source.backup(target)  # carries what is still in the write-ahead log
            target.execute(
                "UPDATE sweeps_trial_result SET val_accuracy = "
                "(SELECT min(val_accuracy) - 0.01 FROM sweeps_trial_result) WHERE is_baseline"
            )
    return f"sqlite:///{copy}"


def test_best_always_lists_the_baseline_even_below_the_top(cli, swept, tmp_path) -> None:
    """The row every user looks for: `--top K` lists the K best, then the baseline at its own
    rank when it is not among them, in every format."""
    swept = _baseline_last(swept, tmp_path)
    rank = _baseline_rank(cli, swept)
    assert rank == 3, rank
    top = rank - 1
    data = json.loads(
        invoke(cli, "best", "-S", STUDY, "-s", swept, "--top", top, "-f", "json").stdout
    )
    assert [t["rank"] for t in data["trials"]] == [*range(1, top + 1), rank]
    assert [t["baseline"] for t in data["trials"]] == [False] * top + [True]
    csv_rows = _cells(invoke(cli, "best", "-S", STUDY, "-s", swept, "-n", top, "-f", "csv").stdout)
    assert [(r["rank"], r["baseline"]) for r in csv_rows][-1] == (str(rank), "True")
    table = invoke(cli, "best", "-S", STUDY, "-s", swept, "--top", top).stdout
    lines = table.splitlines()
    marked = next(i for i, line in enumerate(lines) if "baseline (notebook 003)" in line)
    assert re.match(rf"│ +{rank} │", lines[marked]), lines[marked]
    assert lines[marked - 1].startswith("├"), "no rule sets the baseline apart from the top"
    # Among the top it is listed once, where it ranks, with no rule.
    within = invoke(cli, "best", "-S", STUDY, "-s", swept, "--top", rank).stdout
    assert within.count("baseline") == 1 and "├" not in within


def test_show_gives_params_metrics_and_the_curve(cli, swept) -> None:
    data = json.loads(
        invoke(cli, "best", "--study", STUDY, "--storage", swept, "--format", "json").output
    )
    baseline = next(t["trial"] for t in data["trials"] if t["baseline"])
    result = invoke(cli, "show", baseline, "--study", STUDY, "--storage", swept)
    assert result.exit_code == 0, result.output
    assert "reproduces the recipe of notebook 003" in result.output
    # A parameter keeps its significant digits (0.001, not 0.001000; 3.2e-05, not 0.000032).
    assert re.search(r"learning_rate +│ 0\.001 +│", result.output), result.output
    assert "Per-epoch curve" in result.output
    curve = result.output.split("Per-epoch curve")[1]
    assert "│ 1 " in curve and "│ 2 " in curve


def test_studies_and_status_count_the_trials(cli, swept) -> None:
    studies = invoke(cli, "studies", "--storage", swept)
    assert STUDY in studies.output and "3/3" in studies.output
    status = invoke(cli, "status", "--study", STUDY, "--storage", swept)
    assert status.exit_code == 0
    assert f"{STUDY}: 3/3 finished" in status.output
    assert "exited" in status.output


def test_optuna_cli_reads_the_same_store(swept) -> None:
    from typer.testing import CliRunner

    out = subprocess.run(
        [
            str(Path(sys.executable).parent / "optuna"),
            "best-trial",
            "--study-name",
            STUDY,
            "--storage",
            swept,
            "-f",
            "json",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    best = json.loads(out)
    assert best["state"] == "COMPLETE"
    assert "learning_rate" in best["params"]
    # Named metric, and what our tables know as user attributes beside it.
    ours = json.loads(invoke(CliRunner(), "best", "-S", STUDY, "-s", swept, "-f", "json").output)
    top = ours["trials"][0]
    assert best["value"] == {"val_accuracy": pytest.approx(top["val_accuracy"], rel=1e-5)}
    attrs = best["user_attrs"]
    # `best` writes measured values at 6 significant digits.
    assert attrs["test_accuracy"] == pytest.approx(top["test_accuracy"], rel=1e-5)
    assert attrs["test_loss"] == pytest.approx(top["test_loss"], rel=1e-5)
    assert (attrs["best_epoch"], attrs["param_count"]) == (top["best_epoch"], top["params_count"])
    assert attrs["status"] == top["status"] == "complete"
    assert attrs["baseline"] == top["baseline"]
    assert attrs["val_loss"] == pytest.approx(top["val_loss"])
    assert attrs["epochs_run"] == top["epochs"] == 2  # the fixture's epochs, no pruner
    assert 0 < attrs["seconds_per_epoch"] < attrs["fit_seconds"]  # 2 epochs: the 2nd's time
    assert "failure_reason" not in attrs  # trained to its end: no reason it ended early


# TensorFlow stays out of the calling process of every command but these: the model commands
# import it in their spawned child (tests/test_models.py checks the caller stays clean), and
# the dashboard serves until stopped (tests/test_dashboard.py drives it).
MODEL_COMMANDS = {"model", "evaluate", "ensemble", "refit"}
SERVES = {"dashboard"}
# The other commands, each run below with TensorFlow's absence checked after it.
QUERIES = {"best", "studies", "show", "status", "export", "plot", "tensorboard", "devices"}
CATALOG = {"datasets", "spaces"}
SWEEPS = {"run", "resume", "worker"}


def _keep_tensorflow_out(commands: list[list[str]]) -> None:
    """Run ``commands`` in-process in a fresh interpreter: each must exit 0 and leave
    TensorFlow and Keras unimported there (their children may import them)."""
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from sweeps.cli import app\n"
        f"for args in {commands!r}:\n"
        "    result = CliRunner().invoke(app, args)\n"
        "    assert result.exit_code == 0, (args, result.output)\n"
        "    loaded = {'tensorflow', 'keras'} & set(sys.modules)\n"
        "    assert not loaded, f'sweeps {\" \".join(args)} imported {loaded}'\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=600)


def test_every_command_is_checked_for_tensorflow() -> None:
    from sweeps.cli import app

    names = {c.name or c.callback.__name__ for c in app.registered_commands}
    assert names == MODEL_COMMANDS | SERVES | QUERIES | CATALOG | SWEEPS


def test_queries_the_catalog_and_a_finished_study_keep_tensorflow_out(swept, tmp_path) -> None:
    """`spaces NAME` builds the space in a child; `resume` and `worker` of a finished study
    open it and stop."""
    study = ["-S", STUDY, "-s", swept]
    _keep_tensorflow_out(
        [
            ["best", *study],
            ["studies", "-s", swept],
            ["show", "0", *study],
            ["status", *study],
            ["export", *study, "--out", str(tmp_path)],
            ["plot", *study, "--out", str(tmp_path / "history.png")],
            ["tensorboard", *study],
            ["devices"],
            ["datasets"],
            ["spaces", "--brief"],
            ["spaces", "mnist_cnn"],
            ["resume", *study],
            ["worker", *study],
        ]
    )
    assert (tmp_path / "history.png").stat().st_size > 0


@pytest.mark.slow  # a sweep, and every space built once: three children import TensorFlow
def test_a_sweep_with_a_sweep_file_and_every_space_keep_tensorflow_out(cli, tmp_path) -> None:
    """The sweep-file check builds the space in a child, the trials train in workers, and
    `spaces` builds every space in one child."""
    config = tmp_path / "sweep.yaml"
    config.write_text(
        "trials: 1\nepochs: 1\nworkers: 1\nparameters:\n  dropout: {min: 0.0, max: 0.5}\n"
    )
    store = f"sqlite:///{tmp_path / 's.db'}"
    _keep_tensorflow_out([["run", "--config", str(config), "-s", store, "-S", "filed"], ["spaces"]])
    best = json.loads(invoke(cli, "best", "-S", "filed", "-s", store, "-f", "json").stdout)
    assert [t["status"] for t in best["trials"]] == ["complete"]


def test_best_and_export_do_not_import_pandas(swept, tmp_path) -> None:
    """The fast path: a 10-row table must not pay pandas' import (benchmarks/bench_queries.py
    times it on a 10,000-trial store)."""
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from sweeps.cli import app\n"
        f"for args in (['best', '-s', {swept!r}], ['best', '-s', {swept!r}, '-f', 'csv'],\n"
        f"             ['best', '-s', {swept!r}, '-f', 'json'],\n"
        f"             ['export', '-s', {swept!r}, '--out', {str(tmp_path)!r}],\n"
        f"             ['tensorboard', '-s', {swept!r}]):\n"
        "    result = CliRunner().invoke(app, args)\n"
        "    assert result.exit_code == 0, result.output\n"
        "assert 'pandas' not in sys.modules, 'pandas was imported'\n"
        "assert not {'tensorflow', 'keras'} & set(sys.modules), 'TensorFlow was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=120)


BAD_RUNS = [
    (["--space", "nope"], "unknown space 'nope'"),
    (["--dataset", "imagenet"], "imagenet"),
    (["--sampler", "annealing"], "--sampler must be one of"),
    (["--pruner", "sometimes"], "--pruner must be one of"),
    (["--trials", "0"], "--trials must be a positive integer"),
    (["--epochs", "-1"], "--epochs must be a positive integer"),
    (["--storage", "postgresql://u@127.0.0.1:1/nothing"], "cannot open storage"),
    (["--storage", "://what"], "not a database URL"),
    (["--storage", "/no/such/folder/x.db"], "does not exist"),
]


@pytest.mark.parametrize(("args", "message"), BAD_RUNS)
def test_bad_run_input_is_one_line_and_exit_2(cli, swept, args, message) -> None:
    storage = [] if any(a == "--storage" for a in args) else ["--storage", swept]
    before = _digest(swept)
    result = invoke(cli, "run", *storage, *args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert message in lines[0]
    assert "Traceback" not in result.output
    assert _digest(swept) == before, "bad input changed the store"


def test_an_existing_study_name_is_refused(cli, swept) -> None:
    result = invoke(cli, "run", "--storage", swept, "--study", STUDY)
    assert result.exit_code == 2
    assert f"sweeps resume --study {STUDY}" in result.stderr


@pytest.mark.parametrize(
    "command",
    [
        ["best", "--study", "ghost"],
        ["show", "0", "--study", "ghost"],
        ["resume", "-S", "ghost"],
        ["status", "--study", "ghost"],
        ["export", "--study", "ghost"],
        ["plot", "--study", "ghost"],
        ["model", "-S", "ghost"],
        ["evaluate", "-S", "ghost"],
        ["ensemble", "--study", "ghost"],
        ["ensemble", "-S", "ghost"],
        ["refit", "-S", "ghost"],
        ["tensorboard", "-S", "ghost"],
        ["dashboard", "-S", "ghost"],
    ],
)
def test_unknown_study_is_one_line(cli, swept, command) -> None:
    result = invoke(cli, *command, "--storage", swept)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert "study 'ghost' does not exist" in result.stderr and STUDY in result.stderr


def test_the_old_positional_study_still_works_with_a_note(cli, swept) -> None:
    old = invoke(cli, "status", STUDY, "--storage", swept)
    new = invoke(cli, "status", "--study", STUDY, "--storage", swept)
    assert old.exit_code == new.exit_code == 0
    assert old.stdout == new.stdout and f"{STUDY}: 3/3 finished" in new.stdout
    assert new.stderr == ""
    assert old.stderr.strip() == (
        "Note: `sweeps status STUDY` is deprecated and goes away in the next release; "
        f"write `sweeps status --study {STUDY}`."
    )
    best = invoke(cli, "best", STUDY, "--storage", swept, "--format", "csv")
    assert best.stdout == invoke(cli, "best", "-S", STUDY, "-s", swept, "-f", "csv").stdout
    both = invoke(cli, "best", STUDY, "--study", "other", "--storage", swept)
    assert both.exit_code == 2 and "got two studies" in both.stderr


# Every command that reads or continues a study; the others take none.
STUDY_COMMANDS = {
    "run", "resume", "worker", "status", "best", "show", "export", "plot", "dashboard",
    "tensorboard", "model", "evaluate", "ensemble", "refit",
}  # fmt: skip


def test_every_command_that_reads_a_study_takes_it_as_study_or_s(cli) -> None:
    import typer

    from sweeps.cli import app

    commands = typer.main.get_command(app).commands
    takes = {name for name, c in commands.items() if any(p.name == "study" for p in c.params)}
    assert takes == STUDY_COMMANDS, takes ^ STUDY_COMMANDS
    for name in sorted(STUDY_COMMANDS):
        [option] = [p for p in commands[name].params if p.name == "study"]
        assert set(option.opts) == {"--study", "-S"}, (name, option.opts)
        # The old positional spelling, where it exists, is hidden from help and usage.
        for legacy in (p for p in commands[name].params if p.name == "legacy_study"):
            assert legacy.hidden
        usage = invoke(cli, name, "--help").stdout
        assert "[STUDY]" not in usage and "--study" in usage, name


def test_hints_teach_the_current_form(cli, swept) -> None:
    """What ensemble and resume suggest is pasteable as written: `--study`, never the study
    as a positional, and --storage where the default would open another store."""
    where = f"--study {STUDY} --storage {swept}"
    result = invoke(cli, "ensemble", "-S", STUDY, "-s", swept, "--top", 9)
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert f"(`sweeps resume {where} --trials N`)" in result.stderr, result.stderr
    again = invoke(cli, "resume", "-S", STUDY, "-s", swept)
    assert again.exit_code == 0, again.output
    assert f"raise the budget to run more: `sweeps resume {where} --trials N`" in again.stderr
    shown = invoke(cli, "show", 1, "-S", STUDY, "-s", swept).stdout
    assert f"`sweeps model 1 {where}` writes it" in shown


# `sweeps best STUDY` in a message, or any study command followed by a positional that is not
# a trial number: the spelling the deprecation note retires.
_OLD_FORM = re.compile(
    r"`sweeps (best|status|resume|export|plot|ensemble|dashboard|tensorboard|worker) "
    r"(?!--|-[a-zA-Z]|STUDY`)[^`]*`"
)


def test_no_message_teaches_the_deprecated_positional_study() -> None:
    offenders = []
    for path in sorted((REPO / "sweeps").rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if _OLD_FORM.search(line) or re.search(r"`sweeps \w+ \{[^}]*(study|name)", line):
                offenders.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def test_worker_needs_a_study(cli, swept) -> None:
    result = invoke(cli, "worker", "--storage", swept)
    assert result.exit_code == 2 and "needs --study NAME" in result.stderr


def test_unknown_trial_and_bad_format(cli, swept) -> None:
    result = invoke(cli, "show", "999", "--study", STUDY, "--storage", swept)
    assert result.exit_code == 2 and "no recorded trial 999" in result.stderr
    result = invoke(cli, "best", "--study", STUDY, "--storage", swept, "--format", "xml")
    assert result.exit_code == 2 and "--format must be one of" in result.stderr


def test_truncated_dataset_file_is_one_line(cli, tmp_path, storage_url) -> None:
    (tmp_path / "data_batch_1.bin").write_bytes(b"\x01" * 3073 * 2 + b"\x00" * 10)
    (tmp_path / "test_batch.bin").write_bytes(b"\x01" * 3073)
    result = invoke(
        cli,
        "run",
        "--dataset",
        f"cifar10-bin:{tmp_path}",
        "--storage",
        storage_url,
        "--trials",
        1,
        "--epochs",
        1,
    )
    assert result.exit_code == 2, result.output
    assert "truncated" in result.stderr and result.stderr.count("\n") == 1


def test_datasets_and_spaces_list_what_exists(cli) -> None:
    datasets = invoke(cli, "datasets")
    assert "digits" in datasets.output and "cifar100" in datasets.output
    spaces = invoke(cli, "spaces", "--brief")
    for name in ("leaky_cnn", "mnist_cnn", "resnet", "xception"):
        assert name in spaces.output


def test_spaces_shows_tunables_with_ranges_and_defaults(cli) -> None:
    result = invoke(cli, "spaces", "leaky_cnn")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "notebook 002" in out and "79.13%" in out
    assert "learning_rate" in out and "[1e-05, 0.03] log" in out and "0.005" in out
    assert "adadelta 0.01..2" in out  # the learning-rate range follows the optimizer
    assert "decay_rate" in out and "schedule in {exponential, staircase}" in out
    assert "dropout_conv" in out and "0.25" in out


def test_devices_shows_cpu_slots_and_refuses_missing_gpus(cli) -> None:
    result = invoke(cli, "devices", "--workers", 2)
    assert result.exit_code == 0 and "cpu" in result.output
    missing = invoke(cli, "devices", "--gpus", "7")
    assert missing.exit_code == 2 and "--gpus asks for GPU 7" in missing.stderr


def test_queries_on_a_missing_store_create_nothing(cli, tmp_path) -> None:
    missing = tmp_path / "nothing.db"
    for command in (["best"], ["studies"], ["show", "1"]):
        result = invoke(cli, *command, "--storage", missing)
        assert result.exit_code == 2 and "does not exist" in result.stderr
    assert not missing.exists()


def test_missing_pretrained_weights_are_one_line_before_anything_starts(
    cli, tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    url = f"sqlite:///{tmp_path / 's.db'}"
    result = invoke(cli, "run", "--space", "xception", "--weights", "imagenet", "--storage", url)
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "--weights FILE" in result.stderr
    result = invoke(cli, "run", "--space", "mlp", "--weights", "w.h5", "--storage", url)
    assert result.exit_code == 2 and "takes no pretrained weights" in result.stderr
    assert not (tmp_path / "s.db").exists()  # refused before the store was touched


def test_export_writes_every_trial_and_epoch(cli, swept, tmp_path) -> None:
    other = tmp_path / "other-study-trials.csv"  # another study's export in the same folder
    other.write_text("number\n0\n")
    result = invoke(cli, "export", "--study", STUDY, "--storage", swept, "--out", tmp_path)
    assert result.exit_code == 0, result.output
    import pandas as pd

    # Named after the study: exports of two studies into one folder keep their own files.
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        f"{STUDY}-epochs.csv",
        f"{STUDY}-trials.csv",
        "other-study-trials.csv",
    ]
    assert other.read_text() == "number\n0\n"
    trials = pd.read_csv(tmp_path / f"{STUDY}-trials.csv")
    epochs = pd.read_csv(tmp_path / f"{STUDY}-epochs.csv")
    assert len(trials) == 3 and {"val_accuracy", "test_accuracy", "hp_learning_rate"} <= set(
        trials.columns
    )
    assert set(epochs["trial"]) == set(trials["number"])
    assert epochs.groupby("trial")["epoch"].max().le(2).all()


def _cells(text: str) -> list[dict[str, str]]:
    import csv
    import io

    return list(csv.DictReader(io.StringIO(text)))


def _significant(number: str) -> int:
    digits = number.lower().split("e")[0].replace("-", "").replace(".", "").lstrip("0")
    return len(digits)


def test_exports_write_metrics_without_float32_noise_and_parameters_exactly(
    cli, swept, tmp_path
) -> None:
    """val_accuracy 0.9618055820465088 (a float32 widened) is written 0.961806; a sampled
    learning rate such as 0.004155487389790504 keeps every digit it was trained with."""
    import sweeps

    assert invoke(cli, "export", "-S", STUDY, "-s", swept, "--out", tmp_path).exit_code == 0
    sampled = {int(r["trial"]): r["params"] for r in sweeps.load_study(STUDY, swept).ranking(3)}
    trials = _cells((tmp_path / f"{STUDY}-trials.csv").read_text())
    epochs = _cells((tmp_path / f"{STUDY}-epochs.csv").read_text())
    best = invoke(cli, "best", "-S", STUDY, "-s", swept, "-f", "csv").stdout
    as_json = json.loads(invoke(cli, "best", "-S", STUDY, "-s", swept, "-f", "json").stdout)
    measured = [row[k] for row in trials for k in ("val_accuracy", "test_loss", "wall_seconds")]
    measured += [row[k] for row in epochs for k in ("val_accuracy", "loss", "learning_rate")]
    measured += [row[k] for row in _cells(best) for k in ("val_accuracy", "test_loss")]
    measured += [str(t[k]) for t in as_json["trials"] for k in ("val_accuracy", "seconds")]
    assert measured and all(_significant(value) <= 6 for value in measured), measured
    assert any(_significant(value) == 6 for value in measured)  # rounded, not truncated
    for row in trials:  # the parameters as sampled: Optuna's float, every digit
        assert float(row["hp_learning_rate"]) == sampled[int(row["number"])]["learning_rate"]
    for trial in as_json["trials"]:
        assert trial["params"] == sampled[trial["trial"]]


@pytest.mark.parametrize(
    "kind",
    ["history", "curves", "params", "importance", "parallel", "contour", "slice", "intermediate"],
)
def test_plot_draws_an_image(cli, swept, tmp_path, kind) -> None:
    out = tmp_path / f"{kind}.png"
    result = invoke(cli, "plot", "--study", STUDY, "--storage", swept, "--kind", kind, "--out", out)
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
    bad = invoke(cli, "plot", "--study", STUDY, "--storage", swept, "--kind", "pie")
    assert bad.exit_code == 2 and "--kind must be one of" in bad.stderr


def _sweep_with(cli, url: str, sampler: str) -> None:
    result = invoke(
        cli, "run", "--sampler", sampler, "--trials", 2, "--epochs", 1, "--workers", 1,
        "--no-baseline", "--storage", url, "--study", sampler,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "2/2 trials finished" in result.output


def _workers_sampler(url: str, study: str):
    """The sampler a worker of ``study`` asks its trials from (the workers' own way in)."""
    from sweeps.optuna_study import open_handle

    return open_handle(study, url).study.sampler


@pytest.mark.slow
@pytest.mark.parametrize(
    "sampler, sampler_class",
    [("random", "RandomSampler"), ("qmc", "QMCSampler"), ("cmaes", "CmaEsSampler")],
)
def test_each_sampler_runs_a_sweep(cli, tmp_path, sampler, sampler_class) -> None:
    """The sweep finishes, and the sampler that proposed its trials is the one asked for: QMC
    leaves its sequence position in the study, CMA-ES its generation in the second trial."""
    import optuna

    url = f"sqlite:///{tmp_path / 's.db'}"
    _sweep_with(cli, url, sampler)
    assert type(_workers_sampler(url, sampler)).__name__ == sampler_class
    study = optuna.load_study(study_name=sampler, storage=url)
    study_keys = set(study._storage.get_study_system_attrs(study._study_id))
    trial_keys = {key for trial in study.trials for key in trial.system_attrs}
    assert any(k.startswith("qmc:") for k in study_keys) == (sampler == "qmc"), study_keys
    assert any(k.startswith("cma:") for k in trial_keys) == (sampler == "cmaes"), trial_keys


def test_gp_without_pytorch_is_one_line(tmp_path) -> None:
    """PyTorch made unimportable in a fresh process (whether or not it is installed)."""
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "from sweeps.cli import main\n"
        "sys.argv = ['sweeps', 'run', '--sampler', 'gp', '--storage', 's.db']\n"
        "main()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("Error:") and len(result.stderr.strip().splitlines()) == 1
    assert "pip install 'sweeps[gp]'" in result.stderr
    assert not (tmp_path / "s.db").exists()


@pytest.mark.slow
def test_gp_sampler_runs_a_sweep_when_pytorch_is_installed(cli, tmp_path) -> None:
    pytest.importorskip("torch", reason="the gp sampler needs PyTorch: pip install 'sweeps[gp]'")
    url = f"sqlite:///{tmp_path / 's.db'}"
    _sweep_with(cli, url, "gp")
    assert type(_workers_sampler(url, "gp")).__name__ == "GPSampler"


def test_plot_history_reads_no_epoch_rows_and_params_are_checked(cli, swept, tmp_path) -> None:
    import sqlalchemy as sa

    import sweeps

    statements: list[str] = []

    def record(conn, cursor, statement, *args) -> None:
        statements.append(statement)

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", record)
    try:
        study = sweeps.load_study(STUDY, swept)
        study.plot("history", tmp_path / "h.png")
        history = list(statements)
        study.plot("curves", tmp_path / "c.png")
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", record)
    assert history and not any("sweeps_epoch_metric" in q for q in history)
    assert any("sweeps_epoch_metric" in q for q in statements[len(history) :])
    out = tmp_path / "lr.png"
    result = invoke(
        cli,
        "plot",
        "-S",
        STUDY,
        "-s",
        swept,
        "--kind",
        "slice",
        "--params",
        "learning_rate",
        "--out",
        out,
    )
    assert result.exit_code == 0 and out.exists(), result.output
    bad = invoke(cli, "plot", "-S", STUDY, "-s", swept, "--kind", "contour", "--params", "lr")
    assert bad.exit_code == 2 and "has no parameter 'lr'" in bad.stderr

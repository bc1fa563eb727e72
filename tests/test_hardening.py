"""Bad input never costs a recorded result: one line, exit 2, the store and checkpoints untouched.

The table below holds every class of bad input seen so far, for every command; each case runs
against a real store with real checkpoints and asserts that both are byte-for-byte as before.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from tests.conftest import REPO, invoke
from tests.digests import folder_digest, store_rows
from tests.orchestration_helpers import Pause, query, results

STUDY = "kept"
SECRET = "s3cr3tpw"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A real store with two finished trials and their checkpoints, plus bad inputs on disk."""
    folder = tmp_path_factory.mktemp("hardening")
    db = folder / "sweeps.db"
    result = invoke(
        CliRunner(), "run", "--trials", 2, "--epochs", 1, "--storage", db, "--study", STUDY,
        "--pruner", "none",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    paths = {"db": db, "artifacts": folder / "sweeps-artifacts", "folder": folder}

    a_file = folder / "a-file.txt"
    a_file.write_text("not a folder, not a database")
    paths["file"] = a_file
    (folder / "a-dir").mkdir()
    paths["dir"] = folder / "a-dir"

    truncated = folder / "cifar-truncated"
    truncated.mkdir()
    (truncated / "data_batch_1.bin").write_bytes(b"\x01" * 3073 * 2 + b"\x00" * 10)
    (truncated / "test_batch.bin").write_bytes(b"\x01" * 3073)
    paths["cifar_truncated"] = truncated

    bad_labels = folder / "cifar-labels"
    bad_labels.mkdir()
    records = np.zeros((40, 3073), dtype=np.uint8)
    records[:, 0] = np.arange(40) % 10
    records[3, 0] = 200  # a label CIFAR-10 does not have
    (bad_labels / "data_batch_1.bin").write_bytes(records.tobytes())
    (bad_labels / "test_batch.bin").write_bytes(records[:20].tobytes())
    paths["cifar_labels"] = bad_labels

    def image_folder(name: str, counts: dict[str, int], broken: bool = False) -> Path:
        root = folder / name
        for label, n in counts.items():
            (root / label).mkdir(parents=True)
            for i in range(n):
                Image.fromarray(np.full((8, 8), i * 20, dtype=np.uint8)).save(
                    root / label / f"{i}.png"
                )
        if broken:
            (root / next(iter(counts)) / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
        return root

    paths["one_class"] = image_folder("one-class", {"cat": 10})
    paths["too_few"] = image_folder("too-few", {"cat": 2, "dog": 2})
    paths["undecodable"] = image_folder("undecodable", {"cat": 10, "dog": 10}, broken=True)

    corrupt = folder / "corrupt.weights.h5"
    corrupt.write_bytes(b"this is no HDF5 file")
    paths["corrupt_weights"] = corrupt
    bad_space = folder / "bad_space.py"
    bad_space.write_text("INFO = (\n")
    paths["bad_space"] = bad_space
    return paths


def _digest(paths: dict[str, Path]) -> tuple[str, dict[str, str]]:
    """The store's rows and every checkpoint file, hashed."""
    return store_rows(paths["db"]), folder_digest(paths["artifacts"])


HUGE = "99999999999999999999"
DB, FILE, DIR = "{db}", "{file}", "{dir}"

# (command line, a phrase the one error line must contain). {name} is replaced by the fixture's
# path of that name. Commands that write get --storage {db} unless they name a storage.
BAD_INPUTS = [
    # run: settings
    (["run", "--space", "nope"], "unknown space 'nope'"),
    (["run", "--space", "search_spaces.mlp:nope"], "has no attribute 'nope'"),
    (["run", "--space", "/no/such/space.py"], "does not exist"),
    (["run", "--space", "{bad_space}"], "fails to import"),
    (["run", "--dataset", "imagenet"], "unknown dataset 'imagenet'"),
    (["run", "--dataset", "folder:"], "names no folder"),
    (["run", "--sampler", "annealing"], "--sampler must be one of"),
    (["run", "--pruner", "sometimes"], "--pruner must be one of"),
    (["run", "--trials", "0"], "--trials must be a positive integer"),
    (["run", "--trials", HUGE], "--trials must be a positive integer (at most"),
    (["run", "--trials", "abc"], "Invalid value for '--trials'"),
    (["run", "--trials", "2.5"], "Invalid value for '--trials'"),
    (["run", "--epochs", "-1"], "--epochs must be a positive integer"),
    (["run", "--epochs", HUGE], "--epochs must be a positive integer"),
    (["run", "--seed", "-1"], "--seed must be an integer of 0 or more"),
    (["run", "--seed", HUGE], "--seed must be an integer of 0 or more"),
    (["run", "--workers", "0"], "--workers must be a positive integer"),
    (["run", "--workers", "5000"], "--workers must be a positive integer (at most 1024)"),
    (["run", "--patience", "-2"], "--patience must be an integer of 0 or more"),
    (["run", "--max-retries", "-1"], "--max-retries must be an integer of 0 or more"),
    (["run", "--max-consecutive-failures", "0"], "--max-consecutive-failures must be"),
    (["run", "--max-worker-memory-mb", HUGE], "--max-worker-memory-mb must be"),
    (["run", "--trials-per-gpu", "0"], "--trials-per-gpu must be a positive integer"),
    (["run", "--gpus", "a,b"], "--gpus must be a comma-separated list"),
    (["run", "--gpus", "7"], "--gpus asks for GPU 7"),
    (["run", "--bogus"], "No such option: --bogus"),
    (["run", "--val-fraction", "0.7"], "--val-fraction must be between 0 and 0.5"),
    (["run", "--val-fraction", "abc"], "Invalid value for '--val-fraction'"),
    # run: the study's name
    (["run", "--study", STUDY], f"study '{STUDY}' already exists"),
    (["run", "--study", ""], "--study must be 1 to 200 characters"),
    (["run", "--study", "x" * 600], "--study must be 1 to 200 characters"),
    (["run", "--study", "two\nlines"], "--study must be printable text"),
    # run: storage
    (["run", "--storage", "postgresql://u@127.0.0.1:1/nothing"], "cannot open storage"),
    (["run", "--storage", "://what"], "not a database URL"),
    (["run", "--storage", "/no/such/folder/x.db"], "does not exist"),
    (["run", "--storage", "sqlite://"], "in-memory SQLite"),
    (["run", "--storage", "sqlite:///:memory:"], "in-memory SQLite"),
    (["run", "--storage", DIR], "is a folder; give a file inside it"),
    (["run", "--storage", FILE], "cannot open storage"),
    (["run", "--storage", "mysql://u@127.0.0.1:1/db"], "mysql"),
    (["run", "--storage", ""], "storage '' is empty"),
    # run: files found broken before the study exists
    (["run", "--artifacts", FILE], "is not a folder"),
    (["run", "--artifacts", "{file}/sub"], "is not a folder"),
    (["run", "--dataset", "cifar10-bin:{cifar_truncated}"], "truncated"),
    (["run", "--dataset", "cifar10-bin:{cifar_labels}"], "has a record labelled 200"),
    (["run", "--dataset", "cifar10-bin:/no/such/dir"], "does not exist"),
    (["run", "--dataset", "folder:{one_class}"], "a classifier needs at least two"),
    (["run", "--dataset", "folder:{too_few}"], "cannot carve a stratified"),
    (["run", "--dataset", "folder:{undecodable}"], "cannot be decoded"),
    (["run", "--dataset", "folder:/no/such/dir"], "does not exist"),
    (["run", "--space", "xception", "--weights", "{corrupt_weights}"], "not a valid HDF5"),
    (["run", "--space", "xception", "--weights", "/no/such.h5"], "does not exist"),
    (["run", "--space", "mlp", "--weights", "{corrupt_weights}"], "takes no pretrained"),
    # resume and worker
    (["resume", "ghost"], "study 'ghost' does not exist"),
    (["resume", STUDY, "--trials", "1"], "can only raise the budget"),
    (["resume", STUDY, "--trials", HUGE], "--trials must be a positive integer"),
    (["resume", STUDY, "--storage", "sqlite://"], "in-memory SQLite"),
    (["worker", "ghost"], "study 'ghost' does not exist"),
    (["worker", STUDY, "--workers", "0"], "--workers must be a positive integer"),
    (["worker", STUDY, "--artifacts", FILE], "is not a folder"),
    (["status", "ghost"], "study 'ghost' does not exist"),
    # queries
    (["best", "ghost"], "study 'ghost' does not exist"),
    (["best", STUDY, "--format", "xml"], "--format must be one of"),
    (["best", STUDY, "--top", "0"], "--top must be a positive integer"),
    (["best", STUDY, "--top", HUGE], "--top must be a positive integer"),
    (["best", "--storage", "/no/such.db"], "does not exist"),
    (["best", "--storage", FILE], "cannot open storage"),
    (["show", HUGE, "--study", STUDY], "no recorded trial"),
    (["show", "-1", "--study", STUDY], "No such option: -1"),
    (["show", "999", "--study", STUDY], "no recorded trial 999"),
    (["show", "abc"], "Invalid value for 'trial'"),
    (["show", "0", "--study", "ghost"], "study 'ghost' does not exist"),
    (["studies", "--storage", "/no/such.db"], "does not exist"),
    (["studies", "--storage", DIR], "is a folder"),
    (["export", STUDY, "--out", "/no/such/dir"], "is not a folder"),
    (["export", STUDY, "--out", FILE], "is not a folder"),
    (["plot", STUDY, "--kind", "pie"], "--kind must be one of"),
    (["plot", STUDY, "--out", "x.gif"], "--out must end in .png, .pdf or .svg"),
    (["plot", STUDY, "--out", "/no/such/dir/x.png"], "folder"),
    (["spaces", "nope"], "unknown space 'nope'"),
    (["devices", "--gpus", "9"], "--gpus asks for GPU 9"),
    (["nosuchcommand"], "No such command"),
]


def _fill(args: list[str], paths: dict[str, Path]) -> list[str]:
    return [a.format(**{k: str(v) for k, v in paths.items()}) for a in args]


# Commands whose bad input is tested beside their own work (tests/test_models.py,
# test_dashboard.py, test_tensorboard.py) rather than in the table above.
TESTED_ELSEWHERE = {"model", "evaluate", "ensemble", "refit", "dashboard", "tensorboard"}


def test_every_command_that_opens_a_store_has_a_case() -> None:
    from typer.main import get_command

    from sweeps.cli import app

    commands = get_command(app).commands
    opens_a_store = {
        name for name, command in commands.items()
        if any("--storage" in param.opts for param in command.params)
    }  # fmt: skip
    covered = {args[0] for args, _ in BAD_INPUTS}
    assert opens_a_store - TESTED_ELSEWHERE <= covered, opens_a_store - TESTED_ELSEWHERE - covered
    assert TESTED_ELSEWHERE <= set(commands)


# Cases that start the preflight child (a TensorFlow start-up each) run in the full tier only.
CHILD_CASES = ("{bad_space}", "folder:{too_few}", "folder:{undecodable}")


@pytest.mark.parametrize(
    ("args", "phrase"),
    [
        pytest.param(
            args, phrase, id=" ".join(args),
            marks=[pytest.mark.slow] if set(CHILD_CASES) & set(args) else [],
        )
        for args, phrase in BAD_INPUTS
    ],
)  # fmt: skip
def test_bad_input_is_one_line_exit_2_and_changes_nothing(store, args, phrase, monkeypatch) -> None:
    monkeypatch.chdir(store["folder"])
    args = _fill(args, store)
    if args[0] in ("run", "resume", "worker", "status", "best", "show", "export", "plot") and (
        "--storage" not in args
    ):
        args += ["--storage", str(store["db"])]
    before = _digest(store)
    studies_before = sorted(p.name for p in store["artifacts"].iterdir())
    result = invoke(CliRunner(), *args)
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert phrase in lines[0], lines[0]
    assert "Traceback" not in result.output
    assert _digest(store) == before, "bad input changed the store or a checkpoint"
    assert sorted(p.name for p in store["artifacts"].iterdir()) == studies_before


def test_offline_mnist_with_nothing_cached_is_one_line_before_the_study(
    store, tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    db = tmp_path / "s.db"
    result = invoke(CliRunner(), "run", "--dataset", "mnist", "--storage", db)
    assert result.exit_code == 2 and result.stderr.count("\n") == 1, result.output
    assert "mnist" in result.stderr and not db.exists()


@pytest.mark.slow
def test_two_stores_in_one_folder_never_share_checkpoints(tmp_path) -> None:
    runner = CliRunner()
    for db in ("one.db", "two.db"):
        result = invoke(
            runner, "run", "--trials", 1, "--epochs", 1, "--no-baseline", "--storage",
            tmp_path / db, "--study", "good",
        )  # fmt: skip
        assert result.exit_code == 0, result.output
    rows = {
        db: query(f"sqlite:///{tmp_path / db}", "SELECT checkpoint_dir FROM sweeps_trial_result")
        for db in ("one.db", "two.db")
    }
    one, two = Path(rows["one.db"][0][0]), Path(rows["two.db"][0][0])
    assert one != two and one.parent != two.parent
    assert one.is_relative_to(tmp_path / "sweeps-artifacts")
    assert (one / "state.json").is_file() and (two / "state.json").is_file()
    assert one.parent.name.startswith("good-") and two.parent.name.startswith("good-")


@pytest.mark.slow
def test_a_study_name_never_reaches_the_file_system(tmp_path) -> None:
    result = invoke(
        CliRunner(), "run", "--trials", 1, "--epochs", 1, "--no-baseline", "--storage",
        tmp_path / "s.db", "--study", "../../escape/../x",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    folder = Path(query(f"sqlite:///{tmp_path / 's.db'}", "SELECT checkpoint_dir FROM "
                        "sweeps_trial_result")[0][0])  # fmt: skip
    assert folder.resolve().is_relative_to((tmp_path / "sweeps-artifacts").resolve())
    assert not (tmp_path.parent / "escape").exists()


def test_no_credential_is_ever_printed_or_stored(tmp_path) -> None:
    urls = [
        f"postgresql://user:{SECRET}@127.0.0.1:1/db",
        f"postgresql://127.0.0.1:1/db?password={SECRET}",
        f"postgresql://127.0.0.1:1/db?sslmode=disable&sslpassword={SECRET}",
        f"postgresql://user:{SECRET}@x@127.0.0.1:1/db",  # an unencoded @ inside the password
        f"postgresql://user:{SECRET}/x@127.0.0.1:1/db",
    ]
    for url in urls:
        for command in (["run"], ["best"], ["studies"], ["resume", "s"]):
            result = invoke(CliRunner(), *command, "--storage", url)
            assert result.exit_code == 2, result.output
            assert SECRET not in result.output and "x@127" not in result.output, result.output
            assert "***" in result.output


def test_a_foreign_optuna_store_is_read_without_being_changed(tmp_path) -> None:
    import optuna

    db = tmp_path / "foreign.db"
    optuna.create_study(study_name="theirs", storage=f"sqlite:///{db}").optimize(
        lambda t: t.suggest_float("x", 0, 1), n_trials=2
    )
    before = db.read_bytes()
    best = invoke(CliRunner(), "best", "--storage", db)
    assert best.exit_code == 2 and "'theirs' were not made by sweeps" in best.stderr
    named = invoke(CliRunner(), "best", "theirs", "--storage", db)
    assert named.exit_code == 2 and "Optuna study that sweeps did not make" in named.stderr
    for command in (["resume", "theirs"], ["worker", "theirs"], ["status", "theirs"]):
        refused = invoke(CliRunner(), *command, "--storage", db)
        assert refused.exit_code == 2 and "sweeps did not make" in refused.stderr
    studies = invoke(CliRunner(), "studies", "--storage", db)
    assert studies.exit_code == 0 and "not made by sweeps" in studies.output
    assert "theirs" in studies.output
    assert db.read_bytes() == before, "a read-only command changed the file"
    assert not Path(f"{db}-wal").exists(), "a read-only command switched the store to WAL"


def test_a_worker_with_nothing_to_do_says_so_without_starting(store) -> None:
    before = _digest(store)
    result = invoke(CliRunner(), "worker", STUDY, "--storage", store["db"])
    assert result.exit_code == 0 and "nothing to do" in result.stderr
    assert _digest(store) == before  # no worker was recorded


@pytest.mark.slow
def test_run_prints_no_tensorflow_start_up_lines(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL",)}
    out = subprocess.run(
        [sys.executable, "-m", "sweeps", "run", "--trials", "1", "--epochs", "1",
         "--no-baseline", "--storage", str(tmp_path / "s.db")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    for noise in ("absl", "oneDNN", "cuda", "I0000", "W0000"):
        assert noise not in out.stderr + out.stdout, noise
    spaces = subprocess.run(
        [sys.executable, "-m", "sweeps", "spaces", "mlp"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert spaces.returncode == 0 and "absl" not in spaces.stderr and "oneDNN" not in spaces.stderr
    shown = subprocess.run(
        [sys.executable, "-m", "sweeps", "spaces", "mlp"],
        cwd=tmp_path, env={**env, "SWEEPS_TF_LOGS": "1"}, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert "oneDNN" in shown.stderr or "absl" in shown.stderr  # the way to see them stays


def _sweep(tmp_path: Path, *args: object, env: dict[str, str] | None = None):
    return subprocess.Popen(
        [sys.executable, "-m", "sweeps", "run", "--storage", tmp_path / "s.db", *map(str, args)],
        cwd=tmp_path, env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip


@pytest.mark.slow
def test_a_kill_between_checkpoint_and_epoch_record_leaves_no_hole(tmp_path) -> None:
    """The worker kills itself right after epoch 2's checkpoint, before the store records the
    epoch; the retry's curve still holds every epoch exactly once."""
    run = _sweep(
        tmp_path, "--study", "cut", "--trials", 1, "--epochs", 4, "--no-baseline",
        "--pruner", "none", "--patience", 0,
        env={"SWEEPS_TEST_CRASH_AFTER_CHECKPOINT": "2"},
    )  # fmt: skip
    output, _ = run.communicate(timeout=300)
    assert run.returncode == 0, output
    url = f"sqlite:///{tmp_path / 's.db'}"
    trials = results(url)
    lost = trials[0]
    assert lost["status"] == "lost" and "after finishing 1" in lost["failure_reason"], lost
    assert lost["epochs_run"] == 1
    retry = next(t for t in trials.values() if t["retry_of"] == 0)
    assert retry["status"] == "complete" and retry["resumed_from_epoch"] == 2
    curve = query(
        url, "SELECT epoch, restored FROM sweeps_epoch_metric WHERE trial_id = :t ORDER BY epoch",
        t=retry["trial_id"],
    )  # fmt: skip
    assert [e for e, _ in curve] == [1, 2, 3, 4]
    assert [bool(r) for _, r in curve] == [True, True, False, False]


@pytest.mark.slow
def test_killing_the_resource_tracker_prints_no_traceback(tmp_path) -> None:
    pause = Pause(tmp_path, epoch=1)
    run = _sweep(
        tmp_path, "--study", "rt", "--trials", 2, "--epochs", 2, "--workers", 1,
        "--no-baseline", "--pruner", "none", "--max-trials-per-worker", 1, env=pause.env,
    )  # fmt: skip
    try:
        pause.wait(process=run)
        trackers = subprocess.run(
            ["pgrep", "-P", str(run.pid), "-f", "resource_tracker"],
            capture_output=True, text=True,
        ).stdout.split()  # fmt: skip
        assert trackers, "no resource tracker to kill"
        for pid in trackers:
            os.kill(int(pid), signal.SIGKILL)
        pause.release()
        output, _ = run.communicate(timeout=300)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
    assert run.returncode == 0, output
    assert "Traceback" not in output and "KeyError" not in output, output
    assert "2/2 trials finished" in output


@pytest.mark.slow
def test_a_sweep_that_dies_before_its_first_trial_leaves_nothing(tmp_path) -> None:
    """A space that imports in the caller and in the preflight's child but not in a worker:
    the study is removed again. (One that cannot import in any child is refused before the
    study exists: tests/test_bad_input_preflight.py.)"""
    space = tmp_path / "dies_in_workers.py"
    space.write_text(
        (REPO / "tests" / "spaces" / "flaky_space.py").read_text() + "\nimport multiprocessing\n"
        "if multiprocessing.current_process().name.startswith('sweeps-worker-'):\n"
        "    raise RuntimeError('this space cannot load in a worker')\n"
    )
    db = tmp_path / "s.db"
    result = invoke(CliRunner(), "run", "--space", space, "--storage", db, "--study", "early")
    assert result.exit_code == 1, result.output
    assert "before its first trial" in result.stderr and "removed" in result.stderr
    url = f"sqlite:///{db}"
    assert query(url, "SELECT count(*) FROM studies") == [(0,)]
    assert query(url, "SELECT count(*) FROM sweeps_sweep") == [(0,)]
    assert not any((tmp_path / "sweeps-artifacts").iterdir())
    again = invoke(CliRunner(), "best", "--storage", db)  # nothing left to be "the newest"
    assert again.exit_code == 2 and "holds no sweeps" in again.stderr

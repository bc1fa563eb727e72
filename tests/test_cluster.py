"""Ray without a cluster: the actor plan, the shared-storage checks, and the one-line errors of
``--ray`` (Ray missing, no cluster at the address). The real clusters are in test_ray_cluster.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from sweeps.cluster import ActorPlan, SharedChecks, check_sqlite_hosts, plan_actors
from sweeps.cluster.shared_storage import MARKER, absolute_sqlite_url
from sweeps.config import SweepConfig, SweepSpec
from sweeps.devices import WorkerPlace, describe_device
from sweeps.errors import ConfigError
from sweeps.protocol import WorkerOptions
from tests.conftest import invoke


def _plan(free_cpus: float = 8, free_gpus: float = 0, largest: float = 4, **config) -> ActorPlan:
    return plan_actors(
        SweepConfig(SweepSpec(**config).validate()),
        free_cpus=free_cpus,
        free_gpus=free_gpus,
        largest_node_cpus=largest,
    )


def test_one_actor_per_free_gpu_or_a_share_of_one() -> None:
    assert _plan(free_gpus=3) == ActorPlan(3, 1, 1.0)
    assert _plan(free_gpus=2, trials_per_gpu=2, worker_cpus=2) == ActorPlan(4, 2, 0.5)
    # Workers follow the GPUs, as --gpus does on one machine.
    assert _plan(free_gpus=1, workers=5) == ActorPlan(1, 1, 1.0)


def test_cpu_actors_are_workers_of_worker_cpus_each() -> None:
    assert _plan(workers=3, worker_cpus=2) == ActorPlan(3, 2, 0.0)
    # Unasked: one per free worker_cpus CPUs, at most a quarter of the trials.
    assert _plan(free_cpus=8, trials=16) == ActorPlan(4, 1, 0.0)
    assert _plan(free_cpus=8, trials=64, worker_cpus=4) == ActorPlan(2, 4, 0.0)
    assert [s.threads for s in _plan(workers=2, worker_cpus=3).slots()] == [3, 3]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"gpus": [0]}, "with ray Ray assigns each worker its GPU; drop gpus"),
        ({"worker_cpus": 8}, "worker_cpus=8 is more than any node of the Ray cluster has"),
        ({"free_cpus": 0}, "the Ray cluster has no free GPU and 0 free CPUs"),
    ],
)
def test_a_plan_the_cluster_cannot_hold_is_one_line(settings, message) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        _plan(**settings)


def test_sqlite_is_refused_across_hosts_and_fine_on_one() -> None:
    check_sqlite_hosts("sqlite:////data/sweeps.db", {"10.0.0.1"})
    check_sqlite_hosts("postgresql://u@db/sweeps", {"10.0.0.1", "10.0.0.2"})
    with pytest.raises(ConfigError) as refused:
        check_sqlite_hosts("sqlite:////data/sweeps.db", {"10.0.0.1", "10.0.0.2"})
    assert str(refused.value) == (
        "SQLite works on one host, but this sweep's Ray workers run on 2 hosts "
        "(10.0.0.1, 10.0.0.2); use PostgreSQL: storage='postgresql://USER@HOST/DB'."
    )


def test_an_actor_sees_the_drivers_token_or_names_its_node(tmp_path: Path) -> None:
    folder = tmp_path / "study-abc"
    checks = SharedChecks.written(folder, "10.0.0.1", "postgresql://u@db/sweeps")
    assert (folder / MARKER).read_text() == checks.token
    assert checks.problem("0123abcd@10.0.0.2", "10.0.0.2") is None
    assert SharedChecks.written(folder, "10.0.0.1", "postgresql://u@db/sweeps") == checks
    # The same path on a node's own disk: there, but not the driver's folder.
    (folder / MARKER).write_text("another disk's token")
    problem = checks.problem("0123abcd@10.0.0.2", "10.0.0.2")
    assert problem == (
        f"the artifacts folder {folder} is not visible from Ray node 0123abcd@10.0.0.2: "
        "checkpoints must be on storage every node sees at the same path; mount it there, "
        "or give a shared folder with artifacts"
    )
    sqlite = SharedChecks.written(folder, "10.0.0.1", "sqlite:////data/sweeps.db")
    assert sqlite.problem("aaaa0000@10.0.0.1", "10.0.0.1") is None
    assert "Ray node bbbb1111@10.0.0.2 is on another host than the sweep's SQLite store" in (
        sqlite.problem("bbbb1111@10.0.0.2", "10.0.0.2")
    )


def test_actors_open_a_relative_sqlite_path_where_the_driver_meant(monkeypatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)
    assert absolute_sqlite_url("sqlite:///s.db") == f"sqlite:///{tmp_path / 's.db'}"
    assert absolute_sqlite_url("sqlite:////abs/s.db") == "sqlite:////abs/s.db"
    assert absolute_sqlite_url("postgresql://u:pw@db/x") == "postgresql://u:pw@db/x"


def test_the_device_column_holds_the_ray_node_and_reads_back() -> None:
    options = WorkerOptions(
        "s", "url", device="cpu", device_note="gpu:1 not visible", ray_node="0123abcd@10.0.0.2"
    )
    text = describe_device(options)
    assert text == "cpu (gpu:1 not visible) ray:0123abcd@10.0.0.2"
    assert WorkerPlace.parse(text) == WorkerPlace("cpu (gpu:1 not visible)", "0123abcd@10.0.0.2")
    assert WorkerPlace.parse("gpu:0") == WorkerPlace("gpu:0", "")
    long = WorkerOptions("s", "u", device="cpu", device_note="x" * 80, ray_node="0123abcd@h")
    assert len(describe_device(long)) == 64 and describe_device(long).endswith(" ray:0123abcd@h")


@pytest.mark.parametrize(
    "command",
    [
        ["run", "--trials", "2"],
        ["resume", "--study", "s"],
        ["worker", "--study", "s"],
    ],
    ids=lambda c: c[0],
)
def test_ray_missing_is_one_line_naming_the_extra(cli, monkeypatch, tmp_path, command) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails as if not installed
    store = tmp_path / "sweeps.db"
    result = invoke(cli, *command, "--storage", store, "--ray", "auto")
    assert result.exit_code == 2, result.output
    assert result.stderr == (
        "Error: --ray needs Ray, which is not installed; install it with: "
        "pip install 'sweeps[ray]'\n"
    )
    assert not store.exists()


def test_no_cluster_at_the_address_is_one_line_at_once(cli, tmp_path) -> None:
    pytest.importorskip("ray", reason="Ray is not installed: pip install 'sweeps[ray]'")
    import socket

    with socket.socket() as unused:  # a port nothing listens on
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    store = tmp_path / "sweeps.db"
    result = invoke(cli, "run", "--trials", 2, "--storage", store, "--ray", f"127.0.0.1:{port}")
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"--ray 127.0.0.1:{port}: no Ray cluster answers at" in lines[0]
    assert not store.exists()


EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "cluster"


def _options_of(command: str) -> set[str]:
    from typer.main import get_command

    from sweeps.cli import app

    params = get_command(app).commands[command].params
    return {opt for param in params for opt in (*param.opts, *param.secondary_opts)}


def _slurm_worker_line() -> list[str]:
    import shlex

    text = (EXAMPLES / "slurm-workers.sbatch").read_text().replace("\\\n", " ")
    (line,) = [line for line in text.splitlines() if line.startswith("srun sweeps worker")]
    return shlex.split(line)[1:]


def _k8s_worker_line() -> list[str]:
    import yaml

    job = yaml.safe_load((EXAMPLES / "k8s-workers-job.yaml").read_text())
    (container,) = job["spec"]["template"]["spec"]["containers"]
    return [*container["command"], *container["args"]]


@pytest.mark.parametrize("line", [_slurm_worker_line, _k8s_worker_line], ids=["slurm", "k8s"])
def test_the_cluster_examples_run_sweeps_worker_with_real_options(line) -> None:
    words = line()
    assert words[:2] == ["sweeps", "worker"]
    given = {w for w in words if w.startswith("-")}
    assert {"--study", "--storage", "--artifacts", "--gpus"} <= given
    assert given <= _options_of("worker"), given - _options_of("worker")


def test_bad_worker_cpus_is_one_line_before_anything(cli, tmp_path) -> None:
    store = tmp_path / "sweeps.db"
    result = invoke(cli, "run", "--storage", store, "--ray", "auto", "--worker-cpus", 0)
    assert result.exit_code == 2, result.output
    assert result.stderr == (
        "Error: --worker-cpus must be a positive integer (at most 1024), but got 0.\n"
    )
    assert not store.exists()

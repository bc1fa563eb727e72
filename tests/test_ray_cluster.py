"""Sweeps on real multi-node Ray clusters, all on one machine and on loopback.

Each cluster is ``ray.cluster_utils.Cluster``: a head with no CPUs (no actor lands there) and
worker nodes with logical GPUs (``num_gpus``), which Ray assigns as it would real ones; here
TensorFlow sees none, so every worker trains on the CPU and records that it did. Nodes on
127.0.0.2 stand for a second host. Kills and node losses happen on the trainer's test pause
(tests/README.md, "Signals on events, not on durations"), never after a guessed duration.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from sweeps.devices import WorkerPlace
from sweeps.reaper import pid_alive
from tests.conftest import invoke, sweeps_process
from tests.orchestration_helpers import (
    Output,
    Pause,
    finished,
    kill_group,
    query,
    results,
    wait_for,
)

ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'sweeps[ray]'")
from ray.cluster_utils import Cluster  # noqa: E402

pytestmark = pytest.mark.slow  # every test here starts a cluster and TensorFlow in its actors

HOST = "127.0.0.1"
OTHER_HOST = "127.0.0.2"  # loopback too: a second "host" to Ray


def _cluster(*nodes: dict) -> Cluster:
    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 0, "node_ip_address": HOST, "include_dashboard": False},
    )
    for node in nodes:
        cluster.add_node(**{"num_cpus": 1, "node_ip_address": HOST, **node})
    cluster.wait_for_nodes()
    return cluster


@pytest.fixture
def two_gpu_nodes() -> Iterator[Cluster]:
    cluster = _cluster({"num_gpus": 1}, {"num_gpus": 1})
    yield cluster
    cluster.shutdown()


def _sweep_args(url: str, study: str, trials: int, epochs: int) -> list[object]:
    return [
        "--trials", trials, "--epochs", epochs, "--storage", url, "--study", study,
        "--pruner", "none", "--patience", 0, "--no-lr-range-test", "--no-tensorboard",
    ]  # fmt: skip


def _workers(url: str) -> list[dict]:
    rows = query(url, "SELECT id, host, pid, device, state, trial_id, epoch FROM sweeps_worker")
    keys = ("id", "host", "pid", "device", "state", "trial_id", "epoch")
    found = [dict(zip(keys, row, strict=True)) for row in rows]
    for worker in found:
        worker["place"] = WorkerPlace.parse(worker["device"])
    return found


def _lineage(trials: dict[int, dict], number: int) -> int:
    while trials[number]["retry_of"] is not None:
        number = trials[number]["retry_of"]
    return number


def _worker_of(url: str, trial_id: int) -> dict:
    ((worker,),) = query(
        url, "SELECT worker FROM sweeps_trial_result WHERE trial_id = :t", t=trial_id
    )
    pid = int(worker.rpartition(":")[2])
    return next(w for w in _workers(url) if w["pid"] == pid)


def test_one_actor_per_gpu_each_pinned_to_the_gpu_ray_assigned(tmp_path: Path, cli) -> None:
    """Three logical GPUs on two nodes: three workers, each on its own (node, GPU)."""
    cluster = _cluster({"num_gpus": 2, "num_cpus": 2}, {"num_gpus": 1})
    try:
        url = f"sqlite:///{tmp_path / 'sweeps.db'}"
        result = invoke(cli, "run", "--ray", cluster.address, *_sweep_args(url, "placed", 3, 1))
        assert result.exit_code == 0, result.output
        assert "3 Ray worker(s) (1 CPU, 1 GPU each)" in result.stderr
        assert "gpu:0 not visible to TensorFlow: on the CPU" in result.stderr
    finally:
        cluster.shutdown()
    places = [w["place"] for w in _workers(url)]
    assert len(places) == 3
    # Each recorded the GPU Ray assigned it, which TensorFlow could not see here.
    gpus = [
        (p.ray_node, p.device.removeprefix("cpu (").removesuffix(" not visible)")) for p in places
    ]
    assert len(set(gpus)) == 3, gpus
    by_node = Counter(node for node, _ in gpus)
    assert sorted(by_node.values()) == [1, 2]
    two = next(node for node, count in by_node.items() if count == 2)
    assert sorted(gpu for node, gpu in gpus if node == two) == ["gpu:0", "gpu:1"]
    assert finished(url, "placed") == 3
    status = invoke(cli, "status", "--study", "placed", "--storage", url)
    assert "ray node" in status.stdout and two.split("@")[0] in status.stdout


def test_sqlite_across_two_hosts_is_refused_in_one_line(tmp_path: Path, cli) -> None:
    cluster = _cluster({"num_gpus": 1}, {"num_gpus": 1, "node_ip_address": OTHER_HOST})
    try:
        store = tmp_path / "sweeps.db"
        result = invoke(cli, "run", "--ray", cluster.address, *_sweep_args(store, "s", 2, 1))
    finally:
        cluster.shutdown()
    assert result.exit_code == 2, result.output
    assert result.stderr == (
        "Error: SQLite works on one host, but this sweep's Ray workers run on 2 hosts "
        f"({HOST}, {OTHER_HOST}); use PostgreSQL: --storage postgresql://USER@HOST/DB.\n"
    )
    assert not store.exists()


def test_postgresql_runs_a_sweep_across_two_hosts(tmp_path: Path, cli, postgres_url) -> None:
    cluster = _cluster({"num_gpus": 1}, {"num_gpus": 1, "node_ip_address": OTHER_HOST})
    try:
        args = _sweep_args(postgres_url, "two-hosts", 2, 1)
        result = invoke(cli, "run", "--ray", cluster.address, *args, "--artifacts", tmp_path)
    finally:
        cluster.shutdown()
    assert result.exit_code == 0, result.output
    assert finished(postgres_url, "two-hosts") == 2
    hosts = {w["place"].ray_node.split("@")[1] for w in _workers(postgres_url)}
    assert hosts == {HOST, OTHER_HOST}


def test_an_actor_on_a_node_that_cannot_see_the_folder_names_it(tmp_path: Path) -> None:
    """The check runs in a real actor on the other "host": its one line names that node."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from sweeps.cluster import SharedChecks
    from sweeps.cluster.actor import WorkerActor
    from sweeps.protocol import WorkerExit, WorkerFatal, WorkerOptions

    cluster = _cluster({}, {"node_ip_address": OTHER_HOST})
    try:
        ray.init(address=cluster.address)
        other = next(n["NodeID"] for n in ray.nodes() if n["NodeManagerAddress"] == OTHER_HOST)
        checks = SharedChecks.written(tmp_path / "study", HOST, "postgresql://u@db/sweeps")
        (tmp_path / "study" / ".sweeps-shared").write_text("another disk's token")
        actor = (
            ray.remote(WorkerActor)
            .options(
                num_cpus=1,
                max_concurrency=2,
                scheduling_strategy=NodeAffinitySchedulingStrategy(other, soft=False),
            )
            .remote(checks)
        )
        code = ray.get(actor.run.remote(WorkerOptions("s", "postgresql://u@db/sweeps")))
        (event,) = ray.get(actor.next_events.remote(0))
    finally:
        ray.shutdown()
        cluster.shutdown()
    assert code == WorkerExit.FATAL
    assert isinstance(event, WorkerFatal)
    assert event.reason.startswith(
        f"the artifacts folder {tmp_path / 'study'} is not visible from Ray node {other[:8]}@"
        f"{OTHER_HOST}: checkpoints must be on storage every node sees"
    )


def test_a_lost_node_costs_its_epochs_and_a_lost_driver_resumes(
    tmp_path: Path, two_gpu_nodes: Cluster
) -> None:
    """Both workers pause after epoch 1; the node under the first is removed and a fresh one
    added: its trial continues from epoch 1 on the new node (the other worker is paused).
    Then the driver is killed with both workers paused again, and `sweeps resume --ray`
    finishes the budget: exact, every lost trial from its checkpoint, no lineage twice."""
    cluster, study = two_gpu_nodes, "node-loss"
    url = f"sqlite:///{tmp_path / 'sweeps.db'}"
    pause = Pause(tmp_path, epoch=1)
    args = _sweep_args(url, study, trials=4, epochs=3)
    driver = sweeps_process("run", "--ray", cluster.address, *args, cwd=tmp_path, env=pause.env)
    output = Output(driver)
    try:
        pid, number, _ = pause.wait(process=driver)
        lost = next(w for w in _workers(url) if w["pid"] == pid)
        lost_node = next(
            n for n in cluster.worker_nodes
            if n.node_id.startswith(lost["place"].ray_node.split("@")[0])
        )  # fmt: skip
        fresh = cluster.add_node(num_cpus=1, num_gpus=1, node_ip_address=HOST)
        cluster.remove_node(lost_node)

        def retry_done():
            trials = results(url)
            return next(
                (
                    t
                    for t in trials.values()
                    if t["retry_of"] == number and t["status"] == "complete"
                ),
                None,
            )

        retry = wait_for(retry_done, 600, f"the retry of trial {number} to complete")
        assert retry["resumed_from_epoch"] == 1, retry
        assert _worker_of(url, retry["trial_id"])["place"].ray_node.startswith(fresh.node_id[:8])

        def both_paused():  # each alive worker recorded epoch 1 of a trial: it waits there
            alive = [w for w in _workers(url) if w["state"] in ("idle", "training")]
            return len(alive) == 2 and all(w["epoch"] == 1 for w in alive) and alive

        paused = wait_for(both_paused, 600, "both workers paused after epoch 1")
        kill_group(driver)  # the driver dies; Ray ends the actors it owned
        wait_for(lambda: not any(pid_alive(w["pid"]) for w in paused), 120, "the actors to end")
    finally:
        kill_group(driver)
    pause.release()
    assert "worker" in output.text and "died" in output.text, output.text

    resume = sweeps_process(
        "resume", "--ray", cluster.address, "--study", study, "--storage", url, cwd=tmp_path
    )
    text = Output(resume).finish(timeout=900)
    assert resume.returncode == 0, text
    assert finished(url, study) == 4
    assert all(w["place"].ray_node for w in _workers(url))  # every worker was an actor
    trials = results(url)
    done = [n for n, t in trials.items() if t["status"] in ("complete", "pruned")]
    assert len(done) == 4
    lineages = Counter(_lineage(trials, n) for n in done)
    assert max(lineages.values()) == 1, lineages
    lost_trials = [n for n, t in trials.items() if t["status"] == "lost"]
    assert len(lost_trials) == 3  # one with the node, two with the driver
    for n in lost_trials:
        retry = next(t for t in trials.values() if t["retry_of"] == n)
        assert retry["resumed_from_epoch"] == 1 and retry["status"] == "complete", retry


def test_sweeps_worker_adds_actors_and_status_shows_ray(tmp_path: Path, cli) -> None:
    """A sweep on a one-GPU cluster; a node joins and `sweeps worker --ray` puts an actor on its
    free GPU; with both paused mid-trial, status shows two Ray nodes and both GPUs in use."""
    cluster, study = _cluster({"num_gpus": 1}), "joined"
    url = f"sqlite:///{tmp_path / 'sweeps.db'}"
    pause = Pause(tmp_path, epoch=1)
    args = _sweep_args(url, study, trials=3, epochs=2)
    driver = sweeps_process("run", "--ray", cluster.address, *args, cwd=tmp_path, env=pause.env)
    ran, joiner = Output(driver), None
    try:
        pause.wait(process=driver)
        cluster.add_node(num_cpus=1, num_gpus=1, node_ip_address=HOST)
        joiner = sweeps_process(
            "worker", "--ray", cluster.address, "--study", study, "--storage", url,
            cwd=tmp_path, env=pause.env,
        )  # fmt: skip
        joined = Output(joiner)

        def both_paused():
            alive = [w for w in _workers(url) if w["state"] in ("idle", "training")]
            return len(alive) == 2 and all(w["epoch"] == 1 for w in alive) and alive

        paused = wait_for(both_paused, 600, "both workers paused after epoch 1")
        assert len({w["place"].ray_node for w in paused}) == 2
        status = invoke(cli, "status", "--study", study, "--storage", url, "--ray", cluster.address)
        assert status.exit_code == 0, status.output
        assert "3 node(s), CPU 2/2 in use, GPU 2/2 in use" in status.stdout, status.stdout
        pause.release()
        assert "joining with 1 Ray worker(s) (1 CPU, 1 GPU each)" in joined.finish(600)
        ran.finish(600)
        assert driver.returncode == 0 and joiner.returncode == 0, ran.text + joined.text
    finally:
        kill_group(driver)
        if joiner is not None:
            kill_group(joiner)
        cluster.shutdown()
    assert finished(url, study) == 3


def test_ctrl_c_stops_the_actors_gracefully_and_resume_continues(tmp_path: Path) -> None:
    """Ctrl-C reaches the driver only (the actors are the raylets' children): it stops each
    actor through Ray, whose running trial ends interrupted and continues on resume."""
    import signal

    cluster, study = _cluster({"num_gpus": 1}), "stopped"
    url = f"sqlite:///{tmp_path / 'sweeps.db'}"
    pause = Pause(tmp_path, epoch=1)
    args = _sweep_args(url, study, trials=2, epochs=2)
    driver = sweeps_process("run", "--ray", cluster.address, *args, cwd=tmp_path, env=pause.env)
    output = Output(driver)
    try:
        _, number, _ = pause.wait(process=driver)
        os.killpg(driver.pid, signal.SIGINT)
        output.wait_for("Ctrl-C again to stop at once")
        pause.release()
        text = output.finish(timeout=300)
        assert driver.returncode == 130, text
        assert results(url)[number]["status"] == "interrupted"
        resume = sweeps_process(
            "resume", "--ray", cluster.address, "--study", study, "--storage", url, cwd=tmp_path
        )
        text = Output(resume).finish(timeout=600)
        assert resume.returncode == 0, text
    finally:
        kill_group(driver)
        cluster.shutdown()
    assert finished(url, study) == 2
    retry = next(t for t in results(url).values() if t["retry_of"] == number)
    assert retry["resumed_from_epoch"] == 1 and retry["status"] == "complete"

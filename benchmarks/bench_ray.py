"""The cost of Ray: local worker processes against Ray actors, for the same trials.

    python benchmarks/bench_ray.py [--trials 8] [--epochs 10] [--workers 2] [--ray ADDRESS]

Both sweeps are bench_orchestration.py's (every trial the space's baseline recipe, so both do
the same work) and are measured by its code; only who runs the workers differs: ``--workers``
local processes, or as many Ray actors, with the same TensorFlow threads (cores / workers).
Without ``--ray`` the actors run on a loopback cluster started here (a head with no CPUs and
one node per worker); its start is timed apart. Printed side by side:

- start-up: from the dispatch to the first trial's start (workers started, TensorFlow
  imported; for Ray also the connection and the actors' placement). One-off per sweep.
- overhead per trial: a trial's wall time (ask to tell) minus its time inside fit (median),
  and the sweep's worker-seconds outside fit per trial. The target: Ray within 0.05 s of local
  workers per trial.

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's sweeps first
from bench_orchestration import sweep  # noqa: E402  (the measuring code: shared, not copied)

from sweeps.config import SweepConfig, usable_cores  # noqa: E402


def ray_actors(address: str, cpus: int):
    """A ``dispatch`` for bench_orchestration.sweep: the workers as actors on ``address``, of
    ``cpus`` CPUs (TensorFlow threads) each."""

    def dispatch(handle, config: SweepConfig) -> None:
        import dataclasses

        from sweeps.cluster import open_session
        from sweeps.cluster.dispatcher import RayDispatcher

        config = SweepConfig(dataclasses.replace(config.spec, worker_cpus=cpus), config.state)
        session = open_session(address, config, handle.url)
        try:
            console = Console(file=io.StringIO())
            RayDispatcher(handle, session.plan, session.cluster, config.artifacts, console).run()
        finally:
            session.close()

    return dispatch


def loopback_cluster(workers: int, cpus: int):
    """A head without CPUs and one node of ``cpus`` CPUs per worker, all on 127.0.0.1."""
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # stay on loopback
    from ray.cluster_utils import Cluster

    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 0, "node_ip_address": "127.0.0.1", "include_dashboard": False},
    )
    for _ in range(workers):
        cluster.add_node(num_cpus=cpus, node_ip_address="127.0.0.1")
    cluster.wait_for_nodes()
    return cluster


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--space", default="mnist_cnn")
    parser.add_argument("--ray", help="a running cluster's address (default: start one here)")
    args = parser.parse_args()
    # The threads a local worker gets (sweeps.devices.plan_slots), asked of Ray per actor.
    cpus = max(1, usable_cores() // args.workers)
    cluster, cluster_start = None, 0.0
    if args.ray is None:
        started = time.perf_counter()
        cluster = loopback_cluster(args.workers, cpus)
        cluster_start = time.perf_counter() - started
    address = args.ray or cluster.address
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder, shape = Path(tmp), (args.space, args.workers, args.trials, args.epochs)
            local = sweep(folder, *shape, label="local-")
            actors = sweep(folder, *shape, dispatch=ray_actors(address, cpus), label="ray-")
    finally:
        if cluster is not None:
            cluster.shutdown()
    print(
        f"{args.trials} trials x {args.epochs} epochs of {args.space} on digits, "
        f"{args.workers} workers of {cpus} thread(s)/CPU(s) each; "
        f"trial wall {local['trial_wall']:.2f} s"
    )
    if cluster is not None:
        print(f"loopback Ray cluster started in {cluster_start:.1f} s (not counted below)")
    print(f"{'':<28}{'local processes':>18}{'Ray actors':>14}{'difference':>14}")
    for key, name in (
        ("start_up", "start-up (s)"),
        ("overhead_median", "overhead per trial (s)"),
        ("sweep_overhead", "sweep overhead/trial (s)"),
        ("trials_per_hour", "trials per hour"),
    ):
        a, b = local[key], actors[key]
        print(f"{name:<28}{a:>18.3f}{b:>14.3f}{b - a:>+14.3f}")
    gap = actors["overhead_median"] - local["overhead_median"]
    verdict = "within" if gap <= 0.05 else "over"
    print(f"Ray's per-trial overhead is {gap:+.3f} s against local workers: {verdict} 0.05 s.")


if __name__ == "__main__":
    main()

"""A sweep's use of a Ray cluster: connected, its actors planned, its store checked.

Opened before anything is created, so a cluster that cannot run the sweep (no answer, nothing
free, SQLite across hosts) is one line and leaves nothing behind.
"""

from __future__ import annotations

from dataclasses import dataclass

from sweeps.cluster.connect import RayCluster, connect
from sweeps.cluster.plan import ActorPlan, plan_actors
from sweeps.cluster.shared_storage import check_sqlite_hosts
from sweeps.config import SweepConfig

__all__ = ["RaySession", "open_session"]


@dataclass
class RaySession:
    cluster: RayCluster
    plan: ActorPlan

    def close(self) -> None:
        self.cluster.disconnect()


def open_session(address: str, config: SweepConfig, storage_url: str) -> RaySession:
    """Connect to the cluster at ``address`` and plan ``config``'s actors on it.

    Raises:
        ConfigError: Ray is missing, the cluster does not answer or cannot hold a worker, or
            a SQLite store would be shared across hosts.
    """
    cluster = connect(address)
    try:
        plan = plan_actors(
            config,
            free_cpus=cluster.free_cpus,
            free_gpus=cluster.free_gpus,
            largest_node_cpus=max((n.cpus for n in cluster.nodes), default=0.0),
        )
        # The driver's host counts: a SQLite file lives beside it.
        hosts = cluster.worker_hosts(plan.num_cpus, plan.num_gpus) | {cluster.driver_host}
        check_sqlite_hosts(storage_url, hosts)
    except BaseException:
        cluster.disconnect()
        raise
    return RaySession(cluster, plan)

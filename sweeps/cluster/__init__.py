"""Sweeps beyond one machine: the workers as Ray actors (``sweeps run --ray ADDRESS``).

:mod:`~sweeps.cluster.session` connects and plans (:mod:`~sweeps.cluster.connect`,
:mod:`~sweeps.cluster.plan`) and checks the store (:mod:`~sweeps.cluster.shared_storage`);
:mod:`~sweeps.cluster.dispatcher` drives the actors (:mod:`~sweeps.cluster.actor`), each
running the worker loop a local worker process runs. Ray is optional and imported only here,
only when asked for; nothing here imports TensorFlow.
"""

from sweeps.cluster.connect import RayCluster, RayNode, import_ray
from sweeps.cluster.plan import ActorPlan, plan_actors
from sweeps.cluster.session import RaySession, open_session
from sweeps.cluster.shared_storage import SharedChecks, check_sqlite_hosts

__all__ = [
    "ActorPlan",
    "RayCluster",
    "RayNode",
    "RaySession",
    "SharedChecks",
    "check_sqlite_hosts",
    "import_ray",
    "open_session",
    "plan_actors",
]

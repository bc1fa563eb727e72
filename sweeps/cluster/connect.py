"""Connect the driver to a Ray cluster, and say what the cluster holds.

Ray is optional (``pip install 'sweeps[ray]'``): it is imported here, and only when ``--ray``
is given, so everything else runs without it. A wrong address would keep ``ray.init`` retrying
for minutes; the address is resolved and probed first, so it is one line at once.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass, field
from types import ModuleType

from sweeps.errors import ConfigError
from sweeps.phrasing import option, setting

__all__ = ["RayCluster", "RayNode", "connect", "import_ray"]

PROBE_SECONDS = 3.0
NAMESPACE = "sweeps"
# The driver's own settings travel with its actors, as a local worker process inherits them:
# where sweeps is imported from, and our SWEEPS_* variables (log switches, test hooks).
_PASSED_ON = ("PYTHONPATH",)
_PASSED_ON_PREFIX = "SWEEPS_"


def import_ray() -> ModuleType:
    """Ray itself; a ConfigError naming the install command when it is missing."""
    try:
        import ray
    except ImportError:
        raise ConfigError(
            f"{option('--ray')} needs Ray, which is not installed; install it with: "
            "pip install 'sweeps[ray]'"
        ) from None
    return ray


@dataclass(frozen=True)
class RayNode:
    """One alive node of the cluster: its id, its host (the IP Ray knows it by), its size."""

    node_id: str
    host: str
    cpus: float
    gpus: float

    @property
    def label(self) -> str:
        """How messages and the store name the node: ``NODE@IP``, NODE its id's first 8 digits."""
        return f"{self.node_id[:8]}@{self.host}"


@dataclass
class RayCluster:
    """The cluster the driver is connected to; :meth:`disconnect` when the sweep is done."""

    address: str
    driver_host: str
    nodes: list[RayNode]
    free_cpus: float
    free_gpus: float
    owns_connection: bool = True  # False: the caller had connected already; leave it open
    _ray: ModuleType | None = field(default=None, repr=False)

    def in_use(self) -> str:
        """Ray's resources in use, as ``sweeps status`` prints them."""
        cpus = sum(n.cpus for n in self.nodes)
        gpus = sum(n.gpus for n in self.nodes)
        text = f"CPU {cpus - self.free_cpus:g}/{cpus:g} in use"
        if gpus:
            text += f", GPU {gpus - self.free_gpus:g}/{gpus:g} in use"
        return f"Ray cluster {self.address}: {len(self.nodes)} node(s), {text}"

    def worker_hosts(self, cpus: float, gpus: float) -> set[str]:
        """Hosts of the nodes large enough for an actor asking ``cpus`` and ``gpus``."""
        return {n.host for n in self.nodes if n.cpus >= cpus and n.gpus >= gpus}

    def disconnect(self) -> None:
        if self.owns_connection and self._ray is not None:
            self._ray.shutdown()


def _resolved(address: str) -> str:
    """``host:port`` of the cluster's GCS; ``auto`` as Ray resolves it (RAY_ADDRESS, then the
    cluster ``ray start`` recorded on this machine)."""
    if address.startswith("ray://"):
        raise ConfigError(
            f"{setting('--ray', address)}: Ray Client addresses (ray://) are not supported; run "
            f"sweeps on a node of the cluster with {setting('--ray', 'auto')} or its host:port."
        )
    from ray._private.services import canonicalize_bootstrap_address

    try:
        resolved = canonicalize_bootstrap_address(address)
    except (ConnectionError, ValueError) as exc:
        raise ConfigError(
            f"{setting('--ray', address)}: {str(exc).splitlines()[0]} Start one with "
            "`ray start --head`, or give its address as HOST:PORT."
        ) from None
    if resolved is None:
        raise ConfigError(
            f"{setting('--ray', address)} names no cluster; give {setting('--ray', 'auto')} "
            "or the head node's HOST:PORT."
        )
    return resolved


def _probe(address: str, given: str) -> None:
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=PROBE_SECONDS):
            return
    except (OSError, ValueError) as exc:
        where = address if address == given else f"{address} (from {given!r})"
        raise ConfigError(
            f"{setting('--ray', given)}: no Ray cluster answers at {where} ({exc}); start one "
            "with `ray start --head`, or give the head node's HOST:PORT."
        ) from None


def _runtime_env() -> dict:
    env = {
        k: v for k, v in os.environ.items() if k in _PASSED_ON or k.startswith(_PASSED_ON_PREFIX)
    }
    return {"env_vars": env} if env else {}


def connect(address: str) -> RayCluster:
    """Connect to the cluster at ``address`` (``auto``, or the head's ``HOST:PORT``).

    Raises:
        ConfigError: Ray is not installed, or no cluster answers at the address.
    """
    ray = import_ray()
    owns = not ray.is_initialized()
    if owns:
        resolved = _resolved(address)
        _probe(resolved, address)
        ray.init(
            address=resolved,
            namespace=NAMESPACE,
            runtime_env=_runtime_env(),
            logging_level=logging.ERROR,
            # Workers report through their events and the store; Ray's copy of their output
            # would print TensorFlow's start-up lines into the sweep's display.
            log_to_driver=False,
        )
    else:
        resolved = address
    nodes = [
        RayNode(
            n["NodeID"],
            n["NodeManagerAddress"],
            n["Resources"].get("CPU", 0.0),
            n["Resources"].get("GPU", 0.0),
        )
        for n in ray.nodes()
        if n["Alive"]
    ]
    driver_node = ray.get_runtime_context().get_node_id()
    driver_host = next((n.host for n in nodes if n.node_id == driver_node), None)
    free = ray.available_resources()
    return RayCluster(
        address=resolved,
        driver_host=driver_host or socket.gethostbyname(socket.gethostname()),
        nodes=nodes,
        free_cpus=free.get("CPU", 0.0),
        free_gpus=free.get("GPU", 0.0),
        owns_connection=owns,
        _ray=ray,
    )

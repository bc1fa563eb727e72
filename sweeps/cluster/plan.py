"""How many Ray actors a sweep runs, and what each asks of the cluster.

On a cluster with GPUs: one actor per free GPU (``num_gpus=1``), or ``trials_per_gpu`` actors
sharing each (``num_gpus=1/trials_per_gpu``); Ray sets each actor's ``CUDA_VISIBLE_DEVICES``.
Without GPUs: ``workers`` actors (default: one per free ``worker_cpus`` CPUs, at most a quarter
of the trials, as :func:`sweeps.config.auto_workers` on one machine). Every actor asks
``worker_cpus`` CPUs and runs TensorFlow with that many threads.
"""

from __future__ import annotations

from dataclasses import dataclass

from sweeps.config import TRIALS_PER_WORKER, SweepConfig
from sweeps.devices import Slot
from sweeps.errors import ConfigError
from sweeps.phrasing import option, setting

__all__ = ["ActorPlan", "plan_actors"]


@dataclass(frozen=True)
class ActorPlan:
    """``count`` actors, each asking ``num_cpus`` CPUs and ``num_gpus`` GPUs."""

    count: int
    num_cpus: int
    num_gpus: float

    def slots(self) -> list[Slot]:
        """The dispatcher's slots: the device is Ray's to choose, the threads are the CPUs."""
        device = "gpu:ray" if self.num_gpus else "cpu"
        return [Slot(i, device, self.num_cpus) for i in range(self.count)]


def plan_actors(
    config: SweepConfig,
    *,
    free_cpus: float,
    free_gpus: float,
    largest_node_cpus: float,
) -> ActorPlan:
    """The actors for ``config`` on a cluster with these free resources.

    Raises:
        ConfigError: ``--gpus`` was given (Ray assigns GPUs), no node has ``worker_cpus`` CPUs,
            or the cluster has nothing free for even one actor.
    """
    if config.gpus:
        raise ConfigError(
            f"{option('--gpus')} lists this machine's GPUs, but with {option('--ray')} Ray assigns "
            f"each worker its GPU; drop {option('--gpus')}."
        )
    cpus = config.worker_cpus
    if cpus > largest_node_cpus:
        raise ConfigError(
            f"{setting('--worker-cpus', cpus)} is more than any node of the Ray cluster has "
            f"(at most {largest_node_cpus:g}); lower {option('--worker-cpus')}."
        )
    if free_gpus >= 1:
        share = config.trials_per_gpu
        return ActorPlan(int(free_gpus) * share, cpus, 1.0 / share)
    if config.workers is not None:
        return ActorPlan(config.workers, cpus, 0.0)
    fit = int(free_cpus // cpus)
    if fit < 1:
        raise ConfigError(
            f"the Ray cluster has no free GPU and {free_cpus:g} free CPUs, fewer than "
            f"{setting('--worker-cpus', cpus)} asks for one worker; free some, or give "
            f"{setting('--workers', 1)} to wait for them."
        )
    return ActorPlan(max(1, min(fit, config.trials // TRIALS_PER_WORKER)), cpus, 0.0)

"""Which devices a sweep runs on, and how each worker process pins its own.

Discovery asks ``nvidia-smi`` rather than TensorFlow: importing TensorFlow in the dispatcher
would grab every GPU before the workers pin theirs.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sweeps.config import SweepConfig, usable_cores
from sweeps.errors import ConfigError
from sweeps.phrasing import option

if TYPE_CHECKING:
    from sweeps.protocol import WorkerOptions

__all__ = ["GPU", "Slot", "WorkerPlace", "describe_device", "discover_gpus", "plan_slots"]

_DEVICE_COLUMN = 64  # the store's column for a worker's device (storage.tables.WorkerRecord)
_RAY_MARK = " ray:"


@dataclass(frozen=True)
class GPU:
    index: int
    name: str
    memory_mb: int


@dataclass(frozen=True)
class Slot:
    """One worker process: its device, its CPU threads, its GPU memory share."""

    index: int
    device: str  # "cpu" or "gpu:N"
    threads: int  # TensorFlow's intra-op threads, and as many inter-op ones
    memory_limit_mb: int = 0  # per-process GPU memory cap when GPUs are shared; 0 = growth

    @property
    def gpu(self) -> int | None:
        return int(self.device.split(":")[1]) if self.device.startswith("gpu:") else None


@dataclass(frozen=True)
class WorkerPlace:
    """Where a worker recorded it trains: its device (and why, when not as asked), and the Ray
    node of its actor; read back from the store's one device column."""

    device: str
    ray_node: str = ""  # "NODE@IP", NODE the first 8 hex digits of Ray's node id

    @classmethod
    def parse(cls, text: str) -> WorkerPlace:
        device, _, node = text.partition(_RAY_MARK)
        return cls(device, node)


def describe_device(options: WorkerOptions) -> str:
    """The device column of a worker: ``gpu:1``, ``cpu (gpu:0 not visible to TensorFlow)``,
    with `` ray:NODE@IP`` for a Ray actor. One column, so stores of every release read it."""
    text = options.device + (f" ({options.device_note})" if options.device_note else "")
    suffix = f"{_RAY_MARK}{options.ray_node}" if options.ray_node else ""
    return text[: _DEVICE_COLUMN - len(suffix)] + suffix


def discover_gpus() -> list[GPU]:
    """GPUs that nvidia-smi reports; none when it is absent or fails."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        out = subprocess.run(
            [smi, "--query-gpu=index,name,memory.total", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    gpus = []
    for line in out.strip().splitlines():
        index, name, memory = (part.strip() for part in line.split(","))
        gpus.append(GPU(int(index), name, int(float(memory))))
    return gpus


def plan_slots(config: SweepConfig, gpus: list[GPU] | None = None) -> list[Slot]:
    """One slot per worker: K per listed GPU, or CPU workers splitting the cores."""
    cores = usable_cores()
    if config.gpus:
        known = {g.index: g for g in (discover_gpus() if gpus is None else gpus)}
        missing = [g for g in config.gpus if g not in known]
        if missing:
            found = ", ".join(str(i) for i in sorted(known)) or "none"
            raise ConfigError(
                f"{option('--gpus')} asks for GPU {missing[0]}, but the GPUs found are: "
                f"{found}; check nvidia-smi or drop {option('--gpus')} to train on CPU."
            )
        threads = max(1, cores // max(1, config.slots))
        slots = []
        for gpu_index in config.gpus:
            share = 0
            if config.trials_per_gpu > 1:
                # Leave 10% for the CUDA context of each process.
                share = int(known[gpu_index].memory_mb * 0.9 / config.trials_per_gpu)
            for _ in range(config.trials_per_gpu):
                slots.append(Slot(len(slots), f"gpu:{gpu_index}", threads, share))
        return slots
    workers = config.slots
    threads = max(1, cores // workers)
    return [Slot(i, "cpu", threads) for i in range(workers)]

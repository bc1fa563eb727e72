"""GPU slot plans (`--gpus`, `--trials-per-gpu`) against a fake `nvidia-smi` on PATH.

The fake answers the exact query sweeps sends and records its arguments, so discovery, the
plan and what `sweeps devices` prints are all checked without a GPU.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sweeps.config import SweepConfig, SweepSpec, usable_cores
from sweeps.devices import GPU, Slot, discover_gpus, plan_slots
from tests.conftest import invoke

FAKE_SMI = """#!/bin/sh
echo "$@" >> "{calls}"
echo "0, NVIDIA H100 80GB HBM3, 81559"
echo "1, NVIDIA A10, 22731"
"""


@pytest.fixture
def fake_smi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two GPUs as nvidia-smi lists them; returns the file its calls are written to."""
    folder = tmp_path / "bin"
    folder.mkdir()
    calls = tmp_path / "smi-calls.txt"
    smi = folder / "nvidia-smi"
    smi.write_text(FAKE_SMI.format(calls=calls))
    smi.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    return calls


def test_discovery_reads_nvidia_smis_csv(fake_smi) -> None:
    assert discover_gpus() == [GPU(0, "NVIDIA H100 80GB HBM3", 81559), GPU(1, "NVIDIA A10", 22731)]
    assert fake_smi.read_text().split() == [
        "--query-gpu=index,name,memory.total",
        "--format=csv,noheader,nounits",
    ]


def test_k_workers_per_listed_gpu_share_its_memory(fake_smi) -> None:
    config = SweepConfig(SweepSpec(gpus=[1, 0], trials_per_gpu=2).validate())
    threads = max(1, usable_cores() // 4)
    # In the order the GPUs were listed; each process capped at its share of 90% of the card.
    assert plan_slots(config) == [
        Slot(0, "gpu:1", threads, int(22731 * 0.9 / 2)),
        Slot(1, "gpu:1", threads, int(22731 * 0.9 / 2)),
        Slot(2, "gpu:0", threads, int(81559 * 0.9 / 2)),
        Slot(3, "gpu:0", threads, int(81559 * 0.9 / 2)),
    ]
    # One worker per GPU takes the whole card, with memory growth instead of a cap.
    alone = plan_slots(SweepConfig(SweepSpec(gpus=[0]).validate()))
    assert alone == [Slot(0, "gpu:0", max(1, usable_cores()), 0)]


def test_devices_prints_the_gpus_and_the_plan(cli, fake_smi) -> None:
    result = invoke(cli, "devices", "--gpus", "0,1", "--trials-per-gpu", 2)
    assert result.exit_code == 0, result.output
    assert "GPUs: 0: NVIDIA H100 80GB HBM3 (81559 MiB), 1: NVIDIA A10 (22731 MiB)" in result.output
    rows = [line.split() for line in result.output.splitlines() if "gpu:" in line]
    devices = [next(cell for cell in row if cell.startswith("gpu:")) for row in rows]
    assert devices == ["gpu:0", "gpu:0", "gpu:1", "gpu:1"]
    assert str(int(81559 * 0.9 / 2)) in result.output and str(int(22731 * 0.9 / 2)) in result.output


def test_a_gpu_the_fake_does_not_list_is_refused_naming_those_found(cli, fake_smi) -> None:
    result = invoke(cli, "devices", "--gpus", "0,2")
    assert result.exit_code == 2
    assert "--gpus asks for GPU 2, but the GPUs found are: 0, 1" in result.stderr

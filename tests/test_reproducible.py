"""`--seed`: the same seed gives the same sweep (parameters and results); another seed does not.

Each trial trains in its own fresh worker process (one worker, recycled after every trial), so
nothing but the seed carries from one sweep to the next.
"""

from __future__ import annotations

import pytest

import sweeps
from tests.conftest import invoke


def _sweep(cli, url: str, study: str, seed: int):
    result = invoke(
        cli, "run", "--space", "mlp", "--trials", 3, "--epochs", 2, "--workers", 1,
        "--no-baseline", "--pruner", "none", "--max-trials-per-worker", 1, "--seed", seed,
        "--storage", url, "--study", study,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    best = sweeps.load_study(study, url).best(3).sort_values("trial")
    return list(best["params"]), list(best["val_accuracy"]), list(best["test_accuracy"])


@pytest.mark.slow
def test_the_same_seed_repeats_a_sweep_and_another_does_not(cli, tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    first = _sweep(cli, url, "first", seed=7)
    again = _sweep(cli, url, "again", seed=7)
    other = _sweep(cli, url, "other", seed=8)
    assert again[0] == first[0]  # the sampler proposed the same parameters
    assert again[1:] == first[1:]  # and training gave the same accuracies
    assert other[0] != first[0]

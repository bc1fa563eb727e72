"""Query commands on a big store, timed as whole processes (imports included).

    python benchmarks/bench_queries.py [--store big.db] [--trials 10000] [--epochs 10]
    python benchmarks/bench_queries.py --counts-only

Builds (or reuses) a store of 10,000 finished trials with 12 parameters each and 100,000
epoch rows, written through the project's own record functions (storage/records.py) and
Optuna's public API (study.add_trials), then times `sweeps best` (table, csv), `show`,
`studies`, `export` and `plot --kind history` as fresh processes, best of 3. Prints the
figures against the targets; asserts nothing (CI does not run it). Building takes a few
minutes; pass --store to keep the file for the next run.

With --counts-only it times nothing: it builds stores of 50 and 500 trials and prints how many
queries `best`, `show`, `status` and `studies` run on each (the same figure for both: no query
per trial).
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
from optuna.distributions import (
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from storage import create_engine, records
from storage.trial_status import OUTCOME_ATTR
from sweeps.config import SweepConfig, SweepSpec, SweepState
from sweeps.optuna_study import create_study

STUDY = "big"
TARGETS = {"best": 1.0, "export": 3.0}  # seconds, whole process

# Twelve parameters of the kinds a space asks: log and stepped floats, ints, categoricals.
DISTRIBUTIONS = {
    "optimizer": CategoricalDistribution(["sgd", "nesterov", "adam", "adamax", "rmsprop"]),
    "learning_rate": FloatDistribution(1e-5, 3e-2, log=True),
    "schedule": CategoricalDistribution(["constant", "step", "exponential", "cosine"]),
    "batch_size": CategoricalDistribution([32, 64, 100, 128, 256]),
    "normalization": CategoricalDistribution(["unit"]),
    "translation": FloatDistribution(0.0, 0.2, step=0.05),
    "rotation": FloatDistribution(0.0, 0.1, step=0.025),
    "filters": CategoricalDistribution([16, 32, 64]),
    "dense_units": CategoricalDistribution([128, 256, 512]),
    "dropout": FloatDistribution(0.0, 0.7, step=0.05),
    "batch_norm": CategoricalDistribution([False, True]),
    "hidden_layers": IntDistribution(1, 3),
}


def _random_params(rng: random.Random) -> dict[str, object]:
    params: dict[str, object] = {}
    for name, d in DISTRIBUTIONS.items():
        if isinstance(d, CategoricalDistribution):
            params[name] = rng.choice(d.choices)
        elif isinstance(d, IntDistribution):
            params[name] = rng.randint(d.low, d.high)
        elif d.step:
            params[name] = round(
                d.low + d.step * rng.randint(0, round((d.high - d.low) / d.step)), 6
            )
        else:
            params[name] = 10 ** rng.uniform(-5, -1.6)
    return params


def build(url: str, trials: int, epochs: int) -> None:
    """The big store, through Optuna's public API and our record functions."""
    rng = random.Random(0)
    config = SweepConfig(
        SweepSpec(trials=trials, epochs=epochs), SweepState(artifacts=tempfile.gettempdir())
    )
    handle = create_study(config, url, STUDY, baseline=None)
    started = time.perf_counter()
    batch = 500
    for first in range(0, trials, batch):
        made = []
        for _ in range(min(batch, trials - first)):
            curve = sorted(rng.uniform(0.1, 0.99) for _ in range(epochs))
            made.append(
                optuna.trial.create_trial(
                    params=_random_params(rng),
                    distributions=DISTRIBUTIONS,
                    value=curve[-1],
                    intermediate_values=dict(enumerate(curve, start=1)),
                    user_attrs={"test_accuracy": curve[-1] - 0.01, OUTCOME_ATTR: "complete"},
                )
            )
        handle.study.add_trials(made)
    print(f"  Optuna trials: {time.perf_counter() - started:.0f} s", flush=True)
    started = time.perf_counter()
    engine = create_engine(url)
    for number in range(trials):
        trial_id = handle.trial_id(number)
        records.start_result(
            engine,
            trial_id=trial_id,
            study_id=handle.study_id,
            number=number,
            space="mnist_cnn",
            dataset="digits",
            is_baseline=number == 0,
        )
        for epoch in range(1, epochs + 1):
            records.record_epoch(
                engine,
                trial_id,
                epoch,
                loss=1.0 / epoch,
                accuracy=0.5,
                val_loss=1.1 / epoch,
                val_accuracy=0.4 + 0.05 * epoch + rng.uniform(0, 0.05),
                learning_rate=1e-3,
                seconds=1.0,
                images_per_second=1000.0,
            )
        val = rng.uniform(0.5, 0.99)
        records.finish_result(
            engine,
            trial_id,
            val_accuracy=val,
            val_loss=1 - val,
            test_accuracy=val - 0.01,
            test_loss=1.01 - val,
            best_epoch=epochs,
            epochs_run=epochs,
            param_count=100_000,
            wall_seconds=10.0,
            fit_seconds=9.0,
        )
    print(f"  our records: {time.perf_counter() - started:.0f} s", flush=True)


COUNTED = {  # the query commands whose queries are counted, by label
    "best": ["best", "--study", STUDY],
    "show 5": ["show", "5", "--study", STUDY],
    "status": ["status", "--study", STUDY],
    "studies": ["studies"],
}


def query_counts(url: str) -> dict[str, int]:
    """The queries each of :data:`COUNTED` runs on ``url``, in this process (the CLI's own
    runner): counted, not timed (storage.transaction_log.counting_queries)."""
    from typer.testing import CliRunner

    from storage.transaction_log import counting_queries
    from sweeps.cli import app

    runner, counts = CliRunner(), {}
    for label, args in COUNTED.items():
        with counting_queries() as queries:
            result = runner.invoke(app, [*args, "--storage", url])
        if result.exit_code != 0:
            raise SystemExit(f"{label}: {result.output}")
        counts[label] = len(queries)
    return counts


def print_counts(folder: Path, sizes: tuple[int, ...] = (50, 500)) -> None:
    """Queries per command on stores of ``sizes`` trials: the same figure for each size means
    no query per trial (tests/test_query_count.py holds them to it)."""
    counts = {}
    for trials in sizes:
        path = folder / f"count-{trials}.db"
        build(f"sqlite:///{path}", trials, epochs=2)
        query_counts(f"sqlite:///{path}")  # the process's first reads (Optuna's schema check)
        counts[trials] = query_counts(f"sqlite:///{path}")
    print(f"{'queries of':<16}" + "".join(f"{f'{n} trials':>12}" for n in sizes))
    for label in COUNTED:
        print(f"{label:<16}" + "".join(f"{counts[n][label]:>12}" for n in sizes))


def timed(args: list[str], repeat: int = 3) -> float:
    """Best wall time of ``sweeps ARGS`` as a fresh process."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "sweeps", *args], check=True, capture_output=True, env=env
        )
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", help="SQLite file to build once and reuse")
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument(
        "--counts-only", action="store_true", help="count the queries on small stores; no timing"
    )
    args = parser.parse_args()
    if args.counts_only:
        with tempfile.TemporaryDirectory() as tmp:
            print_counts(Path(tmp))
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.store) if args.store else Path(tmp) / "big.db"
        url = f"sqlite:///{path.resolve()}"
        if not path.exists():
            print(f"Building {args.trials} trials x {args.epochs} epochs in {path} ...")
            build(url, args.trials, args.epochs)
        store = ["--study", STUDY, "--storage", url]
        rows = [
            ("import sweeps.cli (python -c)", None),
            ("best (table)", ["best", *store]),
            ("best --format csv", ["best", *store, "--format", "csv"]),
            ("show 5", ["show", "5", *store]),
            ("studies", ["studies", "--storage", url]),
            ("export", ["export", *store, "--out", tmp]),
            ("plot --kind history", ["plot", *store, "--out", f"{tmp}/h.png"]),
        ]
        print(f"{'command':<32}{'seconds':>8}  target")
        for label, command in rows:
            if command is None:
                started = time.perf_counter()
                subprocess.run([sys.executable, "-c", "import sweeps.cli"], check=True)
                seconds = time.perf_counter() - started
            else:
                seconds = timed(command)
            target = TARGETS.get(label.split()[0])
            verdict = (
                ""
                if target is None
                else f"< {target:g} s {'met' if seconds < target else 'MISSED'}"
            )
            print(f"{label:<32}{seconds:>8.2f}  {verdict}", flush=True)
        counts = query_counts(url)
        print("queries: " + ", ".join(f"{label} {n}" for label, n in counts.items()))


if __name__ == "__main__":
    main()

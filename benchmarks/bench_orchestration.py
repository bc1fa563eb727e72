"""Worker layout, orchestration overhead and store transactions per trial, in one run.

    python benchmarks/bench_orchestration.py [--trials 8] [--epochs 10] [--transactions-only]

1. Trials per hour on digits: 1 worker using all cores' threads vs one worker per core with
   1 thread each. Every trial is the space's baseline recipe, queued N times, so both layouts
   do exactly the same work.
2. Orchestration overhead per trial: trial wall time (ask to tell) minus time inside fit, and
   the sweep's wall time minus all time inside fit (worker start-up included), per trial.
   The dispatcher's own store transactions over each sweep are counted too.
3. Store transactions per trial and per epoch, by engine (ours, Optuna's) and kind (write;
   read; a read that held SQLite's write lock all the same): one worker's trial loop, the
   code a worker process runs (without its heartbeat thread, one write every few seconds),
   run in this process with every transaction counted (storage.transaction_log). Counted, not
   timed: the figures hold on a busy machine. Per epoch is the difference between a 3-epoch
   and a 1-epoch trial, halved; per trial the difference between studies of 2 and 1 trials,
   less its epochs; the worker's start and end are in neither. The target: at most 5 writes
   per trial besides one per epoch, Optuna's included (sweeps.held_writes).
Prints figures; asserts nothing (CI does not run it; tests/test_transactions.py holds a trial
to its transaction budget).
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from rich.console import Console

from search_spaces import load_space
from sweeps.config import SweepConfig, SweepSpec, SweepState
from sweeps.devices import plan_slots
from sweeps.dispatcher import Dispatcher
from sweeps.optuna_study import create_study

TRANSACTION_EPOCHS = (1, 3)  # the two trial lengths whose difference is the per-epoch count
TARGET_WRITES = 5  # write transactions per trial besides one per epoch (issue 18)


def local_workers(handle, config: SweepConfig) -> None:
    """Run the study's workers as local processes, one per slot: the default ``dispatch``."""
    Dispatcher(
        handle, plan_slots(config), config.artifacts, console=Console(file=io.StringIO())
    ).run()


def sweep(
    folder: Path,
    space: str,
    workers: int,
    trials: int,
    epochs: int,
    dispatch: Callable[..., None] = local_workers,
    label: str = "",
) -> dict[str, float]:
    """Measure a sweep of ``trials`` baseline trials whose workers ``dispatch`` runs
    (``dispatch(handle, config)``; bench_ray.py passes Ray actors)."""
    url = f"sqlite:///{folder / f'{label}w{workers}.db'}"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    spec = SweepSpec(
        space=space,
        trials=trials,
        epochs=epochs,
        workers=workers,
        pruner="none",
        patience=0,
        val_fraction=0.1,
        lr_range_test=False,  # every trial is the baseline: nothing to search
    )
    config = SweepConfig(spec, SweepState(artifacts=str(folder / "artifacts")))
    baseline = load_space(space).baseline
    handle = create_study(config, url, f"bench-{workers}", baseline=baseline)
    for _ in range(trials - 1):
        handle.study.enqueue_trial(baseline)
    from storage.transaction_log import TransactionLog

    started, started_at = time.perf_counter(), datetime.now()  # Optuna's clock: local time
    with TransactionLog() as log:  # this process runs the dispatcher only
        dispatch(handle, config)
    wall = time.perf_counter() - started
    dispatcher = log.counts()
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text(
                "SELECT wall_seconds, fit_seconds FROM sweeps_trial_result JOIN trials "
                "USING (trial_id) WHERE state = 'COMPLETE'"
            )
        ).all()
        # Inside model.fit itself, per trial: the rest of fit_seconds is the loop's per-epoch
        # bookkeeping (checkpoint, store, pruner, TensorBoard).
        in_fit = (
            connection.execute(
                sa.text(
                    "SELECT sum(e.seconds) FROM sweeps_epoch_metric e JOIN trials t "
                    "USING (trial_id) WHERE t.state = 'COMPLETE' GROUP BY e.trial_id"
                )
            )
            .scalars()
            .all()
        )
        images = connection.execute(
            sa.text("SELECT avg(images_per_second) FROM sweeps_epoch_metric WHERE epoch > 1")
        ).scalar()
        first_start = connection.execute(sa.text("SELECT min(datetime_start) FROM trials")).scalar()
    per_trial = [w - f for w, f in rows]
    trial_wall = statistics.mean(w for w, _ in rows)
    return {
        "workers": workers,
        "threads": max(1, (os.cpu_count() or 1) // workers),
        "wall": wall,
        "trials_per_hour": len(rows) / wall * 3600,
        "images_per_second": images,
        "overhead_median": statistics.median(per_trial),
        "overhead_share": statistics.median(per_trial) / trial_wall,
        # Worker-seconds of the whole sweep not spent inside fit, per trial.
        "sweep_overhead": (wall * workers - sum(f for _, f in rows)) / len(rows),
        "trial_wall": trial_wall,
        # From the dispatch to the first trial's start: workers started, TensorFlow imported.
        "start_up": (_as_datetime(first_start) - started_at).total_seconds(),
        "epoch_bookkeeping": statistics.median(f for _, f in rows) - statistics.median(in_fit),
        # The dispatcher's own store transactions over the sweep: its start, its reaps and
        # counts every few seconds (so they grow with the sweep's length), its end.
        "dispatcher_reads": sum(n for kind, n in dispatcher.items() if "read" in kind),
        "dispatcher_writes": sum(n for kind, n in dispatcher.items() if "write" in kind),
    }


def _as_datetime(value: datetime | str) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def loop_transactions(folder: Path, space: str, trials: int, epochs: int) -> Counter[str]:
    """Store transactions of one worker's trial loop over a study of ``trials`` baseline
    trials of ``epochs`` epochs, run in this process (``pin_device`` must have run)."""
    from storage.transaction_log import TransactionLog
    from sweeps.protocol import WorkerOptions
    from sweeps.worker.trial_loop import TrialLoop

    name = f"count-{trials}x{epochs}"
    url = f"sqlite:///{folder / f'{name}.db'}"
    spec = SweepSpec(
        space=space,
        trials=trials,
        epochs=epochs,
        workers=1,
        patience=0,  # every epoch runs
        val_fraction=0.1,
        lr_range_test=False,
    )
    config = SweepConfig(spec, SweepState(artifacts=str(folder / "artifacts")))
    baseline = load_space(space).baseline
    handle = create_study(config, url, name, baseline=baseline)
    for _ in range(trials - 1):
        handle.study.enqueue_trial(baseline)
    handle.engine.dispose()
    options = WorkerOptions(study_name=name, storage_url=url, artifacts=config.artifacts)
    loop = TrialLoop(options, should_stop=lambda: False, emit=lambda _: None, host="bench", pid=1)
    with TransactionLog() as log:
        loop.run()
    log.name(loop.engine, "sweeps")  # before close(): disposing an engine replaces its pool
    log.name(loop.handle.storage.engine, "optuna")
    loop.close()
    return log.counts()


def transactions_per_trial(folder: Path, space: str) -> dict[str, tuple[float, float]]:
    """``{kind: (per trial besides its epochs, per epoch)}``; see the module's docstring."""
    from sweeps.protocol import WorkerOptions
    from sweeps.worker.process import pin_device

    pin_device(WorkerOptions(study_name="", storage_url="", threads=1))
    short, long = TRANSACTION_EPOCHS
    one = loop_transactions(folder, space, 1, short)
    two = loop_transactions(folder, space, 2, short)
    longer = loop_transactions(folder, space, 1, long)
    figures = {}
    for kind in sorted(set(one) | set(two) | set(longer)):
        per_epoch = (longer[kind] - one[kind]) / (long - short)
        figures[kind] = (two[kind] - one[kind] - short * per_epoch, per_epoch)
    return figures


def print_transactions(figures: dict[str, tuple[float, float]]) -> None:
    print("store transactions (one worker's loop, SQLite; counted, not timed)")
    print(f"{'kind':<30}{'per trial':>10}{'per epoch':>11}")
    for kind, (trial, epoch) in figures.items():
        print(f"{kind:<30}{trial:>10.1f}{epoch:>11.1f}")
    writes = [f for kind, f in figures.items() if kind.endswith("write")]
    locked = [f for kind, f in figures.items() if not kind.endswith("read")]
    per_trial, per_epoch = sum(t for t, _ in writes), sum(e for _, e in writes)
    verdict = "met" if per_trial <= TARGET_WRITES and per_epoch <= 1 else "MISSED"
    print(
        f"{'writes':<30}{per_trial:>10.1f}{per_epoch:>11.1f}"
        f"  (target: {TARGET_WRITES} and 1, {verdict})\n"
        f"{'holding the write lock':<30}{sum(t for t, _ in locked):>10.1f}"
        f"{sum(e for _, e in locked):>11.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--space", default="mnist_cnn", help="e.g. all_cnn for longer trials")
    parser.add_argument(
        "--transactions-only", action="store_true", help="count transactions; skip the sweeps"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print_transactions(transactions_per_trial(Path(tmp), args.space))
    if args.transactions_only:
        return
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        results = [sweep(Path(tmp), args.space, w, args.trials, args.epochs) for w in (1, cores)]
    print(
        f"{args.trials} trials x {args.epochs} epochs of {args.space} on digits, "
        f"{cores} cores; trial wall {results[0]['trial_wall']:.2f} s"
    )
    print(
        f"{'layout':<22}{'trials/h':>10}{'img/s/worker':>14}{'overhead/trial':>16}"
        f"{'of trial':>10}{'sweep overhead/trial':>22}"
    )
    for r in results:
        layout = f"{r['workers']} worker x {r['threads']} thread"
        print(
            f"{layout:<22}{r['trials_per_hour']:>10.0f}{r['images_per_second']:>14.0f}"
            f"{r['overhead_median']:>15.3f}s{r['overhead_share']:>10.1%}"
            f"{r['sweep_overhead']:>21.2f}s"
        )
    for r in results:
        print(
            f"  {r['workers']} worker(s): per-epoch bookkeeping inside the training loop "
            f"(checkpoint, store, pruner, TensorBoard) {r['epoch_bookkeeping']:.3f} s per trial"
        )
        print(
            f"  {r['workers']} worker(s): the dispatcher's store transactions over "
            f"{r['wall']:.0f} s: {r['dispatcher_reads']} reads, {r['dispatcher_writes']} writes"
        )
    ratio = results[1]["trials_per_hour"] / results[0]["trials_per_hour"]
    print(f"{cores} workers / 1 worker throughput: {ratio:.2f}x")


if __name__ == "__main__":
    main()

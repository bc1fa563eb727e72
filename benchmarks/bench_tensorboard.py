"""What TensorBoard logging costs a trial, measured side by side in one run.

    python benchmarks/bench_tensorboard.py [--repeats 4] [--epochs 10] [--space mnist_cnn]

Trains the space's baseline on digits 2 x repeats times in this process, alternating with and
without a TrialBoard hooked exactly as the trial loop hooks it (per-epoch scalars, then the
HParams summary). Prints (1) the time spent inside the board's own calls against the trial's
time, and (2) the median trial time with and without logging. (1) is the logging's cost; (2)
shows it is below the noise of a shared machine. Asserts nothing (CI does not run it).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")


def one_trial(space, splits, config, folder: Path, with_board: bool) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds of this process, seconds inside the board) of one trial.

    CPU time counts every thread of the process (the event writer's included) and is far
    less disturbed than wall time by other processes sharing the cores."""
    import optuna

    from sweeps.worker.tensorboard import TrialBoard
    from sweeps.worker.trainer import TrialRun, train_trial

    study = optuna.create_study(direction="maximize")
    study.enqueue_trial(space.baseline)
    trial = study.ask()
    started, cpu = time.perf_counter(), time.process_time()
    board = TrialBoard(folder, folder.name) if with_board else None
    run = TrialRun(
        trial=trial,
        config=config,
        space=space,
        splits=splits,
        checkpoint_dir=folder,
        resume=False,
        on_epoch=board.epoch if board else (lambda record: None),
    )
    outcome = train_trial(run)
    if board is not None:
        board.close(trial.params, outcome)
    in_board = board.seconds if board else 0.0
    return time.perf_counter() - started, time.process_time() - cpu, in_board


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--space", default="mnist_cnn")
    args = parser.parse_args()

    import keras
    import optuna

    from search_spaces import load_space
    from sweeps.config import SweepConfig, SweepSpec
    from sweeps.data import load_splits

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    started = time.perf_counter()  # once per worker process, not per trial
    import tensorboard.plugins.hparams.api  # noqa: F401

    import_seconds = time.perf_counter() - started
    space = load_space(args.space)
    config = SweepConfig(SweepSpec(space=args.space, epochs=args.epochs, patience=0))
    splits = load_splits("digits", val_fraction=config.val_fraction, seed=config.seed)
    timings: dict[bool, list[float]] = {True: [], False: []}
    cpu: dict[bool, list[float]] = {True: [], False: []}
    board_seconds: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        one_trial(space, splits, config, Path(tmp) / "warm-up", True)  # graph and import costs
        for repeat in range(args.repeats):
            for with_board in (True, False) if repeat % 2 else (False, True):
                folder = Path(tmp) / f"trial-{repeat:02d}-{int(with_board)}"
                seconds, cpu_seconds, in_board = one_trial(
                    space, splits, config, folder, with_board
                )
                keras.backend.clear_session()
                timings[with_board].append(seconds)
                cpu[with_board].append(cpu_seconds)
                if with_board:
                    board_seconds.append(in_board)
    on, off = statistics.median(timings[True]), statistics.median(timings[False])
    share = statistics.median(b / t for b, t in zip(board_seconds, timings[True], strict=True))
    print(
        f"{args.space} baseline on digits, {args.epochs} epochs, "
        f"{args.repeats} trials each way, alternating"
    )
    print(f"importing the HParams API: {import_seconds * 1000:.0f} ms once per worker process")
    print(
        f"inside the TensorBoard writer: {statistics.median(board_seconds) * 1000:.1f} ms a trial"
    )
    print(f"  = {share:.2%} of the trial's time (target: under 2%)")
    print(f"median trial: {on:.2f} s with logging, {off:.2f} s without ({on / off - 1:+.1%})")
    cpu_on, cpu_off = statistics.median(cpu[True]), statistics.median(cpu[False])
    print(
        f"median CPU time: {cpu_on:.2f} s with logging, {cpu_off:.2f} s without "
        f"({cpu_on / cpu_off - 1:+.1%})"
    )


if __name__ == "__main__":
    main()

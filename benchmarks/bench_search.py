"""Search quality and cost: `sweeps` against KerasTuner's own tuners on the same space.

    python benchmarks/bench_search.py [--space mnist_cnn] [--dataset digits] [--trials 16]
        [--epochs 20] [--patience 5] [--seeds 0 1 2] [--tuners random bayesian hyperband]

Every searcher sees the same space and trains it by the same trial recipe (KerasTuner through
`sweeps.worker.hypermodel.TrialHyperModel`), the same splits (`load_splits` with the same
seed), the same epoch cap and the same early stopping on validation accuracy. For each seed it
prints the best validation accuracy, the test accuracy of that trial, how many trials ended
below 0.5 validation accuracy, the total epochs trained, the wall time, and for `sweeps` the
epochs it needed to first reach each tuner's best validation accuracy. Prints figures; asserts
nothing (CI does not run it).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


@dataclass
class Result:
    searcher: str
    seed: int
    best_val: float
    its_test: float
    below_half: int
    trials: int
    epochs: int
    wall: float
    # (epochs trained so far, val accuracy) of each finished trial, in the order they ended
    trace: list[tuple[int, float]]
    baseline_val: float | None = None


def run_sweeps(args: argparse.Namespace, seed: int, folder: Path) -> Result:
    import sweeps

    started = time.perf_counter()
    study = sweeps.run(
        args.space, args.dataset, storage=str(folder / f"sweeps-{seed}.db"), study=f"s{seed}",
        trials=args.trials, epochs=args.epochs, patience=args.patience, seed=seed,
        workers=args.workers, quiet=True,
    )  # fmt: skip
    wall = time.perf_counter() - started
    trials = study.trials().sort_values("finished_at")
    # Epochs each trial trained itself (a retry's restored epochs were paid by its parent).
    trained = (trials["epochs_run"] - trials["resumed_from_epoch"].fillna(0)).astype(int)
    spent = trained.cumsum()
    finished = trials["status"].isin(["complete", "pruned"])
    done = trials[finished]
    best = done.sort_values("val_accuracy", ascending=False).iloc[0]
    trace = list(zip(spent[finished].astype(int), done["val_accuracy"].astype(float), strict=True))
    baseline = done[done["is_baseline"]]
    return Result(
        "sweeps", seed, float(best["val_accuracy"]), float(best["test_accuracy"]),
        int((done["val_accuracy"] < 0.5).sum()), len(done), int(trained.sum()), wall, trace,
        float(baseline["val_accuracy"].iloc[0]) if len(baseline) else None,
    )  # fmt: skip


def run_keras_tuner(args: argparse.Namespace, seed: int, folder: Path, kind: str) -> Result:
    import keras
    import keras_tuner as kt

    from search_spaces import load_space, tunables
    from sweeps.data import auto_val_fraction, dataset_info, load_splits
    from sweeps.trial_questions import TrialSettings
    from sweeps.worker.hypermodel import TrialHyperModel

    space = load_space(args.space)
    # The validation share sweeps chooses for this dataset, so both select on the same split.
    fraction = auto_val_fraction(dataset_info(args.dataset).train_size)
    splits = load_splits(args.dataset, val_fraction=fraction, seed=seed)
    epochs_trained: list[int] = []

    # The same space sweeps searches, ranges fitted to the same budget; only the learning-rate
    # range test is sweeps' own.
    budget = tunables.TrainingBudget(len(splits.y_train), args.epochs)
    settings = TrialSettings(epochs=args.epochs, seed=seed, budget=budget)

    class SpaceModel(TrialHyperModel):
        def fit(self, hp, model, *fit_args, callbacks=None, **kwargs):
            stop = keras.callbacks.EarlyStopping(
                "val_accuracy", patience=args.patience, mode="max", restore_best_weights=True
            )
            history = super().fit(hp, model, *fit_args, callbacks=[*(callbacks or []), stop],
                                  **kwargs)  # fmt: skip
            epochs_trained.append(len(history.history["val_accuracy"]))
            return history

    hypermodel = SpaceModel(space, splits, settings)
    common = dict(
        objective=kt.Objective("val_accuracy", "max"), directory=str(folder),
        project_name=f"{kind}-{seed}", seed=seed, overwrite=True,
    )  # fmt: skip
    if kind == "random":
        tuner = kt.RandomSearch(hypermodel, max_trials=args.trials, **common)
    elif kind == "bayesian":
        tuner = kt.BayesianOptimization(hypermodel, max_trials=args.trials, **common)
    else:
        tuner = kt.Hyperband(hypermodel, max_epochs=args.epochs, factor=3, **common)
    started = time.perf_counter()
    tuner.search(epochs=args.epochs, verbose=0)
    wall = time.perf_counter() - started
    finished = [t for t in tuner.oracle.trials.values() if t.score is not None]
    best_trial = max(finished, key=lambda t: t.score)
    best_model = tuner.load_model(best_trial)
    _, its_test = best_model.evaluate(hypermodel.trial_of(best_model).test, verbose=0)
    scores = [t.score for t in finished]
    return Result(
        kind, seed, float(best_trial.score), float(its_test), sum(s < 0.5 for s in scores),
        len(finished), sum(epochs_trained), wall, [],
    )  # fmt: skip


def epochs_to_reach(trace: list[tuple[int, float]], target: float) -> int | None:
    return next((epochs for epochs, val in trace if val >= target), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="mnist_cnn")
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--patience", type=int, default=5)
    parser.add_argument("--workers", type=int, default=None, help="default: sweeps' own")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--tuners", nargs="*", default=["random", "bayesian", "hyperband"],
        choices=["random", "bayesian", "hyperband"],
    )  # fmt: skip
    args = parser.parse_args()
    results: list[Result] = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            results.append(run_sweeps(args, seed, Path(tmp)))
            for kind in args.tuners:
                results.append(run_keras_tuner(args, seed, Path(tmp), kind))
    print(
        f"{args.space} on {args.dataset}: {args.trials} trials, up to {args.epochs} epochs, "
        f"patience {args.patience}, seeds {args.seeds}"
    )
    header = f"{'searcher':<10}{'seed':>5}{'best val':>10}{'its test':>10}{'<0.5':>7}"
    print(header + f"{'trials':>8}{'epochs':>8}{'wall s':>9}{'baseline':>10}")
    for r in results:
        baseline = f"{r.baseline_val:.4f}" if r.baseline_val is not None else "-"
        print(
            f"{r.searcher:<10}{r.seed:>5}{r.best_val:>10.4f}{r.its_test:>10.4f}"
            f"{r.below_half:>4}/{r.trials:<2}{r.trials:>8}{r.epochs:>8}{r.wall:>9.1f}{baseline:>10}"
        )
    print("\nMedians over seeds:")
    for searcher in dict.fromkeys(r.searcher for r in results):
        mine = [r for r in results if r.searcher == searcher]
        print(
            f"{searcher:<10} best val {statistics.median(r.best_val for r in mine):.4f}  "
            f"its test {statistics.median(r.its_test for r in mine):.4f}  "
            f"<0.5 {statistics.median(r.below_half for r in mine):.0f}  "
            f"epochs {statistics.median(r.epochs for r in mine):.0f}  "
            f"wall {statistics.median(r.wall for r in mine):.1f} s"
        )
    print("\nEpochs sweeps needed to reach each tuner's best val (same seed), and their share:")
    for seed in args.seeds:
        ours = next(r for r in results if r.searcher == "sweeps" and r.seed == seed)
        for other in (r for r in results if r.searcher != "sweeps" and r.seed == seed):
            needed = epochs_to_reach(ours.trace, other.best_val)
            share = f"{needed / other.epochs:.0%}" if needed else "not reached"
            print(
                f"  seed {seed} vs {other.searcher:<9} target {other.best_val:.4f}: "
                f"{needed if needed else '-'} of its {other.epochs} epochs ({share})"
            )
        beat = ours.baseline_val is not None and ours.best_val > ours.baseline_val
        print(f"  seed {seed}: sweeps beat its baseline trial on val: {'yes' if beat else 'no'}")


if __name__ == "__main__":
    main()

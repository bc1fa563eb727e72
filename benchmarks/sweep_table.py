"""One row per finished sweep: what the search benchmark's table reports.

    sweeps run --space S --seed N --study s --storage sqlite:///S-N/s.db   (for each S, N)
    python benchmarks/sweep_table.py S-N/s.db ... [--study s]

Per store: the trials that ended below 0.5 validation accuracy, the best trial's val and test
accuracy, the baseline's val, whether the best trial is not the baseline and beats it on val
(ties do not count), and the epochs trained (a retry's restored epochs counted once). Reads
through the Python API, so PostgreSQL URLs work too. Prints; asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TRAINED = ("complete", "pruned", "diverged")


def row(storage: str, study: str) -> str:
    import sweeps

    trials = sweeps.load_study(study, storage).trials()
    done = trials[trials["status"].isin(TRAINED)]
    if done.empty:
        return f"{storage:<44} no finished trials"
    ranked = done.sort_values(["val_accuracy", "number"], ascending=[False, True])
    best = ranked.iloc[0]
    baseline = done[done["is_baseline"]]
    base_val = float(baseline["val_accuracy"].max()) if len(baseline) else None
    beats = base_val is not None and not best["is_baseline"] and best["val_accuracy"] > base_val
    epochs = int((done["epochs_run"] - done["resumed_from_epoch"].fillna(0)).sum())
    below = int((done["val_accuracy"].fillna(0) < 0.5).sum())
    base = f"{base_val:.4f}" if base_val is not None else "-"
    return (
        f"{storage:<44}{below:>4}/{len(done):<3}{best['val_accuracy']:>9.4f}"
        f"{best['test_accuracy']:>9.4f}{base:>9}{'yes' if beats else 'no':>6}{epochs:>8}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stores", nargs="+", help="SQLite files or storage URLs")
    parser.add_argument("--study", default="s")
    args = parser.parse_args()
    print(f"{'store':<44}{'<0.5':>8}{'best val':>9}{'its test':>9}{'baseline':>9}{'beats':>6}"
          f"{'epochs':>8}")  # fmt: skip
    for store in args.stores:
        url = store if "://" in store else f"sqlite:///{Path(store).resolve()}"
        print(row(url, args.study))


if __name__ == "__main__":
    main()

"""A sweep's results as Python objects: what the query commands print, as DataFrames.

Opening a :class:`Study` reads our tables only; it imports neither TensorFlow nor Optuna.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sweeps.config import SweepConfig
from sweeps.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy.engine import Engine

    from storage.models import Sweep
    from storage.queries import TrialCounts, TrialDetail
    from sweeps.dispatcher import DispatchResult

__all__ = ["Study", "StudyStatus", "open_study"]

EXPORT_FILES = ("trials.csv", "epochs.csv")


@dataclass(frozen=True)
class StudyStatus:
    """Where a study stands: its trials by state against the budget, and its workers."""

    name: str
    budget: int
    counts: TrialCounts
    workers: pd.DataFrame  # one row per worker process that joined the study

    @property
    def finished(self) -> int:
        return self.counts.finished

    @property
    def done(self) -> bool:
        """The budget is met and nothing runs."""
        return self.finished >= self.budget and not self.counts.running


class Study:
    """A sweep recorded in a store: rank, inspect, export and plot its trials.

    Get one from :func:`sweeps.run`, :func:`sweeps.resume` or :func:`sweeps.load_study`.
    ``last_run`` says how the dispatch that returned it ended (None when loaded).
    """

    def __init__(
        self, sweep: Sweep, engine: Engine, url: str, last_run: DispatchResult | None = None
    ):
        self._sweep, self._engine, self._url = sweep, engine, url
        self.last_run = last_run

    def __repr__(self) -> str:
        return f"<sweeps.Study {self.name!r} in {self.storage!r}>"

    @property
    def name(self) -> str:
        return self._sweep.study_name

    @property
    def storage(self) -> str:
        """The store's URL with any password masked."""
        from storage import mask_url

        return mask_url(self._url)

    @property
    def study_id(self) -> int:
        """The study's id in Optuna's tables (optuna-dashboard's URLs use it)."""
        return self._sweep.study_id

    @property
    def url(self) -> str:
        """The store's URL with its password, for Optuna's own tools; never print it."""
        return self._url

    @property
    def config(self) -> SweepConfig:
        """The sweep's saved configuration (what ``resume`` continues with)."""
        return SweepConfig.from_json(self._sweep.config_json)

    @property
    def interrupted(self) -> bool:
        """The last dispatch was stopped (Ctrl-C, SIGTERM) before the budget was met."""
        run = self.last_run
        return bool(run and run.interrupted and run.finished < run.budget)

    def best(self, n: int = 10, *, params: bool = True) -> pd.DataFrame:
        """The ``n`` best finished trials by validation accuracy, test accuracy beside it.

        Columns: rank, trial, status, baseline, val/test accuracy and loss, best_epoch, epochs,
        params_count, seconds, and (with ``params``) a ``params`` column of dicts.

        Raises:
            ConfigError: ``n`` is not a positive integer.
        """
        import pandas as pd

        return pd.DataFrame(self.ranking(n, params=params))

    def ranking(self, n: int = 10, *, params: bool = True) -> list[dict[str, Any]]:
        """What :meth:`best` returns, as plain dicts: for callers that skip pandas' import.

        Raises:
            ConfigError: ``n`` is not a positive integer.
        """
        from storage.queries import ranked_rows

        if not isinstance(n, int) or n < 1:
            raise ConfigError(f"--top must be a positive integer, but got {n!r}.")
        rows = ranked_rows(self._engine, self._sweep, limit=n, with_params=params)
        for row in rows:
            del row["trial_id"]
        return rows

    def show(self, trial: int) -> TrialDetail:
        """One trial: its result row, parameters, Optuna state and per-epoch curve.

        Raises:
            ConfigError: the study has no recorded trial with that number.
        """
        from storage.queries import trial_detail

        detail = trial_detail(self._engine, self._sweep, trial)
        if detail is None:
            raise ConfigError(
                f"study {self.name!r} has no recorded trial {trial}; "
                "`sweeps best` lists its trials."
            )
        return detail

    def trials(self) -> pd.DataFrame:
        """Every trial a worker started, whatever became of it, parameters as ``hp_`` columns."""
        from storage.queries import all_trials

        return all_trials(self._engine, self._sweep)

    def epochs(self) -> pd.DataFrame:
        """Every recorded epoch of every trial, with the trial's number and status."""
        from storage.queries import epochs_of

        return epochs_of(self._engine, self._sweep)

    def status(self) -> StudyStatus:
        """Trials by state against the budget, and the study's workers."""
        import pandas as pd

        from storage.queries import trial_counts, workers_of

        workers = pd.DataFrame(
            [
                {
                    "worker": w.name,
                    "device": w.device,
                    "state": w.state,
                    "trial": w.trial_number,
                    "epoch": w.epoch,
                    "done": w.trials_done,
                    "last_seen": w.last_seen,
                }
                for w in workers_of(self._engine, self._sweep.study_id)
            ],
            columns=["worker", "device", "state", "trial", "epoch", "done", "last_seen"],
        )
        workers = workers.astype({"trial": "Int64", "epoch": "Int64"})  # None stays missing
        return StudyStatus(
            name=self.name,
            budget=self._sweep.budget,
            counts=trial_counts(self._engine, self._sweep.study_id),
            workers=workers,
        )

    def export(self, folder: str | Path = ".") -> tuple[Path, Path]:
        """Write ``trials.csv`` (with parameters) and ``epochs.csv`` into ``folder``.

        Raises:
            ConfigError: ``folder`` is not an existing folder.
        """
        folder = Path(folder)
        if not folder.is_dir():
            raise ConfigError(f"--out {str(folder)!r} is not a folder; create it first.")
        import csv

        from storage.queries import epoch_rows, trial_rows

        # Straight from the cursor with the csv module: no frames, no pandas import.
        trials_csv, epochs_csv = (folder / name for name in EXPORT_FILES)
        columns, rows = trial_rows(self._engine, self._sweep)
        with trials_csv.open("w", newline="") as out:
            writer = csv.DictWriter(out, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
        columns, epochs = epoch_rows(self._engine, self._sweep)
        with epochs_csv.open("w", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(columns)
            writer.writerows(epochs)
        return trials_csv, epochs_csv

    def plot(
        self,
        kind: str = "history",
        out: str | Path | None = None,
        *,
        params: list[str] | None = None,
    ) -> Path:
        """Draw one figure (``sweeps.plots.PLOTS``) into ``out`` (default ``STUDY-KIND.png``).

        ``history`` (from our finished trials only, no epoch rows) and ``curves`` (from our
        per-epoch table) are ours; every other kind is Optuna's own plot
        (``optuna.visualization.matplotlib``; importance by fANOVA) on the study loaded
        read-only.

        Args:
            params: The parameters to draw (contour, slice, parallel, importance); default
                the most important few.

        Raises:
            ConfigError: unknown ``kind``, an unsupported file type, nothing to plot yet, or
                a figure Optuna cannot draw from these trials (the message says why).
        """
        import pandas as pd

        from storage.queries import ranked_rows
        from sweeps.plots import PLOTS, plot_study, plot_sweep

        if kind not in PLOTS:
            raise ConfigError(f"--kind must be one of {', '.join(PLOTS)}, but got {kind!r}.")
        target = Path(out) if out is not None else Path(f"{self.name}-{kind}.png")
        if target.suffix.lower() not in (".png", ".pdf", ".svg"):
            raise ConfigError(f"--out must end in .png, .pdf or .svg, but got {str(target)!r}.")
        ranked = pd.DataFrame(ranked_rows(self._engine, self._sweep))
        if ranked.empty:
            raise ConfigError(f"study {self.name!r} has no finished trials to plot yet.")
        if kind == "history":  # our table's finished trials only: no epoch rows
            return plot_sweep(kind, ranked, None, target, self.name)
        if kind == "curves":
            return plot_sweep(kind, ranked, self.epochs(), target, self.name)
        import optuna

        study = optuna.load_study(study_name=self.name, storage=self._url)
        if params:
            known = set().union(*(t.params for t in study.get_trials(deepcopy=False)))
            unknown = sorted(set(params) - known)
            if unknown:
                raise ConfigError(
                    f"--params: study {self.name!r} has no parameter {unknown[0]!r}; its "
                    f"parameters are {', '.join(sorted(known))}."
                )
        try:
            return plot_study(kind, study, target, self.name, params=params)
        except (ValueError, RuntimeError) as exc:  # too few trials for fANOVA, a contour...
            raise ConfigError(f"cannot draw {kind!r} for study {self.name!r}: {exc}") from None


def open_study(study_name: str | None, storage: str) -> Study:
    """A recorded study, read-only (None: the newest); raises StorageError when not found."""
    from sweeps.store_access import load_sweep

    sweep, engine = load_sweep(study_name, storage)
    return Study(sweep, engine, str(engine.url.render_as_string(hide_password=False)))

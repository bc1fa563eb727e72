"""A sweep's results as Python objects: what the query commands print, as DataFrames.

Opening a :class:`Study` reads our tables only; it imports neither TensorFlow nor Optuna.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

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
_MAX_ROWS = 1_000_000
_MAX_TRIAL_NUMBER = 2**31 - 1  # beyond what the store's integers hold


@contextlib.contextmanager
def _writing(folder: Path) -> Iterator[None]:
    """A file that cannot be written (read-only folder, full disk) is bad input: one line."""
    try:
        yield
    except OSError as exc:
        raise ConfigError(
            f"cannot write into {str(folder)!r} ({exc.strerror or exc}); choose another --out."
        ) from None


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
    def config(self) -> SweepConfig:
        """The sweep's saved configuration (what ``resume`` continues with), as stored now:
        workers add to it (the measured learning-rate ranges)."""
        from storage.queries import find_sweep

        self._sweep = find_sweep(self._engine, self.name) or self._sweep
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
        from storage.queries import ranked_trials

        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= _MAX_ROWS:
            raise ConfigError(
                f"--top must be a positive integer (at most {_MAX_ROWS}), but got {n!r}."
            )
        frame = ranked_trials(self._engine, self._sweep, limit=n, with_params=params)
        return frame.drop(columns=["trial_id"], errors="ignore")

    def show(self, trial: int) -> TrialDetail:
        """One trial: its result row, parameters, Optuna state and per-epoch curve.

        Raises:
            ConfigError: the study has no recorded trial with that number.
        """
        from storage.queries import trial_detail

        in_range = isinstance(trial, int) and 0 <= trial <= _MAX_TRIAL_NUMBER
        detail = trial_detail(self._engine, self._sweep, trial) if in_range else None
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
        paths = tuple(folder / name for name in EXPORT_FILES)
        with _writing(folder):
            self.trials().to_csv(paths[0], index=False)
            self.epochs().to_csv(paths[1], index=False)
        return paths

    def plot(self, kind: str = "history", out: str | Path | None = None) -> Path:
        """Draw one figure (``sweeps.plots.PLOTS``) into ``out`` (default ``STUDY-KIND.png``).

        Raises:
            ConfigError: unknown ``kind``, an unsupported file type, or nothing to plot yet.
        """
        from storage.models import FINISHED
        from sweeps.plots import PLOTS, plot_sweep

        if kind not in PLOTS:
            raise ConfigError(f"--kind must be one of {', '.join(PLOTS)}, but got {kind!r}.")
        target = Path(out) if out is not None else Path(f"{self.name}-{kind}.png")
        if target.suffix.lower() not in (".png", ".pdf", ".svg"):
            raise ConfigError(f"--out must end in .png, .pdf or .svg, but got {str(target)!r}.")
        if not target.parent.is_dir():
            raise ConfigError(
                f"--out {str(target)!r} is in a folder that does not exist; create it first."
            )
        trials = self.trials()
        if trials.empty or not trials["status"].isin(FINISHED).any():
            raise ConfigError(f"study {self.name!r} has no finished trials to plot yet.")
        with _writing(target.parent):
            return plot_sweep(kind, trials, self.epochs(), target, self.name)


def open_study(study_name: str | None, storage: str) -> Study:
    """A recorded study, read-only (None: the newest); raises StorageError when not found."""
    from sweeps.store_access import load_sweep

    sweep, engine = load_sweep(study_name, storage)
    return Study(sweep, engine, str(engine.url.render_as_string(hide_password=False)))

"""A sweep's results as Python objects: what the query commands print, as DataFrames.

Opening a :class:`Study` reads our tables only; it imports neither TensorFlow nor Optuna.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sweeps.config import SweepConfig
from sweeps.display import Grid, Line, View
from sweeps.errors import ConfigError, SweepsError
from sweeps.phrasing import next_step, option, sweeps_command

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy.engine import Engine

    from storage.queries import StoredEvaluation, TrialCounts
    from storage.tables import Refit, Sweep
    from sweeps.artifacts import ArtifactsRoot
    from sweeps.dispatcher import DispatchResult
    from sweeps.model_api import (
        EnsembleReport,
        EvaluationReport,
        MissingModel,
        ModelReport,
        RefitReport,
    )
    from sweeps.study_views import TrialView

__all__ = ["Study", "StudyStatus", "all_ensembles", "export_value", "open_study"]

EXPORT_FILES = ("trials.csv", "epochs.csv")  # each after the study's name: STUDY-trials.csv
_MAX_ROWS = 1_000_000
_MAX_TRIAL_NUMBER = 2**31 - 1  # beyond what the store's integers hold
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
SHOWN_IN_REPR = 5  # trials a study's repr lists (plus the baseline)


def file_stem(study_name: str) -> str:
    """A study's name as the start of a file name: a label in the store may hold anything."""
    return _UNSAFE.sub("-", study_name).strip(".-") or "study"


def export_value(value: Any) -> Any:
    """A measured number as exports write it: 6 significant digits. Metrics and timings come
    from TensorFlow in float32, whose digits past the seventh are noise (0.9618055820465088
    is 0.961806); the parameters a trial was given are written exactly, never through this."""
    if isinstance(value, float) and math.isfinite(value):
        return float(f"{value:.6g}")
    return value


@contextlib.contextmanager
def _writing(folder: Path, keyword: str = "out") -> Iterator[None]:
    """A file that cannot be written (read-only folder, full disk) is bad input: one line."""
    try:
        yield
    except OSError as exc:
        raise ConfigError(
            f"cannot write into {str(folder)!r} ({exc.strerror or exc}); choose another "
            f"{option('--out', keyword)}."
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


class Study(View):
    """A sweep recorded in a store: rank, inspect, export and plot its trials.

    Get one from :func:`sweeps.run`, :func:`sweeps.resume` or :func:`sweeps.load_study`.
    ``last_run`` says how the dispatch that returned it ended (None when loaded). It prints
    (and renders in Jupyter) as its progress and its best trials, the baseline among them.
    """

    def __init__(
        self, sweep: Sweep, engine: Engine, url: str, last_run: DispatchResult | None = None
    ):
        self._sweep, self._engine, self._url = sweep, engine, url
        self._writable: Engine | None = None
        self._artifacts: ArtifactsRoot | None = None  # set by use_artifacts
        self.last_run = last_run

    def __repr__(self) -> str:
        from sqlalchemy.exc import SQLAlchemyError

        try:
            return super().__repr__()
        except (SweepsError, SQLAlchemyError, OSError) as exc:  # the store went away: say so
            return f"<sweeps.Study {self.name!r} in {self.storage!r}: cannot read it ({exc})>"

    def blocks(self) -> Iterator[Line | Grid]:
        """Its progress against the budget, then its best trials (the baseline always among
        them) and its ensembles: ``sweeps status``'s first line and ``sweeps best``'s table."""
        from storage.queries import trial_counts
        from sweeps.study_views import RankingView

        config, counts = self.config, trial_counts(self._engine, self._sweep.study_id)
        yield Line(
            f" in {self.storage}: {config.space} on {config.dataset}; {counts.finished}/"
            f"{self._sweep.budget} trials finished ({counts.complete} complete, {counts.pruned} "
            f"pruned, {counts.diverged} diverged), {counts.running} running",
            lead=f"Study {self.name}",
        )
        rows = self.ranking(SHOWN_IN_REPR, params=False)
        yield from RankingView(self, rows, self.ensemble_rows(), SHOWN_IN_REPR).blocks()

    def _writer(self) -> Engine:
        """A writable engine, for the few methods that record something (evaluations,
        ensembles, refits); the study is otherwise opened read-only."""
        if self._writable is None:
            from sweeps.store_access import open_store

            _, self._writable = open_store(self._url)
        return self._writable

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
        """The sweep's saved configuration (what ``resume`` continues with), as stored now:
        ``config.spec`` as asked, ``config.state`` as worked out since (the workers chosen,
        the measured learning-rate ranges, a raised budget)."""
        from storage.queries import find_sweep

        self._sweep = find_sweep(self._engine, self.name) or self._sweep
        return SweepConfig.from_json(self._sweep.config_json)

    @property
    def artifacts_folder(self) -> Path:
        """This study's own folder of checkpoints and TensorBoard runs: where it was recorded,
        or beside the store when the two moved together, or under :meth:`use_artifacts`'s."""
        return self._artifacts_root().study

    def use_artifacts(self, folder: str | Path) -> Study:
        """Read checkpoints from ``folder`` (the folder that holds the study's own folder, or
        that folder itself): for artifacts moved apart from the store. Returns the study.

        Raises:
            ConfigError: ``folder`` holds no folder of this study.
        """
        from sweeps.model_api import study_root

        self._artifacts = study_root(self._sweep, self._url, folder)
        return self

    def _artifacts_root(self) -> ArtifactsRoot:
        from sweeps.model_api import study_root

        return self._artifacts or study_root(self._sweep, self._url)

    @property
    def interrupted(self) -> bool:
        """The last dispatch was stopped (Ctrl-C, SIGTERM) before the budget was met."""
        run = self.last_run
        return bool(run and run.interrupted and run.finished < run.budget)

    def best(self, n: int = 10, *, params: bool = True, baseline: bool = True) -> pd.DataFrame:
        """The ``n`` best finished trials by validation accuracy, test accuracy beside it, and
        the baseline (the notebook's recipe) after them when it ranks below the ``n`` best:
        its ``rank`` says where it stands, its ``baseline`` column is True. ``baseline=False``
        leaves it out.

        Columns: rank, trial, status, baseline, val/test accuracy and loss, best_epoch, epochs,
        params_count, seconds, and (with ``params``) a ``params`` column of dicts.

        Raises:
            ConfigError: ``n`` is not a positive integer.
        """
        import pandas as pd

        return pd.DataFrame(self.ranking(n, params=params, baseline=baseline))

    def ranking(
        self, n: int = 10, *, params: bool = True, baseline: bool = True
    ) -> list[dict[str, Any]]:
        """What :meth:`best` returns, as plain dicts: for callers that skip pandas' import.

        Raises:
            ConfigError: ``n`` is not a positive integer.
        """
        from storage.queries import baseline_row, ranked_rows

        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= _MAX_ROWS:
            raise ConfigError(
                f"{option('--top', 'n')} must be a positive integer (at most {_MAX_ROWS}), "
                f"but got {n!r}."
            )
        rows = ranked_rows(self._engine, self._sweep, limit=n, with_params=params)
        if baseline and len(rows) == n and not any(row["baseline"] for row in rows):
            below = baseline_row(self._engine, self._sweep, with_params=params)
            if below is not None:
                rows.append(below)
        for row in rows:
            del row["trial_id"]
        return rows

    def show(self, trial: int) -> TrialView:
        """One trial: its result row, parameters, Optuna state and per-epoch curve. Prints
        (and renders in Jupyter) as ``sweeps show`` does; its data are attributes: ``result``,
        ``params``, ``epochs``, ``state``, ``batch_size``.

        Raises:
            ConfigError: the study has no recorded trial with that number.
        """
        from storage.queries import trial_detail
        from sweeps.study_views import TrialView

        in_range = isinstance(trial, int) and 0 <= trial <= _MAX_TRIAL_NUMBER
        detail = trial_detail(self._engine, self._sweep, trial) if in_range else None
        if detail is None:
            listing = next_step(sweeps_command("best", self.name, self.storage), "study.best()")
            raise ConfigError(
                f"study {self.name!r} has no recorded trial {trial}; {listing} lists its trials."
            )
        return TrialView(self, detail)

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
        from sweeps.devices import WorkerPlace

        workers = pd.DataFrame(
            [
                {
                    "worker": w.name,
                    # The device column holds a Ray actor's node too.
                    "device": WorkerPlace.parse(w.device).device,
                    "ray_node": WorkerPlace.parse(w.device).ray_node or None,
                    "state": w.state,
                    "trial": w.trial_number,
                    "epoch": w.epoch,
                    "done": w.trials_done,
                    "last_seen": w.last_seen,
                }
                for w in workers_of(self._engine, self._sweep.study_id)
            ],
            columns=[
                "worker",
                "device",
                "ray_node",
                "state",
                "trial",
                "epoch",
                "done",
                "last_seen",
            ],
        )
        workers = workers.astype({"trial": "Int64", "epoch": "Int64"})  # None stays missing
        return StudyStatus(
            name=self.name,
            budget=self._sweep.budget,
            counts=trial_counts(self._engine, self._sweep.study_id),
            workers=workers,
        )

    def export(self, folder: str | Path = ".") -> tuple[Path, Path]:
        """Write ``STUDY-trials.csv`` (every trial, with its parameters as ``hp_`` columns)
        and ``STUDY-epochs.csv`` (every epoch) into ``folder``; returns their paths.

        Named after the study, so studies exported into one folder keep their own files.
        Metrics and timings are written at 6 significant digits (:func:`export_value`),
        parameters exactly as the trial was given them.

        Raises:
            ConfigError: ``folder`` is not an existing folder.
        """
        import csv
        import os

        from storage.queries import epoch_rows, trial_rows

        folder, out = Path(folder), option("--out", "folder")
        trials_csv, epochs_csv = (folder / f"{file_stem(self.name)}-{n}" for n in EXPORT_FILES)
        if folder.exists() and not folder.is_dir():
            raise ConfigError(
                f"{out} {str(folder)!r} is not a folder but a file; give the folder to write "
                f"{trials_csv.name} and {epochs_csv.name} into."
            )
        if not folder.is_dir():
            raise ConfigError(
                f"{out} {str(folder)!r} is not a folder (it does not exist); create it first."
            )
        if not os.access(folder, os.W_OK | os.X_OK):
            raise ConfigError(f"{out} {str(folder)!r} is read-only; choose a folder you can write.")
        # Straight from the cursor with the csv module: no frames, no pandas import.
        columns, rows = trial_rows(self._engine, self._sweep)
        with _writing(folder, "folder"), trials_csv.open("w", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=columns)
            writer.writeheader()
            writer.writerows(
                {k: v if k.startswith("hp_") else export_value(v) for k, v in row.items()}
                for row in rows
            )
        columns, epochs = epoch_rows(self._engine, self._sweep)
        with _writing(folder, "folder"), epochs_csv.open("w", newline="") as file:
            writer = csv.writer(file)
            writer.writerow(columns)
            writer.writerows([export_value(v) for v in row] for row in epochs)
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
        from sweeps.plots import PLOTS, check_params, plot_study, plot_sweep

        if kind not in PLOTS:
            raise ConfigError(
                f"{option('--kind')} must be one of {', '.join(PLOTS)}, but got {kind!r}."
            )
        target = Path(out) if out is not None else Path(f"{self.name}-{kind}.png")
        if target.suffix.lower() not in (".png", ".pdf", ".svg"):
            raise ConfigError(
                f"{option('--out')} must end in .png, .pdf or .svg, but got {str(target)!r}."
            )
        if not target.parent.is_dir():
            raise ConfigError(
                f"{option('--out')} {str(target)!r} is in a folder that does not exist; create "
                "it first."
            )
        ranked = pd.DataFrame(ranked_rows(self._engine, self._sweep))
        if ranked.empty:
            raise ConfigError(f"study {self.name!r} has no finished trials to plot yet.")
        if kind in ("history", "curves"):  # ours; history reads no epoch rows
            check_params(kind, params)  # they draw no chosen parameters
            epochs = self.epochs() if kind == "curves" else None
            with _writing(target.parent):
                return plot_sweep(kind, ranked, epochs, target, self.name)
        study = self._optuna_study()
        if params:
            known = set().union(*(t.params for t in study.get_trials(deepcopy=False)))
            unknown = sorted(set(params) - known)
            if unknown:
                raise ConfigError(
                    f"{option('--params')}: study {self.name!r} has no parameter "
                    f"{unknown[0]!r}; its parameters are {', '.join(sorted(known))}."
                )
        check_params(kind, params)  # before anything is drawn: a contour of one, a repeat
        try:
            with _writing(target.parent):
                return plot_study(kind, study, target, self.name, params=params)
        except (ValueError, RuntimeError) as exc:  # too few trials for fANOVA, a contour...
            raise ConfigError(f"cannot draw {kind!r} for study {self.name!r}: {exc}") from None

    def _optuna_study(self) -> Any:
        """The study through Optuna's storage, for its plots, on a read-only engine: Optuna's
        own engine writes on open (and fails on a store in a read-only folder), and leaves
        ``-wal`` and ``-shm`` files beside a SQLite store."""
        import optuna

        from storage.engine import read_only_options

        storage = optuna.storages.RDBStorage(
            self._url, engine_kwargs=read_only_options(self._url), skip_table_creation=True
        )
        return optuna.load_study(study_name=self.name, storage=storage)

    # From the sweep to a model. TensorFlow runs in a spawned child (sweeps.spawn), so these
    # leave the caller free of the worker's TensorFlow state; only model() loads Keras here.

    def save_model(self, trial: int | None = None, out: str | Path | None = None) -> ModelReport:
        """Write a trial's model as a ``.keras`` file that takes the dataset's raw images.

        The model holds the trial's best-validation weights behind its whole input path
        (resize, normalisation, channel conversion; no augmentation): it takes uint8 images of
        the dataset's size with values 0..255 and returns logits. It loads with plain
        ``keras.saving.load_model(path)`` without ``sweeps``; a JSON file beside it
        (``best.keras`` -> ``best.json``) records the study, trial, parameters and the input
        contract (shape, dtype, value range, how the dataset's pixels reach 0..255, the
        preprocessing inside the model, class names); ``ModelReport.export.contract`` holds it.

        Args:
            trial: Trial number; None picks the best by validation accuracy.
            out: The ``.keras`` file; default ``STUDY-trial-N.keras`` here.

        Raises:
            ConfigError: no such finished trial, its model was not kept (``--keep-models``),
                or ``out`` is not a ``.keras`` path in an existing folder.
        """
        from sweeps.model_api import save_trial_model

        return save_trial_model(self._engine, self._sweep, trial, out, self._artifacts_root())

    def model(self, trial: int | None = None) -> Any:
        """A trial's model (default: the best by validation), loaded as a ``keras.Model``.

        The same model as :meth:`save_model` writes: raw uint8 images in, logits out.

        Raises:
            ConfigError: as :meth:`save_model`.
        """
        import tempfile

        with tempfile.TemporaryDirectory(prefix="sweeps-model-") as folder:
            report = self.save_model(trial, Path(folder) / "model.keras")
            import keras

            return keras.saving.load_model(report.export.path)

    def evaluate(self, trial: int | None = None, out: str | Path = ".") -> EvaluationReport:
        """Score a trial's model on val and test: confusion matrix, per-class precision and
        recall (a class's recall is its accuracy), the most confused pairs.

        Records the numbers in the store (``sweeps show`` prints them) and draws the test
        split's confusion matrix and a grid of sample predictions (mistakes framed in red) into
        the folder ``out``, as ``STUDY-trial-N-confusion.png`` and ``-predictions.png``.

        Raises:
            ConfigError: as :meth:`save_model`, or ``out`` is not an existing folder.
        """
        from sweeps.model_api import evaluate_trial

        root = self._artifacts_root()
        return evaluate_trial(self._engine, self._sweep, trial, out, root, self._writer)

    def evaluation(self, trial: int) -> dict[str, StoredEvaluation]:
        """A trial's recorded evaluations by split (``val``, ``test``); empty if never run.

        Raises:
            ConfigError: the study has no recorded trial with that number.
        """
        from storage.queries import evaluations_of

        return evaluations_of(self._engine, self.show(trial).result.trial_id)

    def ensemble(self, k: int = 5, out: str | Path | None = None) -> EnsembleReport:
        """Combine the ``k`` best trials by validation accuracy by averaging their logits
        (notebook 003's ensemble), and score it beside the best single trial.

        The members are chosen on validation only. The ensemble is recorded (``sweeps best``
        and ``sweeps studies`` show it as its own row); with ``out`` it is also saved as one
        ``.keras`` model that takes raw images.

        Raises:
            ConfigError: ``k`` is not positive, fewer than ``k`` trials finished, a member's
                model was not kept (``--keep-models``), or a bad ``out``.
        """
        from sweeps.model_api import build_ensemble

        root = self._artifacts_root()
        return build_ensemble(self._engine, self._sweep, k, out, root, self._writer)

    def ensemble_rows(self) -> list[dict[str, Any]]:
        """What :meth:`ensembles` returns, as plain dicts (no pandas import)."""
        from storage.queries import ensemble_rows

        return ensemble_rows(self._engine, self._sweep.study_id)

    def ensembles(self) -> pd.DataFrame:
        """The study's recorded ensembles: size, val/test accuracy, members, model path."""
        from storage.queries import ensembles_of

        return ensembles_of(self._engine, self._sweep.study_id)

    def refit(self, trial: int | None = None, out: str | Path | None = None) -> RefitReport:
        """Retrain a trial's configuration on train+val for the epochs at which it was best,
        evaluate it once on test, save it (default ``STUDY-trial-N-refit.keras``) and record
        the refit with its trial. Epoch-based learning-rate schedules keep their per-epoch
        rates (more steps per epoch); nothing is selected, on test or otherwise.

        Raises:
            ConfigError: no such finished trial, or ``out`` is not a ``.keras`` path in an
                existing folder.
        """
        from sweeps.model_api import refit_trial

        return refit_trial(self._engine, self._sweep, trial, out, self._writer)

    def recorded_refit(self, trial: int) -> Refit | None:
        """The trial's recorded refit, if it has one.

        Raises:
            ConfigError: the study has no recorded trial with that number.
        """
        from storage.queries import refit_of

        return refit_of(self._engine, self.show(trial).result.trial_id)

    def model_kept(self, trial: int) -> bool:
        """Whether the trial's checkpoints are on disk (``--keep-models`` deletes those of
        trials that can no longer make the top K).

        Raises:
            ConfigError: the study has no recorded trial with that number.
        """
        from sweeps.model_api import model_kept

        return model_kept(self.show(trial).result, self._artifacts_root())

    def missing_model(self, trial: int) -> MissingModel | None:
        """Why the trial's model is not on disk (the keep policy, a folder deleted by hand,
        artifacts not found); None when it is kept.

        Raises:
            ConfigError: the study has no recorded trial with that number.
        """
        from sweeps.model_api import missing_model, model_kept

        result, root = self.show(trial).result, self._artifacts_root()
        if model_kept(result, root):
            return None
        return missing_model(self._engine, self._sweep, [result], root)


def open_study(study_name: str | None, storage: str) -> Study:
    """A recorded study, read-only (None: the newest); raises StorageError when not found."""
    from sweeps.store_access import load_sweep, normalized_url

    sweep, engine = load_sweep(study_name, storage)  # the storage URL is checked here
    return Study(sweep, engine, normalized_url(storage))


def all_ensembles(storage: str) -> pd.DataFrame:
    """Every recorded ensemble in a store, with its study's name (``sweeps studies``).

    Raises:
        StorageError: the store does not exist or cannot be opened.
    """
    from storage.queries import ensembles_of
    from sweeps.store_access import open_store

    _, engine = open_store(storage, must_exist=True)
    return ensembles_of(engine)

"""From a sweep to a model: the work behind ``Study.save_model / evaluate / ensemble / refit``.

Each function checks its input against the store (cheap, no TensorFlow), runs the TensorFlow
part in a spawned child (:func:`sweeps.spawn.run_in_child`) and records what came back.
Selection reads validation accuracy only: the default trial is the best by validation, and an
ensemble's members are the top K by validation; test accuracy is reported, never used to choose.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sweeps.config import SweepConfig, keep_count
from sweeps.errors import ConfigError
from sweeps.model_tasks import (
    EnsembleResult,
    EvaluationResult,
    ExportResult,
    RefitResult,
    SplitEvaluation,
    TrialSpec,
    metadata_path,
)
from sweeps.phrasing import (
    Placeholder,
    either,
    next_step,
    option,
    python_call,
    setting,
    sweeps_command,
)
from sweeps.spawn import run_in_child

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy.engine import Engine

    from storage.queries import TrialDetail
    from storage.tables import Sweep, TrialResult
    from sweeps.artifacts import ArtifactsRoot

__all__ = [
    "EnsembleReport",
    "EvaluationReport",
    "MissingModel",
    "ModelReport",
    "RefitReport",
    "build_ensemble",
    "ensemble_members",
    "evaluate_trial",
    "model_kept",
    "refit_trial",
    "missing_model",
    "resolve_trial",
    "save_trial_model",
    "study_root",
    "trial_spec",
]

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _store(engine: Engine) -> str:
    """The store's URL as messages show it (password masked)."""
    from storage import mask_url

    return mask_url(engine.url.render_as_string(hide_password=False))


def _hint(engine: Engine, sweep: Sweep, words: str, python: str) -> str:
    """The next step on this study: `sweeps WORDS --study S` or ``study.PYTHON``."""
    return next_step(sweeps_command(words, sweep.study_name, _store(engine)), f"study.{python}")


@dataclass(frozen=True)
class ModelReport:
    """A trial's model written to disk: which trial, its recorded accuracies, the files."""

    trial: int
    val_accuracy: float
    test_accuracy: float | None
    export: ExportResult


@dataclass(frozen=True)
class EvaluationReport:
    """A trial's model scored on val and test (recorded in the store) and its two figures."""

    trial: int
    recorded_test_accuracy: float | None  # what the trial recorded when it finished
    result: EvaluationResult

    @property
    def val(self) -> SplitEvaluation:
        """The validation split's scores."""
        return self.result.val

    @property
    def test(self) -> SplitEvaluation:
        """The test split's scores."""
        return self.result.test


@dataclass(frozen=True)
class EnsembleReport:
    """An ensemble of the top trials by validation, beside the best single trial."""

    members: pd.DataFrame  # rank, trial, val_accuracy, test_accuracy (each member alone)
    val_accuracy: float
    test_accuracy: float
    export: ExportResult | None

    @property
    def size(self) -> int:
        """How many trials the ensemble combines."""
        return len(self.members)

    @property
    def best_single(self) -> pd.Series:
        """The best single trial by validation: the ensemble's first member."""
        return self.members.iloc[0]


@dataclass(frozen=True)
class RefitReport:
    """A trial refit on train+val, beside the trial's own test accuracy."""

    trial: int
    trial_test_accuracy: float | None
    result: RefitResult

    @property
    def test_accuracy(self) -> float:
        """The refit model's accuracy on the test split (evaluated once)."""
        return self.result.test_accuracy

    @property
    def path(self) -> str:
        """The refit model's ``.keras`` file."""
        return self.result.export.path


# Checks, before any process starts ---------------------------------------------------------


def resolve_trial(engine: Engine, sweep: Sweep, trial: int | None) -> TrialDetail:
    """The finished trial ``trial``, or the best by validation accuracy when None.

    Raises:
        ConfigError: no such trial, it did not finish (complete or pruned), or the study has
            no finished trial yet.
    """
    from storage.queries import ranked_trials, trial_detail
    from storage.tables import TRAINED

    if trial is None:
        best = ranked_trials(engine, sweep, limit=1, trained_only=True)
        if best.empty:
            raise ConfigError(
                f"study {sweep.study_name!r} has no finished trials yet; wait for one "
                f"({_hint(engine, sweep, 'status', 'status()')}) or resume it."
            )
        trial = int(best.iloc[0]["trial"])
    if isinstance(trial, bool) or not isinstance(trial, int):
        raise ConfigError(f"trial must be a trial number, but got {trial!r}.")
    detail = trial_detail(engine, sweep, trial)
    listing = _hint(engine, sweep, "best", "best()")
    if detail is None:
        raise ConfigError(
            f"study {sweep.study_name!r} has no recorded trial {trial}; {listing} lists its trials."
        )
    if detail.status not in TRAINED or detail.result.val_accuracy is None:
        raise ConfigError(
            f"trial {trial} of {sweep.study_name!r} is {detail.status}: only finished trials "
            f"(complete or pruned) have a best-validation model; {listing} lists them."
        )
    return detail


def study_root(sweep: Sweep, url: str, artifacts: str | Path | None = None) -> ArtifactsRoot:
    """Where the study's checkpoints are now (see :func:`sweeps.artifacts.locate_root`).

    Raises:
        ConfigError: ``artifacts`` holds no folder of this study.
    """
    from sweeps.artifacts import locate_root

    config = SweepConfig.from_json(sweep.config_json)
    folder = config.study_folder or sweep.study_name  # studies made before study folders
    return locate_root(config.artifacts, folder, url, artifacts)


def model_kept(result: TrialResult, root: ArtifactsRoot) -> bool:
    """Whether the trial's checkpoint folder is on disk under ``root`` (the keep policy
    deletes those of trials that can no longer make the top K)."""
    from sweeps.artifacts import checkpoint_folder

    folder = checkpoint_folder(result.checkpoint_dir, root)
    return folder is not None and folder.is_dir()


@dataclass(frozen=True)
class MissingModel:
    """Why a trial's checkpoints are not on disk, and what to do about it."""

    by_policy: bool  # the keep policy deleted them (else: by hand, or the artifacts moved)
    message: str


def missing_model(
    engine: Engine, sweep: Sweep, results: list[TrialResult], root: ArtifactsRoot
) -> MissingModel:
    """Why the checkpoints of ``results`` (none of them kept) are missing, and what to do:
    the study's folder is not here (artifacts moved or on another machine), the keep policy
    deleted them, or they were deleted by hand (the policy keeps them)."""
    from storage.queries import ranked_trials
    from sweeps.artifacts import checkpoint_folder

    config = SweepConfig.from_json(sweep.config_json)
    study, first = sweep.study_name, results[0].number
    refit = (
        f"{_hint(engine, sweep, f'refit {first}', f'refit({first})')} retrains its "
        "configuration without them"
    )
    kept = _hint(engine, sweep, "show N", "model_kept(N)")
    policy = setting("--keep-models", config.keep_models)
    if not root.found:
        where = str(root.recorded) if root.recorded else str(root.path)
        elsewhere = either(
            f"pass {setting('--artifacts', Placeholder('DIR'))}",
            "call study.use_artifacts(DIR) with DIR",
        )
        return MissingModel(
            False,
            f"the checkpoints of study {study!r} are not here: no folder {root.study_folder!r} "
            f"in {where!r}, where they were recorded, nor beside the store; {elsewhere}, the "
            f"folder that holds {root.study_folder!r}, or {refit}.",
        )
    count = keep_count(config.keep_models)
    ranked = [int(n) for n in ranked_trials(engine, sweep).get("trial", [])]
    kept = set(ranked if count is None else ranked[:count])
    by_hand = [r for r in results if r.number in kept]
    if by_hand:
        folder, number = checkpoint_folder(by_hand[0].checkpoint_dir, root), by_hand[0].number
        return MissingModel(
            False,
            f"the checkpoint folder of trial {number} of {study!r} is missing "
            f"({str(folder)!r}): the study keeps it ({policy}), so it was deleted or moved by "
            f"hand; {_hint(engine, sweep, f'refit {number}', f'refit({number})')} retrains its "
            f"configuration, or choose another trial ({kept} says whether its model is kept).",
        )
    which = ", ".join(str(r.number) for r in results)
    policy_text = (
        "keeps no trial's checkpoints"
        if count == 0
        else f"keeps the checkpoints of its {count} best trials by validation"
    )
    return MissingModel(
        True,
        f"the model of trial {which} of {study!r} was not kept: the study {policy_text} "
        f"({policy}); {refit}, or choose a kept trial ({kept} says whether its model is kept).",
    )


def trial_spec(
    sweep: Sweep,
    detail: TrialDetail,
    *,
    need_model: bool = True,
    root: ArtifactsRoot | None = None,
) -> TrialSpec:
    """What a worker-side task needs to rebuild ``detail``'s trial; its checkpoint folder is
    the one under ``root`` (None: the folder as recorded).

    Raises:
        ConfigError: ``need_model`` and the trial's checkpoint folder is not there
            (:func:`missing_model` says why; the tasks below check with it first).
    """
    from sweeps.artifacts import checkpoint_folder

    result = detail.result
    if root is None:
        folder = Path(result.checkpoint_dir) if result.checkpoint_dir else None
    else:
        folder = checkpoint_folder(result.checkpoint_dir, root)
    if need_model and (folder is None or not folder.is_dir()):
        raise ConfigError(
            f"trial {result.number} of {sweep.study_name!r} has no checkpoint folder "
            f"({str(folder) if folder else 'none recorded'!r}); "
            + next_step(
                sweeps_command(f"show {result.number}", sweep.study_name),
                f"study.model_kept({result.number})",
            )
            + " says whether its model is kept."
        )
    return TrialSpec(
        study=sweep.study_name,
        number=result.number,
        config=SweepConfig.from_json(sweep.config_json),
        params=dict(detail.params),
        checkpoint_dir=None if folder is None else str(folder),
        best_epoch=result.best_epoch,
        val_accuracy=result.val_accuracy,
        test_accuracy=result.test_accuracy,
    )


def _kept_specs(
    engine: Engine, sweep: Sweep, details: list[TrialDetail], root: ArtifactsRoot
) -> list[TrialSpec]:
    """The trials' specs with their checkpoint folders.

    Raises:
        ConfigError: a trial's checkpoints are missing (the message says why).
    """
    missing = [d.result for d in details if not model_kept(d.result, root)]
    if missing:
        raise ConfigError(missing_model(engine, sweep, missing, root).message)
    return [trial_spec(sweep, d, root=root) for d in details]


def _stem(sweep: Sweep, number: int) -> str:
    return f"{_UNSAFE.sub('-', sweep.study_name).strip('.-') or 'study'}-trial-{number}"


def _writable_file(path: Path, what: str) -> None:
    """``path`` can be written as a file: not a folder, in a folder we may write."""
    if path.is_dir():
        raise ConfigError(
            f"{what} {str(path)!r} is a folder; give a file path (remove or rename the folder)."
        )
    if not os.access(path.parent, os.W_OK | os.X_OK) or (
        path.exists() and not os.access(path, os.W_OK)
    ):
        raise ConfigError(
            f"{what} {str(path)!r} cannot be written ({str(path.parent)!r} or the file is "
            f"read-only); choose another {option('--out')}."
        )


def _model_file(out: str | Path | None, default: str = "") -> Path:
    """``out`` (or ``default``) as a ``.keras`` path that can be written, with its metadata
    JSON beside it: both checked before any TensorFlow work, so a bad one writes nothing."""
    path, flag = Path(out) if out is not None else Path(default), option("--out")
    if path.suffix != ".keras":
        raise ConfigError(
            f"{flag} must be a .keras file (Keras' own format), but got {str(path)!r}."
        )
    if not path.parent.is_dir():
        raise ConfigError(
            f"{flag} {str(path)!r} is in {str(path.parent)!r}, which does not exist; create it "
            "first."
        )
    _writable_file(path, flag)
    _writable_file(metadata_path(path), f"{flag} {str(path)!r} needs its metadata file beside it:")
    return path


def _image_folder(out: str | Path) -> Path:
    """``out`` as an existing folder we may write (``evaluate`` draws its images into it)."""
    folder, flag = Path(out), option("--out")
    if folder.exists() and not folder.is_dir():
        raise ConfigError(
            f"{flag} {str(folder)!r} is not a folder but a file; give the folder to draw the "
            "two images into."
        )
    if not folder.is_dir():
        raise ConfigError(
            f"{flag} {str(folder)!r} is not a folder (it does not exist); create it first."
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(f"{flag} {str(folder)!r} is read-only; choose a folder you can write.")
    return folder


# The tasks ----------------------------------------------------------------------------------


def _root(engine: Engine, sweep: Sweep, root: ArtifactsRoot | None) -> ArtifactsRoot:
    if root is not None:
        return root
    return study_root(sweep, engine.url.render_as_string(hide_password=False))


def _writing(engine: Engine, writer: Callable[[], Engine] | None) -> Engine:
    """The engine that records a result: ``writer()`` opens a writable one only now, after
    every check and the work, so bad input never opens the store for writing."""
    return engine if writer is None else writer()


def save_trial_model(
    engine: Engine,
    sweep: Sweep,
    trial: int | None,
    out: str | Path | None,
    root: ArtifactsRoot | None = None,
) -> ModelReport:
    """Write a trial's model (default: the best by validation) to ``out`` (default
    ``STUDY-trial-N.keras``) with its metadata JSON beside it, from its checkpoints under
    ``root`` (default: found from the store, :func:`study_root`).

    Raises:
        ConfigError: see :func:`resolve_trial`; the trial's model is missing; a bad ``out``.
    """
    detail = resolve_trial(engine, sweep, trial)
    path = _model_file(out, f"{_stem(sweep, detail.result.number)}.keras")
    [spec] = _kept_specs(engine, sweep, [detail], _root(engine, sweep, root))
    export = run_in_child("sweeps.worker.export:export_model", spec, str(path))
    return ModelReport(spec.number, float(detail.result.val_accuracy), spec.test_accuracy, export)


def evaluate_trial(
    engine: Engine,
    sweep: Sweep,
    trial: int | None,
    out: str | Path = ".",
    root: ArtifactsRoot | None = None,
    writer: Callable[[], Engine] | None = None,
) -> EvaluationReport:
    """Score a trial's model on val and test, record the numbers, and draw the confusion
    matrix and sample predictions of the test split into the folder ``out``.

    Raises:
        ConfigError: see :func:`resolve_trial`; the trial's model is missing; ``out`` is not
            a folder we may write, or an image's path in it is a folder or read-only.
    """
    from storage.records import record_evaluation

    folder = _image_folder(out)
    detail = resolve_trial(engine, sweep, trial)
    stem = folder / _stem(sweep, detail.result.number)
    for image in (f"{stem}-confusion.png", f"{stem}-predictions.png"):
        _writable_file(Path(image), f"{option('--out')} {str(folder)!r}: the image")
    [spec] = _kept_specs(engine, sweep, [detail], _root(engine, sweep, root))
    result: EvaluationResult = run_in_child(
        "sweeps.worker.evaluation:evaluate_trial",
        spec,
        f"{stem}-confusion.png",
        f"{stem}-predictions.png",
    )
    for split in (result.val, result.test):
        record_evaluation(
            _writing(engine, writer),
            study_id=sweep.study_id,
            trial_id=detail.result.trial_id,
            split=split.split,
            accuracy=split.accuracy,
            confusion=split.confusion,
            classes=split.class_rows(),
        )
    return EvaluationReport(spec.number, spec.test_accuracy, result)


def ensemble_members(engine: Engine, sweep: Sweep, k: int) -> list[TrialDetail]:
    """The ``k`` best finished trials by validation accuracy (the ranking of ``sweeps best``;
    test accuracy plays no part), best first.

    Raises:
        ConfigError: ``k`` is not a positive integer, or fewer than ``k`` trials finished.
    """
    from storage.queries import ranked_trials, trial_details

    top = option("--top", "k")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ConfigError(f"{top} must be a positive integer, but got {k!r}.")
    ranked = ranked_trials(engine, sweep, limit=k, trained_only=True)
    if len(ranked) < k:
        more = next_step(
            sweeps_command("resume", sweep.study_name, _store(engine), "--trials N"),
            python_call(
                "sweeps.resume", sweep.study_name, storage=_store(engine), trials=Placeholder("N")
            ),
        )
        raise ConfigError(
            f"{setting('--top', k, 'k')} needs {k} finished trials, but study "
            f"{sweep.study_name!r} has {len(ranked)}; lower {top} or raise the budget ({more})."
        )
    numbers = [int(n) for n in ranked["trial"]]
    details = trial_details(engine, sweep, numbers)  # trained, all of them: ranked so
    return [details[n] for n in numbers]


def build_ensemble(
    engine: Engine,
    sweep: Sweep,
    k: int,
    out: str | Path | None = None,
    root: ArtifactsRoot | None = None,
    writer: Callable[[], Engine] | None = None,
) -> EnsembleReport:
    """Average the logits of the ``k`` best trials by validation accuracy; score and record
    the ensemble; with ``out``, save it as one ``.keras`` model.

    Raises:
        ConfigError: ``k`` is not a positive integer, the study has fewer than ``k`` finished
            trials, a member's model was not kept, or a bad ``out``.
    """
    import pandas as pd

    from storage.records import record_ensemble

    path = _model_file(out) if out is not None else None
    details = ensemble_members(engine, sweep, k)
    specs = _kept_specs(engine, sweep, details, _root(engine, sweep, root))
    result: EnsembleResult = run_in_child(
        "sweeps.worker.ensemble:ensemble_trials", specs, None if path is None else str(path)
    )
    record_ensemble(
        _writing(engine, writer),
        study_id=sweep.study_id,
        val_accuracy=result.val_accuracy,
        test_accuracy=result.test_accuracy,
        model_path=result.export.path if result.export else None,
        members=[
            {
                "trial_id": d.result.trial_id,
                "number": d.result.number,
                "val_accuracy": d.result.val_accuracy,
                "test_accuracy": d.result.test_accuracy,
            }
            for d in details
        ],
    )
    members = pd.DataFrame(
        {
            "rank": range(1, k + 1),
            "trial": [d.result.number for d in details],
            "val_accuracy": result.member_val_accuracy,
            "test_accuracy": result.member_test_accuracy,
        }
    )
    return EnsembleReport(members, result.val_accuracy, result.test_accuracy, result.export)


def refit_trial(
    engine: Engine,
    sweep: Sweep,
    trial: int | None,
    out: str | Path | None = None,
    writer: Callable[[], Engine] | None = None,
) -> RefitReport:
    """Retrain a trial's configuration (default: the best by validation) on train+val for its
    best epoch count, evaluate it once on test, save it to ``out`` (default
    ``STUDY-trial-N-refit.keras``) and record the refit with its trial.

    Needs no checkpoint: the configuration is the trial's parameters.

    Raises:
        ConfigError: see :func:`resolve_trial`; a bad ``out``.
    """
    from storage.records import record_refit

    detail = resolve_trial(engine, sweep, trial)
    path = _model_file(out, f"{_stem(sweep, detail.result.number)}-refit.keras")
    spec = trial_spec(sweep, detail, need_model=False)
    result: RefitResult = run_in_child("sweeps.worker.refit:refit_trial", spec, str(path))
    record_refit(
        _writing(engine, writer),
        trial_id=detail.result.trial_id,
        study_id=sweep.study_id,
        number=spec.number,
        epochs=result.epochs,
        train_images=result.train_images,
        test_accuracy=result.test_accuracy,
        test_loss=result.test_loss,
        seconds=result.seconds,
        model_path=result.export.path,
    )
    return RefitReport(spec.number, spec.test_accuracy, result)

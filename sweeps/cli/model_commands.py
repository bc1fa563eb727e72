"""Commands that take a sweep to a model: ``model``, ``evaluate``, ``ensemble``, ``refit``.

Each is a thin shell over a :class:`sweeps.Study` method. Their TensorFlow work runs in a
spawned child process, so this process never imports TensorFlow.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional, TypeVar

import typer
from rich.console import Console
from rich.table import Table

import sweeps
from sweeps.cli.app import (
    DEFAULT_STORAGE,
    LegacyStudyArgument,
    StorageOption,
    StudyOption,
    app,
    chosen_study,
    reports_errors,
)
from sweeps.spawn import TaskFailedError

if TYPE_CHECKING:
    from sweeps.model_tasks import ExportResult

F = TypeVar("F", bound=Callable[..., Any])

TrialArgument = Annotated[
    Optional[int],
    typer.Argument(help="Trial number (default: the best by validation accuracy)."),
]
ArtifactsOption = Annotated[
    Optional[Path],
    typer.Option(
        help="The folder holding the study's checkpoint folder, if it moved apart from the "
        "store (default: where it was recorded, or beside the store)."
    ),
]


def reports_task_failures(function: F) -> F:
    """A task that failed in its process (not bad input): one line, exit code 1."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except TaskFailedError as exc:
            typer.echo(f"Error: {exc}", err=True)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _echo_contract(export: ExportResult) -> None:
    """What a written model takes and gives (also in its JSON), and how to load it."""
    for line in export.contract.lines():
        typer.echo(line)
    typer.echo(
        f"Load it with plain Keras (no sweeps needed): keras.saving.load_model({export.path!r})."
    )


def _open(study: str | None, storage: str, artifacts: Path | None) -> sweeps.Study:
    opened = sweeps.load_study(study, storage)
    return opened if artifacts is None else opened.use_artifacts(artifacts)


@app.command()
@reports_errors
@reports_task_failures
def model(
    trial: TrialArgument = None,
    study: StudyOption = None,
    storage: StorageOption = DEFAULT_STORAGE,
    out: Annotated[
        Optional[Path], typer.Option(help="The .keras file (default: STUDY-trial-N.keras).")
    ] = None,
    artifacts: ArtifactsOption = None,
) -> None:
    """Write a trial's model as a .keras file that takes the dataset's raw images.

    It holds the trial's best-validation weights behind its input path (resize, normalise).

    It takes uint8 images of the dataset's size, values 0-255, and returns logits.

    It loads with plain keras.saving.load_model(path), without sweeps.

    A JSON file beside it records the study, trial, parameters and the input contract.

    Example: sweeps model --out best.keras
    """
    opened = _open(study, storage, artifacts)
    report = opened.save_model(trial, out)
    export = report.export
    typer.echo(
        f"Wrote {export.path} (trial {report.trial} of {opened.name}: val accuracy "
        f"{_pct(report.val_accuracy)}, test accuracy {_pct(report.test_accuracy)}) "
        f"and {export.metadata_path}."
    )
    _echo_contract(export)


@app.command()
@reports_errors
@reports_task_failures
def evaluate(
    trial: TrialArgument = None,
    study: StudyOption = None,
    storage: StorageOption = DEFAULT_STORAGE,
    out: Annotated[Path, typer.Option(help="Folder for the two images.")] = Path("."),
    artifacts: ArtifactsOption = None,
) -> None:
    """Score a trial's model on val and test, per class, and draw its confusion matrix.

    Prints per-class accuracy and precision, and the most confused pairs.

    Draws the test split's confusion matrix and sample predictions (mistakes framed in red).

    The numbers are recorded in the store: `sweeps show TRIAL` prints them.

    Example: sweeps evaluate 7 --study mnist_cnn-digits-20261121-101500 --out figures/
    """
    opened = _open(study, storage, artifacts)
    report = opened.evaluate(trial, out)
    test, val = report.test, report.val
    console = Console(width=120)
    console.print(
        f"Trial {report.trial} of {opened.name}: test accuracy {test.accuracy:.4f} "
        f"({test.images} images; recorded by the trial: {_pct(report.recorded_test_accuracy)}), "
        f"val accuracy {val.accuracy:.4f} ({val.images} images).",
        soft_wrap=True,
    )
    console.print("Per class (accuracy: the share of the class's images classified correctly):")
    console.print(_class_table(test, val))
    pairs = test.confused_pairs(5)
    if pairs:
        console.print(
            "Most confused on test (true -> predicted): "
            + ", ".join(f"{true} -> {guess} ({count})" for true, guess, count in pairs),
            soft_wrap=True,
        )
    console.print(
        f"Wrote {report.result.confusion_image} and {report.result.samples_image}.",
        soft_wrap=True,
        markup=False,
    )


def _class_table(test: Any, val: Any) -> Table:
    table = Table(
        "class",
        "test images",
        "test accuracy",
        "test precision",
        "val accuracy",
    )
    for i, name in enumerate(test.class_names):
        table.add_row(
            name,
            str(test.support[i]),
            f"{test.recall[i]:.4f}",
            f"{test.precision[i]:.4f}",
            f"{val.recall[i]:.4f}",
        )
    return table


@app.command()
@reports_errors
@reports_task_failures
def ensemble(
    legacy_study: LegacyStudyArgument = None,
    study: StudyOption = None,
    storage: StorageOption = DEFAULT_STORAGE,
    top: Annotated[
        int, typer.Option("--top", "-k", help="Ensemble the K best trials by validation.")
    ] = 5,
    out: Annotated[
        Optional[Path], typer.Option(help="Also save the ensemble as one .keras model.")
    ] = None,
    artifacts: ArtifactsOption = None,
) -> None:
    """Average the logits of a study's K best trials by validation accuracy (notebook 003).

    Reports its val and test accuracy beside the best single trial's.

    The members are chosen on validation only, never on test.

    The ensemble is recorded: `sweeps best` and `sweeps studies` show it as its own row.

    Example: sweeps ensemble --study mnist_cnn-digits-20261121-101500 --top 5 --out ens.keras
    """
    opened = _open(chosen_study(legacy_study, study, "ensemble"), storage, artifacts)
    report = opened.ensemble(top, out)
    table = Table("rank", "trial", "val acc", "test acc")
    for row in report.members.itertuples():
        table.add_row(
            str(row.rank), str(row.trial), _pct(row.val_accuracy), _pct(row.test_accuracy)
        )
    table.add_section()
    table.add_row(
        "ens", f"top {report.size}", _pct(report.val_accuracy), _pct(report.test_accuracy)
    )
    console = Console(width=120)
    console.print(
        f"{opened.name}: the top {report.size} trials by validation accuracy, their logits "
        "averaged (each member re-scored alone from its saved weights):",
        soft_wrap=True,
    )
    console.print(table)
    best = report.best_single
    console.print(
        f"Ensemble of {report.size}: val {report.val_accuracy:.4f}, test "
        f"{report.test_accuracy:.4f}; best single trial ({int(best['trial'])}): val "
        f"{best['val_accuracy']:.4f}, test {best['test_accuracy']:.4f}.",
        soft_wrap=True,
    )
    if report.export is not None:
        console.print(
            f"Wrote {report.export.path} and {report.export.metadata_path}.",
            soft_wrap=True,
            markup=False,
        )
        _echo_contract(report.export)


@app.command()
@reports_errors
@reports_task_failures
def refit(
    trial: TrialArgument = None,
    study: StudyOption = None,
    storage: StorageOption = DEFAULT_STORAGE,
    out: Annotated[
        Optional[Path],
        typer.Option(help="The .keras file (default: STUDY-trial-N-refit.keras)."),
    ] = None,
) -> None:
    """Retrain a trial's configuration on train+val for the epochs at which it was best.

    It is evaluated once on test; the model is saved and the refit recorded with its trial.

    Example: sweeps refit 7 --study mnist_cnn-digits-20261121-101500
    """
    opened = sweeps.load_study(study, storage)
    report = opened.refit(trial, out)
    result = report.result
    typer.echo(
        f"Refit trial {report.trial} of {opened.name} on train+val ({result.train_images} "
        f"images) for {result.epochs} epochs in {result.seconds:.1f} s: test accuracy "
        f"{result.test_accuracy:.4f} (the trial, trained without its validation images: "
        f"{_pct(report.trial_test_accuracy)})."
    )
    typer.echo(f"Wrote {result.export.path} and {result.export.metadata_path}.")
    _echo_contract(result.export)

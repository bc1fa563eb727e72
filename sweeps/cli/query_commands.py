"""Commands that read the store: ``best``, ``show``, ``studies``, ``export``, ``plot``.

No TensorFlow, no Optuna.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Annotated, Any, Optional

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
    fail,
    reports_errors,
)

FORMATS = ("table", "csv", "json")


def _fmt(value: object, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _notebook_of(space: str) -> str | None:
    """The seed notebook of a sweep's space, when it is a built-in one (no Keras import)."""
    from search_spaces import BUILTIN_SPACES, load_space

    if space not in BUILTIN_SPACES:
        return None
    return load_space(space).info.notebook


def echo_sweep_file(config: sweeps.SweepConfig) -> None:
    """The sweep file a study was started from, comments and credentials left out (nothing
    when none)."""
    if config.sweep_file_text is None:
        return
    from sweeps.sweep_file import saved_text

    # Masked again: a study saved by an older release holds the text as it was read.
    text = saved_text(config.sweep_file_text)
    typer.echo(f"Sweep file {config.sweep_file}:")
    for line in text.rstrip().splitlines():
        typer.echo(f"  {line}")


@app.command()
@reports_errors
def best(
    legacy_study: LegacyStudyArgument = None,
    study: StudyOption = None,
    storage: StorageOption = DEFAULT_STORAGE,
    top: Annotated[int, typer.Option("--top", "-n", help="How many trials to list.")] = 10,
    format: Annotated[str, typer.Option("--format", "-f", help="table, csv or json.")] = "table",
) -> None:
    """Rank a study's finished trials by validation accuracy, with test accuracy beside it.

    Example: sweeps best --study mnist_cnn-digits-20261121-101500 --top 5 --format csv
    """
    study = chosen_study(legacy_study, study, "best")
    if format not in FORMATS:
        raise fail(f"--format must be one of {', '.join(FORMATS)}, but got {format!r}.")
    opened = sweeps.load_study(study, storage)
    # Plain rows, not best()'s DataFrame: importing pandas would cost more than the query.
    rows = opened.ranking(top, params=format != "table")
    if format == "csv":
        out = io.StringIO()
        if rows:
            writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows({**r, "params": json.dumps(r["params"], sort_keys=True)} for r in rows)
        typer.echo(out.getvalue(), nl=False)
        return
    if format == "json":
        ensembles = [{k: v for k, v in e.items() if k != "study"} for e in opened.ensemble_rows()]
        typer.echo(
            json.dumps(
                {"study": opened.name, "trials": rows, "ensembles": ensembles},
                indent=2,
                default=str,
            )
        )
        return
    notebook = _notebook_of(opened.config.space)
    table = Table(
        title=f"{opened.name}: best of {opened.config.trials} trials by validation accuracy",
        title_justify="left",
    )
    for column in (
        "rank",
        "trial",
        "val acc",
        "test acc",
        "val loss",
        "best epoch",
        "status",
        "note",
    ):
        table.add_column(column, justify="right" if column not in ("status", "note") else "left")
    for row in rows:
        note = (
            f"baseline (notebook {notebook})"
            if row["baseline"] and notebook
            else ("baseline" if row["baseline"] else "")
        )
        table.add_row(
            str(row["rank"]),
            str(row["trial"]),
            _fmt(row["val_accuracy"]),
            _fmt(row["test_accuracy"]),
            _fmt(row["val_loss"]),
            f"{_fmt(row['best_epoch'])}/{_fmt(row['epochs'])}",
            row["status"],
            note,
        )
    if not rows:
        typer.echo(f"{opened.name}: no finished trials yet.")
        return
    _add_ensemble_rows(table, opened.ensemble_rows())
    Console(width=120).print(table)


def _add_ensemble_rows(table: Table, ensembles: list[dict[str, Any]]) -> None:
    """``sweeps ensemble`` results as rows of their own below the trials, marked."""
    if ensembles:
        table.add_section()
    for row in ensembles:
        table.add_row(
            "ens",
            f"top {row['size']}",
            _fmt(row["val_accuracy"]),
            _fmt(row["test_accuracy"]),
            "-",
            "-",
            "ensemble",
            f"trials {', '.join(map(str, row['members']))}, logits averaged",
        )


@app.command()
@reports_errors
def show(
    trial: Annotated[
        int, typer.Argument(help="Trial number (the `trial` column of `sweeps best`).")
    ],
    study: StudyOption = None,
    storage: StorageOption = DEFAULT_STORAGE,
) -> None:
    """A trial's parameters, metrics and per-epoch curve.

    Example: sweeps show 3 --study mnist_cnn-digits-20261121-101500
    """
    opened = sweeps.load_study(study, storage)
    detail = opened.show(trial)
    r = detail.result
    console = Console(width=120)
    console.print(
        f"[bold]Trial {r.number}[/bold] of {opened.name}: {r.status} (Optuna state {detail.state})"
    )
    if r.is_baseline:
        notebook = _notebook_of(opened.config.space)
        console.print(
            f"Baseline: reproduces the recipe of notebook {notebook or '?'} for space {r.space}."
        )
    measured = opened.config.learning_rates
    if measured and r.param_count is not None:
        ranges = ", ".join(
            f"{family} {low:.2g}..{high:.2g}" for family, (low, high) in measured.items()
        )
        console.print(f"Learning rates searched (range test of this study): {ranges}.")
    if r.retry_of is not None:
        resumed = f", resumed after epoch {r.resumed_from_epoch}" if r.resumed_from_epoch else ""
        console.print(f"Retry of trial {r.retry_of}{resumed}.")
    if detail.batch_size is not None:
        console.print(
            f"Trained at batch size {detail.batch_size}: half the sampled batch_size, after "
            "running out of memory."
        )
    if r.failure_reason:
        console.print(f"Reason: {r.failure_reason}")
    facts = Table("metric", "value", title="Result", title_justify="left")
    for name, value in [
        ("val accuracy", r.val_accuracy),
        ("val loss", r.val_loss),
        ("test accuracy", r.test_accuracy),
        ("test loss", r.test_loss),
        ("best epoch", r.best_epoch),
        ("epochs run", r.epochs_run),
        ("parameters", r.param_count),
        ("input", r.input_shape),
        ("resized from", r.resized_from),
        ("wall seconds", r.wall_seconds),
        ("fit seconds", r.fit_seconds),
        ("worker", r.worker),
        ("checkpoints", r.checkpoint_dir),
    ]:
        facts.add_row(name, _fmt(value))
    console.print(facts)
    _print_model_facts(console, opened, detail)
    params = Table("parameter", "value", title="Parameters", title_justify="left")
    for name, value in detail.params.items():
        params.add_row(name, _fmt(value, 6))
    console.print(params)
    curve = Table(
        "epoch",
        "loss",
        "acc",
        "val loss",
        "val acc",
        "lr",
        "s",
        "img/s",
        title="Per-epoch curve",
        title_justify="left",
    )
    for e in detail.epochs:
        curve.add_row(
            f"{e.epoch}{'*' if e.restored else ''}",
            _fmt(e.loss),
            _fmt(e.accuracy),
            _fmt(e.val_loss),
            _fmt(e.val_accuracy),
            _fmt(e.learning_rate, 6),
            _fmt(e.seconds, 2),
            _fmt(e.images_per_second, 0),
        )
    console.print(curve)
    if any(e.restored for e in detail.epochs):
        console.print("* restored from the checkpoint of the trial this one retries")
    echo_sweep_file(opened.config)


def _print_model_facts(console: Console, opened: sweeps.Study, detail: object) -> None:
    """Whether the trial's model is kept, its refit, and its per-class evaluation."""
    from storage.models import TRAINED

    r = detail.result  # type: ignore[attr-defined]
    if r.status not in TRAINED:
        return
    missing = opened.missing_model(r.number)
    if missing is None:
        console.print(f"Model: kept (`sweeps model {r.number}` writes it as a .keras file).")
    elif missing.by_policy:
        console.print(
            f"Model: not kept (--keep-models {opened.config.keep_models}); "
            f"`sweeps refit {r.number}` retrains its configuration.",
            soft_wrap=True,
        )
    else:  # deleted by hand, or the artifacts are elsewhere: the message says which
        console.print(f"Model: missing: {missing.message}", soft_wrap=True, markup=False)
    refit = opened.recorded_refit(r.number)
    if refit is not None:
        console.print(
            f"Refit on train+val ({refit.train_images} images, {refit.epochs} epochs): test "
            f"accuracy {_fmt(refit.test_accuracy)}, model {refit.model_path}",
            soft_wrap=True,
            markup=False,
        )
    evaluation = opened.evaluation(r.number)
    if "test" not in evaluation:
        if missing is None:  # evaluate needs the model
            console.print(f"Per-class accuracy: run `sweeps evaluate {r.number}`.")
        return
    test, val = evaluation["test"], evaluation.get("val")
    table = Table(
        "class",
        "test images",
        "test accuracy",
        "test precision",
        "val accuracy",
        title=f"Per-class accuracy (`sweeps evaluate`): test {_fmt(test.accuracy)}",
        title_justify="left",
    )
    val_recall = {c.class_index: c.recall for c in val.classes} if val else {}
    for c in test.classes:
        table.add_row(
            c.class_name,
            str(c.support),
            _fmt(c.recall),
            _fmt(c.precision),
            _fmt(val_recall.get(c.class_index)),
        )
    console.print(table)


@app.command()
@reports_errors
def studies(storage: StorageOption = DEFAULT_STORAGE) -> None:
    """List the studies in a store with their progress and best trial.

    Example: sweeps studies --storage sweeps.db
    """
    frame = sweeps.studies(storage)
    foreign = frame.attrs.get("optuna_only", [])
    if foreign:
        typer.echo(
            f"Optuna studies not made by sweeps (read them with `optuna` or optuna-dashboard): "
            f"{', '.join(foreign)}"
        )
    if frame.empty:
        typer.echo("No sweeps studies yet: start one with `sweeps run`.")
        return
    table = Table(
        "study",
        "space",
        "dataset",
        "finished",
        "running",
        "diverged",
        "failed",
        "lost",
        "interrupted",
        "best val",
        "its test",
        "created",
    )
    ensembles = sweeps.results.all_ensembles(storage)
    for row in frame.itertuples():
        table.add_row(
            row.study,
            row.space,
            row.dataset,
            f"{row.finished}/{row.budget}",
            str(row.running),
            str(row.diverged),
            str(row.failed),
            str(row.lost),
            str(row.interrupted),
            _fmt(row.best_val_accuracy),
            _fmt(row.test_accuracy),
            row.created,
        )
        for ens in ensembles[ensembles["study"] == row.study].itertuples():
            members = ", ".join(map(str, ens.members))
            label = f"  ensemble of top {ens.size}: trials {members}"
            # Its label spans the count columns it leaves blank: never wrapped inside them.
            table.columns[0].min_width = max(table.columns[0].min_width or 0, len(label))
            table.add_row(
                label,
                "", "", "", "", "", "", "", "",
                _fmt(ens.val_accuracy),
                _fmt(ens.test_accuracy),
                ens.created,
            )  # fmt: skip
    Console(width=140).print(table)


@app.command()
@reports_errors
def export(
    legacy_study: LegacyStudyArgument = None,
    study: StudyOption = None,
    storage: StorageOption = DEFAULT_STORAGE,
    out: Annotated[Path, typer.Option(help="Folder for trials.csv and epochs.csv.")] = Path("."),
) -> None:
    """Write every trial (with its parameters) and every epoch of a study to CSV files.

    Example: sweeps export --study mnist_cnn-digits-20261121-101500 --out results/
    """
    study = chosen_study(legacy_study, study, "export")
    trials_csv, epochs_csv = sweeps.load_study(study, storage).export(out)
    typer.echo(f"Wrote {trials_csv} and {epochs_csv}")


@app.command()
@reports_errors
def plot(
    legacy_study: LegacyStudyArgument = None,
    study: StudyOption = None,
    storage: StorageOption = DEFAULT_STORAGE,
    kind: Annotated[
        str,
        typer.Option(
            help="history, curves, importance (fANOVA), parallel, contour, slice (params), "
            "intermediate."
        ),
    ] = "history",
    out: Annotated[
        Optional[Path], typer.Option(help="Image file (.png, .pdf, .svg); default STUDY-KIND.png.")
    ] = None,
    params: Annotated[
        Optional[str],
        typer.Option(
            help="Parameters to draw, comma-separated (contour, slice, parallel, importance); "
            "default: the most important few."
        ),
    ] = None,
) -> None:
    """Draw a study with Optuna's plots: optimization history (test accuracy and baseline
    marked), parameter importance, parallel coordinates, contour, slice, per-epoch values;
    or the top learning curves.

    Example: sweeps plot --kind importance --out importance.png

    Example: sweeps plot --kind contour --params learning_rate,batch_size
    """
    study = chosen_study(legacy_study, study, "plot")
    names = [p.strip() for p in params.split(",") if p.strip()] if params else None
    typer.echo(f"Wrote {sweeps.load_study(study, storage).plot(kind, out, params=names)}")

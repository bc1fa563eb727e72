"""Commands that read the store: ``best``, ``show``, ``studies``, ``export``, ``plot``.

No TensorFlow, no Optuna.
"""

from __future__ import annotations

import csv
import io
import json
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
from sweeps.results import export_value
from sweeps.study_views import RankingView, cell, sweep_file_lines

FORMATS = ("table", "csv", "json")


def echo_sweep_file(config: sweeps.SweepConfig) -> None:
    """The sweep file a study was started from, comments and credentials left out (nothing
    when none)."""
    for line in sweep_file_lines(config):
        typer.echo(line.text)


def _exported(row: dict[str, Any]) -> dict[str, Any]:
    """A row of ``best``'s csv or json: metrics at 6 significant digits, parameters exact."""
    return {k: v if k == "params" else export_value(v) for k, v in row.items()}


@app.command()
@reports_errors
def best(
    legacy_study: LegacyStudyArgument = None,
    study: StudyOption = None,
    storage: StorageOption = DEFAULT_STORAGE,
    top: Annotated[
        int,
        typer.Option(
            "--top",
            "-n",
            help="How many trials to list; the baseline trial is listed too, at its own rank, "
            "when it is not among them.",
        ),
    ] = 10,
    format: Annotated[str, typer.Option("--format", "-f", help="table, csv or json.")] = "table",
) -> None:
    """Rank a study's finished trials by validation accuracy, with test accuracy beside it.

    The baseline (the notebook's recipe) is always listed: below the top trials, after a rule,
    at its own rank, when it is not among them.

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
            writer.writerows(
                {**_exported(r), "params": json.dumps(r["params"], sort_keys=True)} for r in rows
            )
        typer.echo(out.getvalue(), nl=False)
        return
    if format == "json":
        ensembles = [
            _exported({k: v for k, v in e.items() if k != "study"}) for e in opened.ensemble_rows()
        ]
        trials = [_exported(r) for r in rows]
        typer.echo(
            json.dumps(
                {"study": opened.name, "trials": trials, "ensembles": ensembles},
                indent=2,
                default=str,
            )
        )
        return
    RankingView(opened, rows, opened.ensemble_rows(), top).print(Console(width=120))


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
    sweeps.load_study(study, storage).show(trial).print(Console(width=120))


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
            cell(row.best_val_accuracy),
            cell(row.test_accuracy),
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
                cell(ens.val_accuracy),
                cell(ens.test_accuracy),
                ens.created,
            )  # fmt: skip
    Console(width=140).print(table)


@app.command()
@reports_errors
def export(
    legacy_study: LegacyStudyArgument = None,
    study: StudyOption = None,
    storage: StorageOption = DEFAULT_STORAGE,
    out: Annotated[
        Path, typer.Option(help="Folder for STUDY-trials.csv and STUDY-epochs.csv.")
    ] = Path("."),
) -> None:
    """Write every trial (with its parameters) and every epoch of a study to CSV files.

    The files are named after the study (STUDY-trials.csv, STUDY-epochs.csv), so studies
    exported into one folder keep their own. Metrics are written at 6 significant digits,
    parameters exactly.

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

"""Commands that read the store: ``best``, ``show``, ``studies``, ``export``, ``plot``.

No TensorFlow, no Optuna.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from sweeps.cli.app import DEFAULT_STORAGE, StorageOption, app, fail, reports_errors

FORMATS = ("table", "csv", "json")


def _fmt(value: object, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _notebook_of(config_json: str) -> str | None:
    """The seed notebook of a sweep's space, when it is a built-in one (no Keras import)."""
    from search_spaces import BUILTIN_SPACES, load_space

    space = json.loads(config_json).get("space")
    if space not in BUILTIN_SPACES:
        return None
    return load_space(space).info.notebook


@app.command()
@reports_errors
def best(
    study: Annotated[Optional[str], typer.Argument(help="Study name (default: the newest).")]
    = None,
    storage: StorageOption = DEFAULT_STORAGE,
    top: Annotated[int, typer.Option("--top", "-n", help="How many trials to list.")] = 10,
    format: Annotated[str, typer.Option("--format", "-f", help="table, csv or json.")] = "table",
) -> None:
    """Rank a study's finished trials by validation accuracy, with test accuracy beside it.

    Example: sweeps best --top 5 --format csv
    """
    from storage.queries import ranked_trials
    from sweeps.store_access import load_sweep

    if format not in FORMATS:
        raise fail(f"--format must be one of {', '.join(FORMATS)}, but got {format!r}.")
    if top < 1:
        raise fail(f"--top must be a positive integer, but got {top!r}.")
    sweep, engine = load_sweep(study, storage)
    frame = ranked_trials(engine, sweep, limit=top, with_params=format != "table")
    if format == "csv":
        if not frame.empty:
            frame["params"] = [json.dumps(p, sort_keys=True) for p in frame["params"]]
        typer.echo(frame.drop(columns=["trial_id"], errors="ignore").to_csv(index=False), nl=False)
        return
    if format == "json":
        records = frame.drop(columns=["trial_id"], errors="ignore").to_dict(orient="records")
        typer.echo(json.dumps({"study": sweep.study_name, "trials": records}, indent=2,
                              default=str))
        return
    notebook = _notebook_of(sweep.config_json)
    table = Table(title=f"{sweep.study_name}: best of {sweep.budget} trials by validation "
                        "accuracy", title_justify="left")
    for column in ("rank", "trial", "val acc", "test acc", "val loss", "best epoch", "status",
                   "note"):
        table.add_column(column, justify="right" if column not in ("status", "note") else "left")
    for row in frame.itertuples():
        note = f"baseline (notebook {notebook})" if row.baseline and notebook else (
            "baseline" if row.baseline else "")
        table.add_row(str(row.rank), str(row.trial), _fmt(row.val_accuracy),
                      _fmt(row.test_accuracy), _fmt(row.val_loss),
                      f"{_fmt(row.best_epoch)}/{_fmt(row.epochs)}", row.status, note)
    if frame.empty:
        typer.echo(f"{sweep.study_name}: no finished trials yet.")
        return
    Console(width=120).print(table)


@app.command()
@reports_errors
def show(
    trial: Annotated[int, typer.Argument(help="Trial number (the `trial` column of "
                                         "`sweeps best`).")],
    study: Annotated[Optional[str], typer.Option(help="Study name (default: the newest).")]
    = None,
    storage: StorageOption = DEFAULT_STORAGE,
) -> None:
    """A trial's parameters, metrics and per-epoch curve.

    Example: sweeps show 3 --study mnist_cnn-digits-20261121-101500
    """
    from storage.queries import trial_detail
    from sweeps.store_access import load_sweep

    sweep, engine = load_sweep(study, storage)
    detail = trial_detail(engine, sweep, trial)
    if detail is None:
        raise fail(f"study {sweep.study_name!r} has no recorded trial {trial}; "
                   "`sweeps best` lists its trials.")
    r = detail.result
    console = Console(width=120)
    console.print(f"[bold]Trial {r.number}[/bold] of {sweep.study_name}: {r.status} "
                  f"(Optuna state {detail.state})")
    if r.is_baseline:
        notebook = _notebook_of(sweep.config_json)
        console.print(f"Baseline: reproduces the recipe of notebook {notebook or '?'} "
                      f"for space {r.space}.")
    if r.retry_of is not None:
        resumed = f", resumed after epoch {r.resumed_from_epoch}" if r.resumed_from_epoch else ""
        console.print(f"Retry of trial {r.retry_of}{resumed}.")
    if r.failure_reason:
        console.print(f"Reason: {r.failure_reason}")
    facts = Table("metric", "value", title="Result", title_justify="left")
    for name, value in [
        ("val accuracy", r.val_accuracy), ("val loss", r.val_loss),
        ("test accuracy", r.test_accuracy), ("test loss", r.test_loss),
        ("best epoch", r.best_epoch), ("epochs run", r.epochs_run),
        ("parameters", r.param_count), ("input", r.input_shape),
        ("resized from", r.resized_from), ("wall seconds", r.wall_seconds),
        ("fit seconds", r.fit_seconds), ("worker", r.worker),
        ("checkpoints", r.checkpoint_dir),
    ]:
        facts.add_row(name, _fmt(value))
    console.print(facts)
    params = Table("parameter", "value", title="Parameters", title_justify="left")
    for name, value in detail.params.items():
        params.add_row(name, _fmt(value, 6))
    console.print(params)
    curve = Table("epoch", "loss", "acc", "val loss", "val acc", "lr", "s", "img/s",
                  title="Per-epoch curve", title_justify="left")
    for e in detail.epochs:
        curve.add_row(f"{e.epoch}{'*' if e.restored else ''}", _fmt(e.loss), _fmt(e.accuracy),
                      _fmt(e.val_loss), _fmt(e.val_accuracy), _fmt(e.learning_rate, 6),
                      _fmt(e.seconds, 2), _fmt(e.images_per_second, 0))
    console.print(curve)
    if any(e.restored for e in detail.epochs):
        console.print("* restored from the checkpoint of the trial this one retries")


@app.command()
@reports_errors
def studies(storage: StorageOption = DEFAULT_STORAGE) -> None:
    """List the studies in a store with their progress and best trial.

    Example: sweeps studies --storage sweeps.db
    """
    from storage.queries import list_studies
    from sweeps.store_access import open_store

    _, engine = open_store(storage, must_exist=True)
    frame = list_studies(engine)
    if frame.empty:
        typer.echo("No studies yet: start one with `sweeps run`.")
        return
    table = Table("study", "space", "dataset", "finished", "failed", "running", "best val",
                  "its test", "created")
    for row in frame.itertuples():
        table.add_row(row.study, row.space, row.dataset, f"{row.finished}/{row.budget}",
                      str(row.failed), str(row.running), _fmt(row.best_val_accuracy),
                      _fmt(row.test_accuracy), row.created)
    Console(width=140).print(table)


@app.command()
@reports_errors
def export(
    study: Annotated[Optional[str], typer.Argument(help="Study name (default: the newest).")]
    = None,
    storage: StorageOption = DEFAULT_STORAGE,
    out: Annotated[Path, typer.Option(help="Folder for trials.csv and epochs.csv.")] =
    Path("."),
) -> None:
    """Write every trial (with its parameters) and every epoch of a study to CSV files.

    Example: sweeps export --out results/
    """
    from storage.queries import all_trials, epochs_of
    from sweeps.store_access import load_sweep

    sweep, engine = load_sweep(study, storage)
    if not out.is_dir():
        raise fail(f"--out {str(out)!r} is not a folder; create it first.")
    all_trials(engine, sweep).to_csv(out / "trials.csv", index=False)
    epochs_of(engine, sweep).to_csv(out / "epochs.csv", index=False)
    typer.echo(f"Wrote {out / 'trials.csv'} and {out / 'epochs.csv'}")


@app.command()
@reports_errors
def plot(
    study: Annotated[Optional[str], typer.Argument(help="Study name (default: the newest).")]
    = None,
    storage: StorageOption = DEFAULT_STORAGE,
    kind: Annotated[str, typer.Option(help="history, curves or params.")] = "history",
    out: Annotated[Optional[Path], typer.Option(help="Image file (.png, .pdf, .svg); "
                                                "default STUDY-KIND.png.")] = None,
) -> None:
    """Draw a study: its optimization history, the top learning curves, or accuracy by parameter.

    Example: sweeps plot --kind curves --out curves.png
    """
    from storage.queries import all_trials, epochs_of
    from sweeps.plots import PLOTS, plot_sweep
    from sweeps.store_access import load_sweep

    if kind not in PLOTS:
        raise fail(f"--kind must be one of {', '.join(PLOTS)}, but got {kind!r}.")
    if out is not None and out.suffix.lower() not in (".png", ".pdf", ".svg"):
        raise fail(f"--out must end in .png, .pdf or .svg, but got {str(out)!r}.")
    sweep, engine = load_sweep(study, storage)
    trials = all_trials(engine, sweep)
    if not trials["status"].isin(["complete", "pruned"]).any():
        raise fail(f"study {sweep.study_name!r} has no finished trials to plot yet.")
    target = out or Path(f"{sweep.study_name}-{kind}.png")
    plot_sweep(kind, trials, epochs_of(engine, sweep), target, sweep.study_name)
    typer.echo(f"Wrote {target}")

"""Commands that open a sweep in other tools: ``dashboard`` (optuna-dashboard), ``tensorboard``.

Neither imports TensorFlow: the dashboard reads Optuna's tables, TensorBoard runs as its own
program.
"""

from __future__ import annotations

import shlex
import signal
from typing import Annotated

import typer

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


@app.command()
@reports_errors
def dashboard(
    legacy_study: LegacyStudyArgument = None,
    study: StudyOption = None,
    storage: StorageOption = DEFAULT_STORAGE,
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (1 to 65535).")] = 8080,
) -> None:
    """Serve optuna-dashboard on the study's store (127.0.0.1 only) until Ctrl-C.

    Needs the extra: pip install 'sweeps[dashboard]'. The objective is val_accuracy; each
    trial's test accuracy, best epoch and status are its user attributes. Only sweeps' lines
    are printed; SWEEPS_TF_LOGS=1 shows the server's line per request too.

    Example: sweeps dashboard --study mnist_cnn-digits-20261121-101500 --port 8080
    """
    from sweeps.viewers import check_port, serve_dashboard

    check_port(port)
    opened = sweeps.load_study(chosen_study(legacy_study, study, "dashboard"), storage)

    def ready(url: str, ranked: bool) -> None:
        typer.echo(f"optuna-dashboard for {opened.name}: {url}  (Ctrl-C stops it)")
        if not ranked:
            typer.echo(
                "The store is read-only here: served read-only, without the note that ranks "
                f"the trials; `sweeps best --study {opened.name}` ranks them.",
                err=True,
            )

    # Ctrl-C or a plain `kill` is the way to stop a server: not an error. (The server itself
    # swallows KeyboardInterrupt and returns.) Installed explicitly: a process started in the
    # background of a script inherits SIGINT ignored, and would never stop on it.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        serve_dashboard(opened, port=port, ready=ready)
    except KeyboardInterrupt:
        pass
    typer.echo("Dashboard stopped.")


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


@app.command()
@reports_errors
def tensorboard(
    legacy_study: LegacyStudyArgument = None,
    study: StudyOption = None,
    storage: StorageOption = DEFAULT_STORAGE,
    run: Annotated[
        bool, typer.Option("--run", help="Start TensorBoard rather than print the command.")
    ] = False,
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (1 to 65535).")] = 6006,
) -> None:
    """Print (or --run) the TensorBoard command that shows every trial of a study.

    Each trial is a run (per-epoch curves); the HParams tab lists the trials with their
    parameters and their best val accuracy and its test accuracy first, as a table and in
    parallel coordinates.

    Only sweeps' lines are printed; SWEEPS_TF_LOGS=1 shows TensorBoard's own output too.

    Example: sweeps tensorboard --study mnist_cnn-digits-20261121-101500 --run
    """
    from sweeps.viewers import check_port, run_tensorboard, tensorboard_command

    check_port(port)
    opened = sweeps.load_study(chosen_study(legacy_study, study, "tensorboard"), storage)
    command = tensorboard_command(opened, port=port, check_free=run)
    if not run:
        typer.echo(shlex.join(command))
        return
    typer.echo(f"TensorBoard for {opened.name}: http://127.0.0.1:{port}/  (Ctrl-C stops it)")
    # As for the dashboard: Ctrl-C or a plain `kill` stops TensorBoard too, and is no error.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        run_tensorboard(command)
    except KeyboardInterrupt:
        pass
    typer.echo("TensorBoard stopped.")

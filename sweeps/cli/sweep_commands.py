"""Commands that run trials: ``run``, ``resume``, ``worker``; and ``status``, ``devices``."""

from __future__ import annotations

from typing import Annotated, Optional

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
from sweeps.cli.query_commands import echo_sweep_file
from sweeps.config import SweepConfig
from sweeps.errors import ConfigError

_defaults = SweepConfig()

# Ray (issue 19): the options of `run`, `resume` and `worker` that place workers on a cluster.
RayOption = Annotated[
    Optional[str],
    typer.Option(
        "--ray",
        help="Run the workers as Ray actors on the cluster at this address (HOST:PORT, or auto "
        "for this machine's cluster): one per free GPU, else --workers actors "
        "(pip install 'sweeps[ray]').",
    ),
]
WorkerCpusOption = Annotated[
    int, typer.Option(help="CPUs each Ray worker asks for and trains with (with --ray).")
]


def _parse_gpus(gpus: str | None) -> list[int]:
    if not gpus:
        return []
    try:
        return [int(part) for part in gpus.split(",") if part.strip()]
    except ValueError:
        raise ConfigError(
            f"--gpus must be a comma-separated list of GPU indices such as 0,1, but got {gpus!r}."
        ) from None


def _typed(ctx: typer.Context, name: str) -> bool:
    """The option was given on the command line (not its default, nor the environment)."""
    source = ctx.get_parameter_source(name)  # click's ParameterSource, vendored by Typer
    return source is not None and source.name == "COMMANDLINE"


def _exit_code(study: sweeps.Study) -> int:
    return 130 if study.interrupted else 0


@app.command()
@reports_errors
def run(
    ctx: typer.Context,
    config: Annotated[
        # A string, not a Path: Path("") is ".", and an empty --config must say it is empty.
        Optional[str],
        typer.Option(
            "--config",
            "-c",
            help="YAML sweep file with any of these options and parameter overrides "
            "(see examples/); flags given here win over it.",
        ),
    ] = None,
    space: Annotated[
        str,
        typer.Option(
            help="Search space: a name from `sweeps spaces`, pkg.module:attr or path/to/space.py."
        ),
    ] = _defaults.space,
    dataset: Annotated[
        str,
        typer.Option(help="Dataset: a name from `sweeps datasets`, cifar10-bin:DIR or folder:DIR."),
    ] = _defaults.dataset,
    trials: Annotated[
        int, typer.Option(help="Finished trials to reach, across all workers and resumes.")
    ] = _defaults.trials,
    epochs: Annotated[int, typer.Option(help="Maximum epochs per trial.")] = _defaults.epochs,
    sampler: Annotated[
        str, typer.Option(help="tpe, random, gp, cmaes or qmc.")
    ] = _defaults.sampler,
    pruner: Annotated[str, typer.Option(help="none, median or hyperband.")] = _defaults.pruner,
    storage: StorageOption = DEFAULT_STORAGE,
    study: Annotated[
        Optional[str],
        typer.Option("--study", "-S", help="Study name (default: SPACE-DATASET-TIME)."),
    ] = None,
    seed: Annotated[
        int, typer.Option(help="Seed of the sampler, splits and initialisation.")
    ] = _defaults.seed,
    patience: Annotated[
        int, typer.Option(help="Early-stopping patience in epochs; 0 turns it off.")
    ] = _defaults.patience,
    baseline: Annotated[
        bool, typer.Option(help="Run the notebook's recipe as the first trial.")
    ] = True,
    val_fraction: Annotated[
        Optional[float],
        typer.Option(
            help="Share of the training split held out for validation (selection); default "
            "0.1, raised up to 0.2 for small datasets so it holds about 300 images."
        ),
    ] = None,
    lr_range_test: Annotated[
        bool,
        typer.Option(
            help="Measure each optimizer family's learning-rate range on this space and "
            "dataset before the first trial, and search that range."
        ),
    ] = _defaults.lr_range_test,
    weights: Annotated[
        Optional[str], typer.Option(help="Pretrained weights file for spaces that take one.")
    ] = None,
    keep_models: Annotated[
        str,
        typer.Option(
            help="Checkpoints kept once trials end: top-K (the K best by validation), all or none."
        ),
    ] = _defaults.keep_models,
    workers: Annotated[
        Optional[int],
        typer.Option(
            help="CPU worker processes (ignored with --gpus); default: one per core, at most "
            "a quarter of --trials."
        ),
    ] = _defaults.workers,
    gpus: Annotated[Optional[str], typer.Option(help="GPU indices, e.g. 0,1,2,3.")] = None,
    trials_per_gpu: Annotated[int, typer.Option(help="Workers sharing each GPU.")] = 1,
    ray: RayOption = None,
    worker_cpus: WorkerCpusOption = _defaults.worker_cpus,
    max_trials_per_worker: Annotated[
        int, typer.Option(help="Recycle a worker process after this many trials; 0 = never.")
    ] = 0,
    max_worker_memory_mb: Annotated[
        int, typer.Option(help="Recycle a worker whose resident memory passes this; 0 = never.")
    ] = 0,
    max_retries: Annotated[
        int, typer.Option(help="Retries of a failed or lost trial.")
    ] = _defaults.max_retries,
    max_consecutive_failures: Annotated[
        int, typer.Option(help="Stop the sweep after this many failures in a row.")
    ] = _defaults.max_consecutive_failures,
    artifacts: Annotated[
        Optional[str],
        typer.Option(
            help="Checkpoint folder (default: beside the SQLite file; shared across machines)."
        ),
    ] = None,
    tensorboard: Annotated[
        bool, typer.Option(help="Write TensorBoard logs of every trial beside its checkpoints.")
    ] = _defaults.tensorboard,
) -> None:
    """Start a sweep and run it to its trial budget.

    Example: sweeps run --space leaky_cnn --dataset digits --trials 20 --epochs 8

    Example: sweeps run --config examples/002_leaky_cnn.yaml --trials 8

    Example: sweeps run --ray auto --storage postgresql://user@db-host/sweeps --trials 64
    """
    options = dict(
        space=space,
        dataset=dataset,
        storage=storage,
        study=study,
        artifacts=artifacts,
        trials=trials,
        epochs=epochs,
        sampler=sampler,
        pruner=pruner,
        seed=seed,
        patience=patience,
        baseline=baseline,
        lr_range_test=lr_range_test,
        val_fraction=val_fraction,
        weights=weights,
        keep_models=keep_models,
        workers=workers,
        gpus=_parse_gpus(gpus),
        trials_per_gpu=trials_per_gpu,
        ray=ray,
        worker_cpus=worker_cpus,
        max_trials_per_worker=max_trials_per_worker,
        max_worker_memory_mb=max_worker_memory_mb,
        max_retries=max_retries,
        max_consecutive_failures=max_consecutive_failures,
        tensorboard=tensorboard,
    )
    if config is not None:  # the file gives the rest: keep only the flags typed
        options = {k: v for k, v in options.items() if _typed(ctx, k)}
    result = sweeps.run(config=config, **options)
    raise typer.Exit(_exit_code(result))


@app.command()
@reports_errors
def resume(
    legacy_study: LegacyStudyArgument = None,
    study: StudyOption = None,
    storage: StorageOption = DEFAULT_STORAGE,
    trials: Annotated[
        Optional[int], typer.Option(help="Raise the budget to this many finished trials.")
    ] = None,
    artifacts: Annotated[
        Optional[str],
        typer.Option(
            help="Where the study's checkpoints are now, if moved apart from the store "
            "(the folder holding the study's folder)."
        ),
    ] = None,
    ray: RayOption = None,
) -> None:
    """Continue an interrupted study to its trial budget, from its saved configuration.

    Interrupted and lost trials continue from their last checkpoint.

    Example: sweeps resume --study mnist_cnn-digits-20261121-101500
    """
    name = chosen_study(legacy_study, study, "resume") or sweeps.load_study(None, storage).name
    result = sweeps.resume(name, storage, trials=trials, artifacts=artifacts, ray=ray)
    raise typer.Exit(_exit_code(result))


@app.command()
@reports_errors
def worker(
    legacy_study: LegacyStudyArgument = None,
    study: Annotated[
        Optional[str], typer.Option("--study", "-S", help="Study name to join (required).")
    ] = None,
    storage: StorageOption = DEFAULT_STORAGE,
    workers: Annotated[int, typer.Option(help="Worker processes on this machine.")] = 1,
    gpus: Annotated[Optional[str], typer.Option(help="GPU indices of this machine.")] = None,
    trials_per_gpu: Annotated[int, typer.Option(help="Workers sharing each GPU.")] = 1,
    artifacts: Annotated[
        Optional[str],
        typer.Option(help="Checkpoint folder: the same shared folder on every machine."),
    ] = None,
    ray: RayOption = None,
    worker_cpus: WorkerCpusOption = 1,
) -> None:
    """Join an existing study from this machine (multi-host sweeps on PostgreSQL).

    Example: sweeps worker --study my-study --storage postgresql://user@db-host/sweeps --gpus 0,1

    Example: sweeps worker --ray auto --study my-study --storage postgresql://user@db-host/sweeps
    """
    name = chosen_study(legacy_study, study, "worker")
    if name is None:  # joining "the newest" of a shared server could join the wrong sweep
        raise fail("`sweeps worker` needs --study NAME (`sweeps studies` lists them).")
    result = sweeps.join(
        name,
        storage,
        workers=workers,
        gpus=_parse_gpus(gpus),
        trials_per_gpu=trials_per_gpu,
        artifacts=artifacts,
        ray=ray,
        worker_cpus=worker_cpus,
    )
    raise typer.Exit(_exit_code(result))


@app.command()
@reports_errors
def status(
    legacy_study: LegacyStudyArgument = None,
    study: StudyOption = None,
    storage: StorageOption = DEFAULT_STORAGE,
    ray: Annotated[
        Optional[str],
        typer.Option("--ray", help="Also show this Ray cluster's resources in use (or auto)."),
    ] = None,
) -> None:
    """A study's trials by outcome against its budget, and its workers.

    Example: sweeps status --study mnist_cnn-digits-20261121-101500

    Example: sweeps status --ray auto
    """
    opened = sweeps.load_study(chosen_study(legacy_study, study, "status"), storage)
    state = opened.status()
    counts = state.counts
    # Every outcome counted apart: finished ones against the budget, then those that are
    # not (an interrupted trial continues in a retry and is no failure).
    typer.echo(
        f"{opened.name}: {state.finished}/{state.budget} finished ({counts.complete} "
        f"complete, {counts.pruned} pruned, {counts.diverged} diverged), {counts.running} "
        f"running, {counts.waiting} queued; {counts.failed} failed, {counts.lost} lost, "
        f"{counts.interrupted} interrupted, {counts.out_of_memory} out of memory"
    )
    on_ray = state.workers["ray_node"].notna().any()  # the Ray column only where it says something
    table = Table("worker", "device", *(["ray node"] if on_ray else []), "state", "trial")
    for column in ("epoch", "done", "last seen"):
        table.add_column(column)
    for w in state.workers.itertuples():
        table.add_row(
            w.worker,
            w.device,
            *([_or_dash(w.ray_node)] if on_ray else []),
            w.state,
            _or_dash(w.trial),
            _or_dash(w.epoch),
            str(w.done),
            w.last_seen.strftime("%H:%M:%S"),
        )
    Console().print(table)
    if ray is not None:
        from sweeps.cluster.connect import connect

        cluster = connect(ray)
        try:
            typer.echo(cluster.in_use())
        finally:
            cluster.disconnect()
    echo_sweep_file(opened.config)


def _or_dash(value: object) -> str:
    import pandas as pd

    return "-" if value is None or pd.isna(value) else str(value)


@app.command()
@reports_errors
def devices(
    workers: Annotated[
        Optional[int],
        typer.Option(help="CPU worker processes; default: one per core, as `sweeps run`."),
    ] = None,
    gpus: Annotated[Optional[str], typer.Option(help="GPU indices, e.g. 0,1.")] = None,
    trials_per_gpu: Annotated[int, typer.Option(help="Workers sharing each GPU.")] = 1,
) -> None:
    """The GPUs found here and the worker slots a sweep with these flags would use.

    Example: sweeps devices --gpus 0,1 --trials-per-gpu 2
    """
    import os

    from sweeps.devices import discover_gpus, plan_slots

    found = discover_gpus()
    typer.echo(f"CPU cores: {os.cpu_count()}")
    typer.echo(
        "GPUs: "
        + (
            ", ".join(f"{g.index}: {g.name} ({g.memory_mb} MiB)" for g in found)
            or "none found (nvidia-smi absent or reports none)"
        )
    )
    config = SweepConfig(
        workers=workers, gpus=_parse_gpus(gpus), trials_per_gpu=trials_per_gpu
    ).validate()
    table = Table("slot", "device", "threads", "GPU memory cap")
    for slot in plan_slots(config, found):
        table.add_row(
            str(slot.index),
            slot.device,
            str(slot.threads),
            f"{slot.memory_limit_mb} MiB" if slot.memory_limit_mb else "growth",
        )
    Console().print(table)

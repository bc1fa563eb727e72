"""Commands that run trials: ``run``, ``resume``, ``worker``; and ``status``, ``devices``.

``run``'s settings are not declared here: each is a field of
:class:`~sweeps.config.SweepSpec`, offered as an option by :func:`with_settings_options`.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
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
from sweeps.cli.query_commands import echo_sweep_file
from sweeps.config import Setting, SweepConfig, SweepSpec, declared, declared_setting, gpu_indices

# Ray (issue 19): where `run`, `resume` and `worker` place their workers. Not a setting of the
# sweep (it is not saved: a resume may run on another cluster), so declared here.
RayOption = Annotated[
    Optional[str],
    typer.Option(
        "--ray",
        help="Run the workers as Ray actors on the cluster at this address (HOST:PORT, or auto "
        "for this machine's cluster): one per free GPU, else --workers actors "
        "(pip install 'sweeps[ray]').",
    ),
]
WorkerCpusOption = Annotated[int, typer.Option(help=declared_setting("worker_cpus").help)]


def _typed(ctx: typer.Context, name: str) -> bool:
    """The option was given on the command line (not its default, nor the environment)."""
    source = ctx.get_parameter_source(name)  # click's ParameterSource, vendored by Typer
    return source is not None and source.name == "COMMANDLINE"


def _exit_code(study: sweeps.Study) -> int:
    return 130 if study.interrupted else 0


def _cli_settings() -> list[Setting]:
    """The declared settings that are ``sweeps run`` options (sweeps/config.py)."""
    return [s for s in declared() if s.cli]


def _option(setting: Setting) -> inspect.Parameter:
    """One declared setting as a Typer option: its name, type, default and help. Typer spells
    the flag from the name (``--max-retries``; ``--tensorboard/--no-tensorboard`` for a
    flag). A setting read from text (``--gpus 0,1``) is a string option, read in the command."""
    kind = Optional[str] if setting.from_text else setting.hint
    default = None if setting.from_text else setting.default
    return inspect.Parameter(
        setting.name,
        inspect.Parameter.KEYWORD_ONLY,
        default=default,
        annotation=Annotated[kind, typer.Option(help=setting.help)],
    )


def with_settings_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Offer every declared setting of :class:`~sweeps.config.SweepSpec` that is a command-line
    option as an option of ``command``, which takes them as ``**settings`` (already read:
    ``--gpus 0,1`` is ``[0, 1]``). Typer builds a command's options from its signature, so
    this gives ``command`` the signature with those options in place of ``**settings``."""
    signature = inspect.signature(command, eval_str=True)
    own = [p for p in signature.parameters.values() if p.kind is not p.VAR_KEYWORD]
    options = [_option(s) for s in _cli_settings()]
    readers = {s.name: s.from_text for s in _cli_settings() if s.from_text}

    def read(settings: dict[str, Any]) -> dict[str, Any]:
        return {k: readers[k](v) if k in readers else v for k, v in settings.items()}

    @functools.wraps(command)
    def with_settings(*args: Any, **kwargs: Any) -> Any:
        settings = {k: kwargs.pop(k) for k in [s.name for s in _cli_settings()] if k in kwargs}
        return command(*args, **kwargs, **read(settings))

    with_settings.__signature__ = signature.replace(parameters=[*own, *options])
    return with_settings


@app.command()
@reports_errors
@with_settings_options
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
    storage: StorageOption = DEFAULT_STORAGE,
    study: Annotated[
        Optional[str],
        typer.Option("--study", "-S", help="Study name (default: SPACE-DATASET-TIME)."),
    ] = None,
    ray: RayOption = None,
    **settings: Any,
) -> None:
    """Start a sweep and run it to its trial budget.

    Example: sweeps run --space leaky_cnn --dataset digits --trials 20 --epochs 8

    Example: sweeps run --config examples/002_leaky_cnn.yaml --trials 8

    Example: sweeps run --ray auto --storage postgresql://user@db-host/sweeps --trials 64
    """
    # Every other option is a setting of sweeps.config.SweepSpec: declared there, once.
    options = dict(storage=storage, study=study, ray=ray, **settings)
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
        gpus=gpu_indices(gpus),
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
    spec = SweepSpec(workers=workers, gpus=gpu_indices(gpus), trials_per_gpu=trials_per_gpu)
    config = SweepConfig(spec.validate())
    table = Table("slot", "device", "threads", "GPU memory cap")
    for slot in plan_slots(config, found):
        table.add_row(
            str(slot.index),
            slot.device,
            str(slot.threads),
            f"{slot.memory_limit_mb} MiB" if slot.memory_limit_mb else "growth",
        )
    Console().print(table)

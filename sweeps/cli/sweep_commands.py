"""Commands that run trials: ``run``, ``resume``, ``worker``; and ``status``, ``devices``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from sweeps.cli.app import DEFAULT_STORAGE, StorageOption, StudyArgument, app, reports_errors
from sweeps.config import SweepConfig
from sweeps.errors import ConfigError

_defaults = SweepConfig()


def _parse_gpus(gpus: str | None) -> list[int]:
    if not gpus:
        return []
    try:
        return [int(part) for part in gpus.split(",") if part.strip()]
    except ValueError:
        raise ConfigError(f"--gpus must be a comma-separated list of GPU indices such as 0,1, "
                          f"but got {gpus!r}.") from None


def _default_artifacts(url: str) -> str:
    """Checkpoints live beside the SQLite file; for a server, in ./sweeps-artifacts."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        return str(Path(parsed.database).expanduser().resolve().parent / "sweeps-artifacts")
    return str(Path("sweeps-artifacts").resolve())


def _check_fit(space_ref: str, dataset: str) -> tuple[object, object]:
    """Validate the space and dataset names (no TensorFlow) and that they can work together."""
    from search_spaces import load_space
    from sweeps.data import dataset_info

    space = load_space(space_ref)
    info = dataset_info(dataset)
    channels = info.image_shape[2]
    if channels not in space.info.channels and max(space.info.channels) < channels:
        raise ConfigError(
            f"space {space.name!r} takes {space.info.channels} channel images but dataset "
            f"{dataset!r} has {channels}; choose a space that accepts {channels} channels."
        )
    return space, info


def _check_weights(space, weights: str | None) -> None:
    """Resolve pretrained weights now, so a missing file is one line before anything starts."""
    module = space.module
    takes_weights = hasattr(module, "WEIGHTS_FILE") and hasattr(module, "WEIGHTS_URL")
    if weights is None:
        if takes_weights:
            typer.echo(f"Note: {space.name} starts from random weights; pass --weights imagenet "
                       "(Keras cache) or --weights FILE for the notebook's pretrained base.",
                       err=True)
        return
    if not takes_weights:
        raise ConfigError(f"space {space.name!r} takes no pretrained weights, but got "
                          f"--weights {weights!r}; drop --weights.")
    from search_spaces.pretrained import resolve_weights

    resolve_weights(weights, space.name, module.WEIGHTS_FILE, module.WEIGHTS_URL)


def _dispatch(handle, slots, artifacts: str) -> int:
    from sweeps.dispatcher import Dispatcher

    console = Console(stderr=True)
    started = time.perf_counter()
    result = Dispatcher(handle, slots, artifacts, console=console).run()
    minutes = (time.perf_counter() - started) / 60
    typer.echo(f"Study {handle.name}: {result.finished}/{result.budget} trials finished "
               f"in {minutes:.1f} min.", err=True)
    if result.fatal_reason:
        typer.echo(f"Error: sweep stopped: {result.fatal_reason}", err=True)
        return 1
    if result.interrupted and result.finished < result.budget:
        typer.echo(f"Interrupted. Continue with: sweeps resume {handle.name} "
                   f"--storage {_shown_storage(handle.url)}", err=True)
        return 130
    if result.finished >= result.budget:
        typer.echo(f"Best trials: sweeps best {handle.name} --storage "
                   f"{_shown_storage(handle.url)}", err=True)
    return 0


def _shown_storage(url: str) -> str:
    from storage import mask_url

    return mask_url(url)


@app.command()
@reports_errors
def run(
    space: Annotated[str, typer.Option(help="Search space: a name from `sweeps spaces`, "
                                       "pkg.module:attr or path/to/space.py.")] = _defaults.space,
    dataset: Annotated[str, typer.Option(help="Dataset: a name from `sweeps datasets`, "
                                         "cifar10-bin:DIR or folder:DIR.")] = _defaults.dataset,
    trials: Annotated[int, typer.Option(help="Finished trials to reach, across all workers "
                                        "and resumes.")] = _defaults.trials,
    epochs: Annotated[int, typer.Option(help="Maximum epochs per trial.")] = _defaults.epochs,
    sampler: Annotated[str, typer.Option(help="tpe, random, gp, cmaes or qmc.")] =
    _defaults.sampler,
    pruner: Annotated[str, typer.Option(help="none, median or hyperband.")] = _defaults.pruner,
    storage: StorageOption = DEFAULT_STORAGE,
    study: Annotated[Optional[str], typer.Option(help="Study name (default: "
                                                 "SPACE-DATASET-TIME).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the sampler, splits and "
                                      "initialisation.")] = _defaults.seed,
    patience: Annotated[int, typer.Option(help="Early-stopping patience in epochs; "
                                          "0 turns it off.")] = _defaults.patience,
    baseline: Annotated[bool, typer.Option(help="Run the notebook's recipe as the first "
                                           "trial.")] = True,
    weights: Annotated[Optional[str], typer.Option(help="Pretrained weights file for spaces "
                                                   "that take one.")] = None,
    workers: Annotated[int, typer.Option(help="CPU worker processes (ignored with "
                                         "--gpus).")] = _defaults.workers,
    gpus: Annotated[Optional[str], typer.Option(help="GPU indices, e.g. 0,1,2,3.")] = None,
    trials_per_gpu: Annotated[int, typer.Option(help="Workers sharing each GPU.")] = 1,
    max_trials_per_worker: Annotated[int, typer.Option(help="Recycle a worker process after "
                                                       "this many trials; 0 = never.")] = 0,
    max_worker_memory_mb: Annotated[int, typer.Option(help="Recycle a worker whose resident "
                                                      "memory passes this; 0 = never.")] = 0,
    max_retries: Annotated[int, typer.Option(help="Retries of a failed or lost "
                                             "trial.")] = _defaults.max_retries,
    max_consecutive_failures: Annotated[int, typer.Option(
        help="Stop the sweep after this many failures in a row.")] =
    _defaults.max_consecutive_failures,
    artifacts: Annotated[Optional[str], typer.Option(help="Checkpoint folder (default: beside "
                                                     "the SQLite file; shared across "
                                                     "machines).")] = None,
) -> None:
    """Start a sweep and run it to its trial budget.

    Example: sweeps run --space leaky_cnn --dataset digits --trials 20 --epochs 8
    """
    config = SweepConfig(
        space=space, dataset=dataset, trials=trials, epochs=epochs, sampler=sampler,
        pruner=pruner, seed=seed, patience=patience, baseline=baseline, weights=weights,
        workers=workers, gpus=_parse_gpus(gpus), trials_per_gpu=trials_per_gpu,
        max_trials_per_worker=max_trials_per_worker, max_worker_memory_mb=max_worker_memory_mb,
        max_retries=max_retries, max_consecutive_failures=max_consecutive_failures,
    ).validate()
    loaded_space, _ = _check_fit(space, dataset)
    _check_weights(loaded_space, weights)

    from sweeps.study import make_sampler

    make_sampler(config.sampler, config.seed)  # a sampler's missing package: one line, now

    from storage import StorageURLError, normalize_url
    from sweeps.devices import plan_slots
    from sweeps.study import create_study

    slots = plan_slots(config)
    try:
        url = normalize_url(storage)
    except StorageURLError as exc:
        from sweeps.errors import StorageError

        raise StorageError(str(exc)) from None
    config.artifacts = str(Path(artifacts).resolve()) if artifacts else _default_artifacts(url)
    study_name = study or f"{loaded_space.name}-{_short(dataset)}-{time.strftime('%Y%m%d-%H%M%S')}"
    baseline_values = dict(loaded_space.baseline) if baseline else None
    handle = create_study(config, url, study_name, baseline_values)
    typer.echo(f"Study {study_name} in {_shown_storage(url)}: {config.trials} trials of "
               f"{loaded_space.name} on {dataset}, {len(slots)} worker(s).", err=True)
    raise typer.Exit(_dispatch(handle, slots, config.artifacts))


def _short(dataset: str) -> str:
    kind, _, path = dataset.partition(":")
    return f"{kind}-{Path(path).name}" if path else kind


@app.command()
@reports_errors
def resume(
    study: StudyArgument,
    storage: StorageOption = DEFAULT_STORAGE,
    trials: Annotated[Optional[int], typer.Option(help="Raise the budget to this many "
                                                  "finished trials.")] = None,
) -> None:
    """Continue an interrupted study to its trial budget, from its saved configuration.

    Interrupted trials continue from their last checkpoint.

    Example: sweeps resume mnist_cnn-digits-20261121-101500
    """
    from storage.queries import finished_count, state_counts
    from sweeps.devices import plan_slots
    from sweeps.study import load_study, set_budget

    handle = load_study(study, storage)
    if trials is not None:
        handle = set_budget(handle, trials)
    counts = state_counts(handle.engine, handle.sweep.study_id)
    finished = finished_count(counts)
    if finished >= handle.config.trials and not counts.get("RUNNING"):
        typer.echo(f"Study {study} already has {finished}/{handle.config.trials} finished "
                   "trials; raise the budget with --trials N.", err=True)
        raise typer.Exit(0)
    slots = plan_slots(handle.config)
    raise typer.Exit(_dispatch(handle, slots, str(handle.config.artifacts)))


@app.command()
@reports_errors
def worker(
    study: StudyArgument,
    storage: StorageOption = DEFAULT_STORAGE,
    workers: Annotated[int, typer.Option(help="Worker processes on this machine.")] = 1,
    gpus: Annotated[Optional[str], typer.Option(help="GPU indices of this machine.")] = None,
    trials_per_gpu: Annotated[int, typer.Option(help="Workers sharing each GPU.")] = 1,
    artifacts: Annotated[Optional[str], typer.Option(help="Checkpoint folder: the same shared "
                                                     "folder on every machine.")] = None,
) -> None:
    """Join an existing study from this machine (multi-host sweeps on PostgreSQL).

    Example: sweeps worker my-study --storage postgresql://user@db-host/sweeps --gpus 0,1
    """
    from sweeps.devices import plan_slots
    from sweeps.study import load_study

    handle = load_study(study, storage)
    local = SweepConfig(workers=workers, gpus=_parse_gpus(gpus),
                        trials_per_gpu=trials_per_gpu).validate()
    slots = plan_slots(local)
    folder = str(Path(artifacts).resolve()) if artifacts else str(handle.config.artifacts)
    raise typer.Exit(_dispatch(handle, slots, folder))


@app.command()
@reports_errors
def status(study: StudyArgument, storage: StorageOption = DEFAULT_STORAGE) -> None:
    """Finished, running and failed trials of a study, and its workers.

    Example: sweeps status mnist_cnn-digits-20261121-101500
    """
    from storage.queries import finished_count, state_counts, workers_of
    from sweeps.store_access import load_sweep

    sweep, engine = load_sweep(study, storage)
    counts = state_counts(engine, sweep.study_id)
    finished = finished_count(counts)
    typer.echo(f"{study}: {finished}/{sweep.budget} finished ({counts.get('COMPLETE', 0)} "
               f"complete, {counts.get('PRUNED', 0)} pruned), {counts.get('RUNNING', 0)} "
               f"running, {counts.get('WAITING', 0)} queued, {counts.get('FAIL', 0)} failed")
    table = Table("worker", "device", "state", "trial", "epoch", "done", "last seen")
    for w in workers_of(engine, sweep.study_id):
        table.add_row(w.name, w.device, w.state, _or_dash(w.trial_number), _or_dash(w.epoch),
                      str(w.trials_done), w.last_seen.strftime("%H:%M:%S"))
    Console().print(table)


def _or_dash(value: object) -> str:
    return "-" if value is None else str(value)


@app.command()
@reports_errors
def devices(
    workers: Annotated[int, typer.Option(help="CPU worker processes.")] = 1,
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
    typer.echo("GPUs: " + (", ".join(f"{g.index}: {g.name} ({g.memory_mb} MiB)" for g in found)
                           or "none found (nvidia-smi absent or reports none)"))
    config = SweepConfig(workers=workers, gpus=_parse_gpus(gpus),
                         trials_per_gpu=trials_per_gpu).validate()
    table = Table("slot", "device", "threads", "GPU memory cap")
    for slot in plan_slots(config, found):
        table.add_row(str(slot.index), slot.device, str(slot.threads),
                      f"{slot.memory_limit_mb} MiB" if slot.memory_limit_mb else "growth")
    Console().print(table)

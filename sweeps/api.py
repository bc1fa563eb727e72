"""The public Python API: start, resume and join sweeps, and open recorded ones.

The ``sweeps`` CLI is a thin shell over these functions. They raise the typed exceptions of
:mod:`sweeps.errors` (bad input: :class:`~sweeps.errors.SweepsError`; a sweep that stopped on
a fault dooming every trial: :class:`~sweeps.errors.FatalSweepError`) and never exit the
process. Trials train in spawned worker processes, so the caller (a script, or a notebook
kernel that has imported TensorFlow already) is never forked; Ctrl-C (KeyboardInterrupt)
stops a sweep gracefully, and :func:`resume` continues it.
"""

from __future__ import annotations

import shlex
import time
import types
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from sweeps.config import SweepConfig, SweepSpec, SweepState, declared, declared_setting
from sweeps.errors import ConfigError, FatalSweepError, StorageError
from sweeps.phrasing import (
    Placeholder,
    either,
    next_step,
    option,
    python_call,
    setting,
    sweeps_command,
)
from sweeps.results import Study, open_study

if TYPE_CHECKING:
    import pandas as pd

    from search_spaces import SearchSpace
    from sweeps.cluster import RaySession
    from sweeps.devices import Slot
    from sweeps.optuna_study import StudyHandle

__all__ = ["DEFAULT_STORAGE", "join", "load_study", "resume", "run", "studies"]

DEFAULT_STORAGE = "sweeps.db"

# Settings run() takes as its own arguments; every other keyword setting comes as **settings.
_OWN_SETTINGS = ("space", "dataset", "artifacts")
_MAX_STUDY_NAME = 200


def _console(quiet: bool) -> Console:
    return Console(stderr=True, quiet=quiet)


def _say(console: Console, text: str) -> None:
    """One plain line on the console: never wrapped, no markup."""
    console.print(text, soft_wrap=True, markup=False, highlight=False)


def _masked(url: str) -> str:
    from storage import mask_url

    return mask_url(url)


def _space_reference(space: str | types.ModuleType | SearchSpace) -> str:
    """How worker processes will import the space: a registry name, dotted path or file."""
    from search_spaces import BUILTIN_SPACES, SearchSpace

    if isinstance(space, str):
        return space
    if isinstance(space, SearchSpace):
        module, reference = space.module, space.reference
    elif isinstance(space, types.ModuleType):
        module, reference = space, None
    else:
        raise ConfigError(
            f"space must be a name, a space module or a search_spaces.SearchSpace, "
            f"but got {type(space).__name__}."
        )
    name = getattr(module, "__name__", "")
    if name == "__main__" or not hasattr(module, "__file__"):
        raise ConfigError(
            f"space {getattr(module, 'INFO', name)!r} is defined in __main__ (a notebook cell "
            "or the running script), which worker processes cannot import; put it in a .py "
            "file and pass that module or its path."
        )
    if reference is not None:
        return reference
    for registry_name, module_name in BUILTIN_SPACES.items():
        if module_name == name:
            return registry_name
    if name.startswith("sweeps_user_space_"):  # loaded from a file by search_spaces
        return str(module.__file__)
    return name


def _check_fit(space: SearchSpace, dataset: str) -> None:
    """The dataset's name is known and its images suit the space (no TensorFlow)."""
    from sweeps.data import dataset_info

    info = dataset_info(dataset)
    channels = info.image_shape[2]
    if channels not in space.info.channels and max(space.info.channels) < channels:
        raise ConfigError(
            f"space {space.name!r} takes {space.info.channels} channel images but dataset "
            f"{dataset!r} has {channels}; choose a space that accepts {channels} channels."
        )


def _check_weights(space: SearchSpace, weights: str | None, console: Console) -> None:
    """Resolve pretrained weights now, so a missing file is one line before anything starts."""
    module = space.module
    takes_weights = hasattr(module, "WEIGHTS_FILE") and hasattr(module, "WEIGHTS_URL")
    if weights is None:
        if takes_weights:
            _say(
                console,
                f"Note: {space.name} starts from random weights; pass "
                f"{setting('--weights', 'imagenet')} (Keras cache) or "
                f"{setting('--weights', Placeholder('FILE'))} for the notebook's pretrained base.",
            )
        return
    if not takes_weights:
        raise ConfigError(
            f"space {space.name!r} takes no pretrained weights, but got "
            f"{setting('--weights', weights)}; drop {option('--weights')}."
        )
    from sweeps.space_access import resolve_weights

    resolve_weights(weights, space.name, module.WEIGHTS_FILE, module.WEIGHTS_URL)


def _normalized_url(storage: str) -> str:
    from sweeps.store_access import normalized_url

    return normalized_url(storage)


def _study_name(space: SearchSpace, dataset: str) -> str:
    kind, _, path = dataset.partition(":")
    short = f"{kind}-{Path(path).name}" if path else kind
    return f"{space.name}-{short}-{time.strftime('%Y%m%d-%H%M%S')}"


def _command(command: str, study: str, storage: str) -> str:
    """A ``sweeps`` command line the user can paste: names with spaces or quotes quoted. The
    store is always named: the sweep may have run with ``$SWEEPS_STORAGE`` set."""
    return f"sweeps {command} --study {shlex.quote(study)} --storage {shlex.quote(storage)}"


def _needs_preflight(config: SweepConfig) -> bool:
    """Whether the sweep has a part only a worker-like child can check: a space that is not
    one of ours, a weights file, images to decode. Our spaces build on every dataset (the test
    suite builds each) and the other datasets are read here without TensorFlow, so the default
    sweep pays no extra TensorFlow start-up."""
    from search_spaces import BUILTIN_SPACES
    from sweeps.data import decodes_images

    return (
        config.space not in BUILTIN_SPACES
        or config.weights is not None
        or decodes_images(config.dataset)
    )


def _preflight(config: SweepConfig) -> None:
    """Read the dataset here, then, when :func:`_needs_preflight`, do once in a child process
    what every worker does first: import the space, read and decode the dataset with the
    training decoder, build the first trial's model with its weights. What fails is bad input,
    found before the study exists; the caller never imports TensorFlow, nor a space file
    before the child has."""
    from sweeps.data import check_dataset
    from sweeps.spawn import TaskFailedError, run_in_child

    check_dataset(config.dataset, val_fraction=config.val_fraction, seed=config.seed)
    if not _needs_preflight(config):
        return
    try:
        run_in_child("sweeps.worker.preflight:preflight", config)
    except TaskFailedError as exc:
        if exc.exit_code is not None:
            why = (
                f"the checking process ended with exit code {exc.exit_code} before it answered "
                "(the space ends the process when imported or built, or memory ran out)"
            )
        else:
            why = exc.reason
        raise ConfigError(
            f"space {config.space!r} could not be checked on dataset {config.dataset!r}: "
            f"{why}; import it and call its build(hp, spec) by hand to see why."
        ) from None


def _checked_space(reference: str, spec: SweepSpec, console: Console) -> SearchSpace:
    """Load the space in this process and check it against the dataset and the settings."""
    from sweeps.space_access import load_space

    loaded = load_space(reference)
    _check_fit(loaded, spec.dataset)
    _check_weights(loaded, spec.weights, console)
    if spec.overrides:
        from sweeps.sweep_file import check_overrides

        baseline = dict(loaded.baseline) if spec.baseline else None
        check_overrides(reference, spec.overrides, baseline, spec.sweep_file or "overrides")
    return loaded


def _dispatch(
    handle: StudyHandle,
    slots: list[Slot],
    artifacts: str,
    console: Console,
    *,
    first_run: bool = False,
    cluster: RaySession | None = None,
) -> Study:
    """Run the workers to the budget (as Ray actors on ``cluster``'s plan, which is closed
    after); a fatal stop raises, an interrupt returns.

    A new study whose first dispatch stops before any trial started is removed again, so it
    neither blocks its name nor becomes the newest study that the query commands pick.
    """
    from sweeps.dispatcher import Dispatcher

    started = time.perf_counter()
    if cluster is None:
        result = Dispatcher(handle, slots, artifacts, console=console).run()
    else:
        from sweeps.cluster.dispatcher import RayDispatcher

        try:
            dispatcher = RayDispatcher(handle, cluster.plan, cluster.cluster, artifacts, console)
            result = dispatcher.run()
        finally:
            cluster.close()
    minutes = (time.perf_counter() - started) / 60
    storage = _masked(handle.url)
    _say(
        console,
        f"Study {handle.name}: {result.finished}/{result.budget} trials finished "
        f"in {minutes:.1f} min.",
    )
    if result.fatal_reason:
        if first_run and not result.started:
            from sweeps.optuna_study import delete_study

            delete_study(handle)
            raise FatalSweepError(
                f"sweep stopped before its first trial: {result.fatal_reason} (the study was "
                "removed; fix the cause and run again)"
            )
        raise FatalSweepError(f"sweep stopped: {result.fatal_reason}")
    if result.interrupted and result.finished < result.budget:
        again = either(
            _command("resume", handle.name, storage),
            python_call("sweeps.resume", handle.name, storage=storage),
        )
        _say(console, f"Interrupted. Continue with: {again}")
    elif result.finished >= result.budget:
        ranked = either(
            _command("best", handle.name, storage),
            f"{python_call('sweeps.load_study', handle.name, storage=storage)}.best()",
        )
        _say(console, f"Best trials: {ranked}")
    return Study(handle.sweep, handle.engine, handle.url, last_run=result)


def _with_sweep_file(
    config: str | Path, placement: dict[str, Any], settings: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The sweep file's settings under the ones given explicitly (not None)."""
    from sweeps.sweep_file import load_sweep_file

    sweep_file = load_sweep_file(config)
    given = {k: v for k, v in placement.items() if v is not None}
    merged = {**sweep_file.settings, **given, **settings}
    placement = {k: merged.pop(k, None) for k in placement}
    merged.update(sweep_file=sweep_file.path, sweep_file_text=sweep_file.text)
    return placement, merged


def run(
    space: str | types.ModuleType | SearchSpace | None = None,
    dataset: str | None = None,
    *,
    storage: str | None = None,
    study: str | None = None,
    artifacts: str | None = None,
    quiet: bool = False,
    config: str | Path | None = None,
    ray: str | None = None,
    **settings: Any,
) -> Study:
    """Start a sweep and run it to its trial budget; returns the recorded study.

    Everything is checked before the store is touched: the space and dataset names and their
    fit, pretrained weights, the sampler's optional package, parameter overrides, the devices
    and the storage URL; then, in a child process, what every worker does first: the space
    imported, the dataset read and decoded by the training decoder, the first trial's model
    built with its weights.

    Args:
        space: A registry name (``sweeps spaces``), ``pkg.module[:attr]``, a ``.py`` path, a
            space module, or a :class:`search_spaces.SearchSpace`. Worker processes import it,
            so it cannot live in ``__main__``. Default: ``mnist_cnn``.
        dataset: A registry name (``sweeps datasets``), ``cifar10-bin:DIR`` or ``folder:DIR``.
            Default: ``digits``.
        storage: A SQLite file path or a SQLAlchemy URL (``postgresql://user@host/db``).
            Default: ``sweeps.db``.
        study: The study's name; default ``SPACE-DATASET-YYYYmmdd-HHMMSS``.
        artifacts: Checkpoint folder; default ``sweeps-artifacts/`` beside the SQLite file.
        quiet: No progress display or messages.
        config: A YAML sweep file (:mod:`sweeps.sweep_file`) giving any of these settings and
            ``parameters`` overrides; the keywords given here win over it. Its text is saved
            with the study.
        ray: Run the workers as Ray actors on the cluster at this address (``"auto"``: the
            cluster this machine belongs to): one per free GPU, else ``workers`` actors of
            ``worker_cpus`` CPUs. Needs ``pip install 'sweeps[ray]'``; PostgreSQL when the
            cluster spans hosts.
        **settings: Any other setting of :class:`~sweeps.config.SweepSpec` (every
            ``sweeps run`` option): ``trials``, ``epochs``, ``sampler``, ``pruner``, ``seed``,
            ``patience``, ``baseline``, ``weights``, ``workers``, ``gpus``,
            ``trials_per_gpu``, ``max_retries``, ``tensorboard``, ``overrides`` (a sweep
            file's ``parameters``), ...

    Returns:
        The :class:`~sweeps.results.Study`; ``study.interrupted`` tells whether Ctrl-C stopped
        it before its budget.

    Raises:
        ConfigError: an unknown or out-of-range setting, or a study name already in use.
        DatasetError: an unknown dataset, or its files are missing or broken.
        StorageError: the storage URL is malformed or unreachable.
        SpaceError: the space cannot be found or breaks the space contract.
        FatalSweepError: the sweep stopped because every trial would fail (the message says
            why); the study is recorded and :func:`resume` continues it once fixed.
    """
    from search_spaces import BUILTIN_SPACES, SearchSpace

    _check_keywords(settings)
    if config is not None:
        placement = dict(
            space=space, dataset=dataset, storage=storage, study=study, artifacts=artifacts
        )
        placement, settings = _with_sweep_file(config, placement, settings)
        space, dataset, storage, study, artifacts = placement.values()
    space = SweepSpec.space if space is None else space
    dataset = SweepSpec.dataset if dataset is None else dataset
    storage = DEFAULT_STORAGE if storage is None else storage
    from sweeps.data import auto_val_fraction, dataset_info, resolved_name
    from sweeps.space_access import resolved_reference

    # Saved with the study: a relative path would name another file or folder to a resume.
    reference = resolved_reference(_space_reference(space))
    dataset = resolved_name(dataset)
    asked = None if artifacts is None else str(artifacts)
    spec = SweepSpec(space=reference, dataset=dataset, artifacts=asked, **settings).validate()
    _require_ray(ray)
    name = _check_study_name(study) if study is not None else None
    console = _console(quiet)
    # Our own spaces, and a module the caller has imported already, are checked here at
    # once; a space file or module is imported here only after the preflight child has
    # imported it, since its import may end the process (sys.exit, os._exit).
    in_process = reference in BUILTIN_SPACES or isinstance(space, types.ModuleType | SearchSpace)
    if in_process:
        loaded = _checked_space(reference, spec, console)
    else:
        from sweeps.space_access import check_reference

        check_reference(reference)  # a missing file: one line now, without the child
        loaded = None

    from sweeps.artifacts import check_root, default_artifacts, new_study_folder, study_path
    from sweeps.config import auto_workers
    from sweeps.devices import plan_slots
    from sweeps.optuna_study import create_study, make_sampler

    # A sampler's missing package: one line, now.
    make_sampler(spec.sampler, spec.seed)
    # What the sweep works out is its state, saved with it: resume runs as many workers, on the
    # same split, with its checkpoints in the same root.
    workers = spec.workers
    if workers is None and not spec.gpus and ray is None:
        workers = auto_workers(spec.trials)
    # On Ray the workers are planned on its cluster, below.
    slots = plan_slots(SweepConfig(spec, SweepState(workers=workers))) if ray is None else []
    url = _normalized_url(storage)
    _check_writable(url)
    root = check_root(artifacts if artifacts else default_artifacts(url))
    val_fraction = spec.val_fraction
    if val_fraction is None:
        val_fraction = auto_val_fraction(dataset_info(dataset).train_size)
    sweep_config = SweepConfig(
        spec, SweepState(artifacts=root, workers=workers, val_fraction=val_fraction)
    )
    # Read the dataset and build the first model once now: a broken file, an impossible split,
    # a space that cannot build or weights that do not fit are one line here rather than a
    # fatal error in every worker after the study exists.
    _preflight(sweep_config)
    if loaded is None:
        loaded = _checked_space(reference, spec, console)
    name = name or _study_name(loaded, dataset)
    sweep_config = sweep_config.with_state(study_folder=new_study_folder(name))
    cluster = _open_cluster(ray, sweep_config, url)
    if cluster is not None:
        slots = cluster.plan.slots()
        if not sweep_config.gpus and not cluster.plan.num_gpus:
            sweep_config = sweep_config.with_state(workers=cluster.plan.count)  # resume: as many
    try:
        handle = create_study(
            sweep_config, url, name, dict(loaded.baseline) if sweep_config.baseline else None
        )
        study_path(sweep_config.artifacts, sweep_config.study_folder).mkdir(parents=True)
    except BaseException:
        if cluster is not None:
            cluster.close()
        raise
    _say(
        console,
        f"Study {name} in {_masked(url)}: {sweep_config.trials} trials of "
        f"{loaded.name} on {dataset}, {_workers_phrase(slots, cluster)}.",
    )
    return _dispatch(
        handle, slots, sweep_config.artifacts, console, first_run=True, cluster=cluster
    )


def _require_ray(ray: str | None) -> None:
    """Ray asked for but not installed: one line, before anything slow."""
    if ray is not None:
        from sweeps.cluster import import_ray

        import_ray()


def _open_cluster(ray: str | None, config: SweepConfig, url: str) -> RaySession | None:
    """The Ray cluster's session when ``ray`` names one (checked before anything is made)."""
    if ray is None:
        return None
    from sweeps.cluster import open_session

    return open_session(ray, config, url)


def _workers_phrase(slots: list[Slot], cluster: RaySession | None) -> str:
    if cluster is None:
        return f"{len(slots)} worker(s)"
    plan = cluster.plan
    each = f"{plan.num_cpus} CPU" + (f", {plan.num_gpus:g} GPU" if plan.num_gpus else "")
    return f"{plan.count} Ray worker(s) ({each} each) on {cluster.cluster.address}"


def _check_keywords(settings: dict[str, Any]) -> None:
    """Refuse a keyword that is no setting (sweeps.config.SweepSpec's declared keywords)."""
    known = sorted(s.name for s in declared() if s.keyword and s.name not in _OWN_SETTINGS)
    unknown = sorted(set(settings) - set(known))
    if unknown:
        raise ConfigError(f"unknown setting {unknown[0]!r}; valid settings are {', '.join(known)}.")


def _check_study_name(name: str) -> str:
    """A study name is a label in the store, never a path; refuse what cannot be shown."""
    if not isinstance(name, str) or not name or len(name) > _MAX_STUDY_NAME:
        raise ConfigError(
            f"{option('--study')} must be 1 to {_MAX_STUDY_NAME} characters, but got "
            f"{str(name)[:40]!r}"
            f"{'...' if len(str(name)) > 40 else ''}."
        )
    if not name.strip():
        raise ConfigError(
            f"{option('--study')} must not be blank, but got {name!r} (only spaces); give a "
            "name with letters or digits, such as lr-sweep."
        )
    if any(not c.isprintable() for c in name):
        raise ConfigError(
            f"{option('--study')} must be printable text without newlines or control characters, "
            f"but got {name!r}."
        )
    return name


def _check_writable(url: str) -> None:
    from sweeps.store_access import check_writable

    try:
        check_writable(url)
    except StorageError as exc:
        store = _masked(url)
        reading = next_step(
            sweeps_command("best", storage=store),
            f"{python_call('sweeps.load_study', storage=store)}.best()",
        )
        raise StorageError(
            f"{exc}; give a writable path, or read what it holds with {reading}."
        ) from None


def resume(
    study: str,
    storage: str = DEFAULT_STORAGE,
    *,
    trials: int | None = None,
    artifacts: str | Path | None = None,
    quiet: bool = False,
    ray: str | None = None,
) -> Study:
    """Continue a study to its budget from its saved configuration.

    Interrupted and lost trials continue from their last checkpoint. When the budget is met
    and nothing runs, says so and returns at once. Otherwise the space and the dataset are
    checked as :func:`run` checks them (in a child process) before the budget is raised.

    Args:
        trials: Raise the budget to this many finished trials (never lower it).
        artifacts: Where the study's checkpoints are now (the folder holding its folder),
            when they were moved apart from the store; default: where they were recorded, or
            beside the store when it moved together with them.
        ray: Run the workers as Ray actors on the cluster at this address, as :func:`run`.

    Raises:
        StorageError: the store or the study does not exist.
        ConfigError: ``trials`` is below the study's budget, or ``artifacts`` holds no
            folder of this study.
        DatasetError: the study's dataset can no longer be read.
        SpaceError: the study's space can no longer be imported or built.
        FatalSweepError: the sweep stopped again because every trial would fail.
    """
    from storage.queries import trial_counts
    from sweeps.artifacts import resume_root
    from sweeps.devices import plan_slots
    from sweeps.optuna_study import open_handle, raise_budget

    console = _console(quiet)
    _require_ray(ray)
    handle = open_handle(study, storage)
    if trials is not None:
        _check_new_budget(handle, trials)
    root = resume_root(handle.config, handle.url, artifacts)  # moved with the store: beside it
    counts = trial_counts(handle.engine, handle.study_id)
    budget = max(handle.config.trials, trials or 0)
    if counts.finished >= budget and not counts.running:
        if trials is not None:
            handle = raise_budget(handle, trials)
        more = next_step(
            sweeps_command("resume", study, _masked(handle.url), "--trials N"),
            python_call(
                "sweeps.resume", study, storage=_masked(handle.url), trials=Placeholder("N")
            ),
        )
        _say(
            console,
            f"Study {study} already has {counts.finished}/{handle.config.trials} "
            f"finished trials; raise the budget to run more: {more}.",
        )
        return Study(handle.sweep, handle.engine, handle.url)
    # The dataset and the space as the workers will find them, before the budget is raised:
    # a folder removed since, or a space file edited since, changes nothing recorded.
    _preflight(handle.config)
    cluster = _open_cluster(ray, handle.config, handle.url)
    if trials is not None:
        handle = raise_budget(handle, trials)
    slots = cluster.plan.slots() if cluster else plan_slots(handle.config)
    _say(
        console,
        f"Study {handle.name} in {_masked(handle.url)}: resuming, "
        f"{handle.config.trials - counts.finished} of {handle.config.trials} trials left, "
        f"{_workers_phrase(slots, cluster)}.",
    )
    return _dispatch(handle, slots, root, console, cluster=cluster)


def _check_new_budget(handle: StudyHandle, trials: int) -> None:
    """Refuse an impossible ``trials`` before anything slow runs (nothing is written)."""
    from sweeps.optuna_study import raise_budget

    if trials < handle.config.trials:
        raise_budget(handle, trials)  # raises ConfigError, before it writes
    declared_setting("trials").check_value(trials)  # in its range


def join(
    study: str,
    storage: str,
    *,
    workers: int = 1,
    gpus: list[int] | None = None,
    trials_per_gpu: int = 1,
    artifacts: str | None = None,
    quiet: bool = False,
    ray: str | None = None,
    worker_cpus: int = 1,
) -> Study:
    """Run workers of an existing study on this machine (multi-host sweeps on PostgreSQL).

    The configuration comes from the store; only the devices (and the shared checkpoint
    folder's mount point) are this machine's. Returns at once when the budget is met.
    With ``ray``, the workers are Ray actors on that cluster instead: one per free GPU, else
    ``workers`` actors of ``worker_cpus`` CPUs.

    Raises:
        StorageError: the store or the study does not exist.
        ConfigError: bad device settings.
    """
    from storage.queries import trial_counts
    from sweeps.artifacts import check_root
    from sweeps.devices import plan_slots
    from sweeps.optuna_study import open_handle

    devices = SweepSpec(
        workers=workers,
        gpus=list(gpus or []),
        trials_per_gpu=trials_per_gpu,
        worker_cpus=worker_cpus,
    )
    local = SweepConfig(devices.validate())  # this machine's, not the study's
    _require_ray(ray)
    slots = plan_slots(local) if ray is None else []
    console = _console(quiet)
    root = check_root(artifacts) if artifacts else None
    handle = open_handle(study, storage)
    counts = trial_counts(handle.engine, handle.study_id)
    if counts.finished >= handle.config.trials:
        more = next_step(
            sweeps_command("resume", study, _masked(handle.url), "--trials N"),
            python_call(
                "sweeps.resume", study, storage=_masked(handle.url), trials=Placeholder("N")
            ),
        )
        _say(
            console,
            f"Study {study} already has {counts.finished}/{handle.config.trials} "
            f"finished trials; nothing to do (raise the budget with {more}).",
        )
        return Study(handle.sweep, handle.engine, handle.url)
    from sweeps.artifacts import resume_root

    folder = root or resume_root(handle.config, handle.url)
    cluster = _open_cluster(ray, local, handle.url)
    if cluster is not None:
        slots = cluster.plan.slots()
        _say(console, f"Study {handle.name}: joining with {_workers_phrase(slots, cluster)}.")
    return _dispatch(handle, slots, folder, console, cluster=cluster)


def load_study(study: str | None = None, storage: str = DEFAULT_STORAGE) -> Study:
    """Open a recorded study read-only (None: the newest in the store).

    Raises:
        StorageError: the store does not exist or holds no such study (the message lists the
            studies it holds).
    """
    return open_study(study, storage)


def studies(storage: str = DEFAULT_STORAGE) -> pd.DataFrame:
    """The studies in a store: space, dataset, progress against the budget, best trial.

    ``frame.attrs["optuna_only"]`` lists the store's Optuna studies that sweeps did not make.

    Raises:
        StorageError: the store does not exist or cannot be opened.
    """
    from storage.queries import list_studies, optuna_study_names
    from sweeps.store_access import open_store

    _, engine = open_store(storage, must_exist=True)
    frame = list_studies(engine)
    frame.attrs["optuna_only"] = optuna_study_names(engine)
    return frame

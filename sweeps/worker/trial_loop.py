"""The body of a worker: claim a slot, ask a trial, train it, tell how it ended. Repeat."""

from __future__ import annotations

import shutil
import time
import traceback
from collections.abc import Callable
from typing import Any

import optuna
from optuna.trial import TrialState
from sqlalchemy.orm import Session

from storage import FAULTS, TrialStatus, WorkerState, records
from storage.engine import scrub
from storage.optuna_tables import BATCH_SIZE_ATTR, SECONDS_PER_EPOCH_ATTR
from storage.queries import recent_statuses, trial_counts
from storage.trial_status import OUTCOME_ATTR
from sweeps.artifacts import trial_folder
from sweeps.devices import describe_device
from sweeps.errors import FatalSweepError, SweepsError, TrialFailedError
from sweeps.optuna_study import (
    BASELINE_ATTR,
    LINEAGE_ATTR,
    RESUME_ATTR,
    RETRY_OF_ATTR,
    enqueue_retry,
    open_handle,
    retries_left,
)
from sweeps.protocol import (
    EpochEnded,
    Event,
    TrialEnded,
    TrialStarted,
    WorkerExit,
    WorkerFatal,
    WorkerMessage,
    WorkerOptions,
)
from sweeps.space_access import load_space
from sweeps.worker.keep import prune_checkpoints
from sweeps.worker.trainer import EpochRecord, TrialOutcome

__all__ = ["TrialLoop"]

RANGE_TEST_ATTR = "lr_range_test:"  # + family: a study attribute per measured family
RANGE_TEST_WAIT_SECONDS = 300.0  # slot 0 measures a family itself when its slot is this late
GC_EVERY = 4


def resident_memory_mb() -> float:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _wait(seconds: float, should_stop: Callable[[], bool]) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not should_stop():
        time.sleep(0.2)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:500]


class TrialLoop:
    """One worker's trials: runs until the budget is met, a stop is asked, or a fatal fault."""

    def __init__(
        self,
        options: WorkerOptions,
        *,
        should_stop: Callable[[], bool],
        emit: Callable[[Event], None],
        host: str,
        pid: int,
    ):
        self.options, self.should_stop, self.emit = options, should_stop, emit
        self.handle = open_handle(
            options.study_name, options.storage_url, sampler_seed_offset=options.slot
        )
        self.config = self.handle.config
        self.engine = self.handle.engine
        self.study_id = self.handle.study_id
        self.worker_id = records.register_worker(
            self.engine, self.study_id, host, pid, describe_device(options)
        )
        self.worker_name = f"{host}:{pid}"
        self.trials_done = 0

    def close(self) -> None:
        records.set_worker(
            self.engine,
            self.worker_id,
            state=WorkerState.EXITED,
            trial_id=None,
            trial_number=None,
            epoch=None,
        )
        self.engine.dispose()

    # The loop ---------------------------------------------------------------------------

    def run(self) -> WorkerExit:
        try:
            from sweeps.data import load_splits

            self.space = load_space(self.config.space)
            self.splits = load_splits(
                self.config.dataset, val_fraction=self.config.val_fraction, seed=self.config.seed
            )
        except SweepsError as exc:
            self.emit(WorkerFatal(self.options.slot, reason=str(exc)))
            return WorkerExit.FATAL
        if self.config.lr_range_test and self.config.learning_rates is None:
            self._measure_learning_rates()
        while not self.should_stop():
            reason = self._fatal_reason()
            if reason:
                self.emit(WorkerFatal(self.options.slot, reason=reason))
                return WorkerExit.FATAL
            if self._budget_met():
                return WorkerExit.DONE
            if self._should_recycle():
                return WorkerExit.RECYCLE
            if not records.claim_trial(self.engine, self.study_id, self.worker_id):
                _wait(1.0, self.should_stop)  # every slot is in flight; one may fail and free up
                continue
            asked_at = time.perf_counter()
            try:
                trial = self.handle.study.ask()
            except BaseException:
                records.release_claim(self.engine, self.worker_id)
                raise
            trial_id = self.handle.trial_id(trial.number)
            # Its parameters and reports ride with our writes of it (sweeps.held_writes).
            self.handle.storage.hold(trial_id)
            try:
                fatal = self._run_one(trial, trial_id, asked_at)
            except BaseException as exc:
                self._abandon(trial, trial_id, exc)
                raise
            if fatal:
                return WorkerExit.FATAL
            self.trials_done += 1
        return WorkerExit.DONE

    def _measure_learning_rates(self) -> None:
        """Run the learning-rate range test once per study, before any trial asks a rate.

        The optimizer families are shared out over this sweep's slots (slot k measures
        families k, k + slots, ...), each result saved as a study attribute the moment it is
        measured; slot 0 gathers them into the study's config and the others wait for it. A
        worker restarted after a crash mid-test measures its families again.
        """
        from sweeps.worker.lr_finder import FAMILIES, affordable

        slots = max(1, self.options.slot_count)
        if not affordable(self.space, self.splits, self.config.trials, self.config.epochs):
            if self.options.slot == 0:
                self._save_learning_rates({}, "the sweep is too short for it to pay off")
            else:
                self._wait_for_learning_rates()
            return
        if self.options.slot == 0:
            self.emit(WorkerMessage(self.options.slot, text="learning-rate range test..."))
        done = self._measured_families()
        self._measure_families(
            tuple(f for f in FAMILIES[self.options.slot :: slots] if f not in done)
        )
        if self.options.slot != 0:
            self._wait_for_learning_rates()
            return
        waited = time.monotonic()
        while not self.should_stop():
            found = self._measured_families()
            missing = tuple(f for f in FAMILIES if f not in found)
            if not missing:
                break
            if time.monotonic() - waited > RANGE_TEST_WAIT_SECONDS:
                self._measure_families(missing)  # their slot never reported: measure here
                continue
            _wait(0.5, self.should_stop)
        if self.should_stop():
            return  # measured families stay saved; a resume measures only the rest
        found = self._measured_families()
        measured = {f: found[f]["range"] for f in FAMILIES if found[f].get("range")}
        errors = [found[f]["error"] for f in FAMILIES if found[f].get("error")]
        self._save_learning_rates(measured, errors[0] if errors and not measured else None)

    def _measure_families(self, families: tuple[str, ...]) -> None:
        """Measure ``families`` and save each result (a range, or why there is none)."""
        from sweeps.worker.lr_finder import run_range_tests

        for family in families:
            try:
                tests = run_range_tests(self.space, self.splits, self.config.seed, (family,))
                result = {"range": [tests[0].low, tests[0].high]}
            except Exception as exc:  # a space that cannot train: its trials will say why
                result = {"error": _one_line(exc)}
            self.handle.study.set_user_attr(f"{RANGE_TEST_ATTR}{family}", result)

    def _measured_families(self) -> dict[str, dict]:
        attrs = self.handle.study.user_attrs
        return {
            k[len(RANGE_TEST_ATTR) :]: v for k, v in attrs.items() if k.startswith(RANGE_TEST_ATTR)
        }

    def _save_learning_rates(self, measured: dict[str, list[float]], skipped: str | None) -> None:
        """Save the ranges with the study (an empty result too: the other workers stop
        waiting for one) and say what they are."""
        from sweeps.config import SweepConfig

        self.config = self.config.with_state(learning_rates=measured)  # the study's state
        self.handle.config = self.config
        records.update_config(
            self.engine, self.study_id,
            lambda text: SweepConfig.from_json(text).with_state(learning_rates=measured).to_json(),
        )  # fmt: skip
        if measured:
            text = ", ".join(f"{f} {low:.2g}..{high:.2g}" for f, (low, high) in measured.items())
            self.emit(WorkerMessage(self.options.slot, text=f"learning rates: {text}"))
        elif skipped:
            self.emit(WorkerMessage(
                self.options.slot,
                text=f"learning-rate range test skipped ({skipped}); searching the generic ranges",
            ))  # fmt: skip

    def _wait_for_learning_rates(self) -> None:
        from storage.queries import find_sweep
        from sweeps.config import SweepConfig

        while not self.should_stop():
            sweep = find_sweep(self.engine, self.handle.name)
            saved = SweepConfig.from_json(sweep.config_json) if sweep else self.config
            if saved.learning_rates is not None:
                self.config = saved
                break
            _wait(0.5, self.should_stop)
        self.handle.config = self.config

    def _finished(self) -> int:
        """The study's finished trials, every worker's: what the budget counts."""
        return trial_counts(self.engine, self.study_id).finished

    def _budget_met(self) -> bool:
        return self._finished() >= self.config.trials

    def _fatal_reason(self) -> str | None:
        """Why the sweep must stop: the last k trials ended in faults (failed or lost). A
        diverged, pruned or out-of-memory trial is a result and breaks the run; an interrupt is
        not counted at all."""
        k = self.config.max_consecutive_failures
        statuses = recent_statuses(self.engine, self.study_id, k, self.options.failures_since)
        if len(statuses) == k and all(s in FAULTS for s in statuses):
            return (
                f"the last {k} trials failed or lost their worker; see `sweeps show` of one of "
                "them for the reason, fix it, then `sweeps resume`"
            )
        return None

    def _should_recycle(self) -> bool:
        limit, memory = self.config.max_trials_per_worker, self.config.max_worker_memory_mb
        if limit and self.trials_done >= limit:
            return True
        return bool(memory and self.trials_done and resident_memory_mb() > memory)

    # One trial ---------------------------------------------------------------------------

    def _run_one(self, trial: optuna.Trial, trial_id: int, asked_at: float) -> bool:
        """Train one trial and record how it ended; True when its failure dooms the sweep."""
        import keras

        from sweeps.worker import checkpoint
        from sweeps.worker.trainer import TrialRun, train_trial

        attrs = trial.user_attrs
        lineage = int(attrs.get(LINEAGE_ATTR, trial.number))
        retry_of = attrs.get(RETRY_OF_ATTR)
        resume = bool(attrs.get(RESUME_ATTR, False))
        study_folder = self.config.study_folder or self.handle.name  # older studies
        folder = trial_folder(self.options.artifacts, study_folder, lineage)
        logs = trial_folder(self.options.artifacts, study_folder, lineage, tensorboard=True)
        if not resume:  # a fresh start must not inherit epochs
            shutil.rmtree(folder, ignore_errors=True)
            shutil.rmtree(logs, ignore_errors=True)
        is_baseline = bool(attrs.get(BASELINE_ATTR, False))
        restored = None
        if resume and retry_of is not None:
            # The restored curve comes from the checkpoint itself: exactly the epochs whose
            # weights it holds, whatever the killed trial managed to record.
            state = checkpoint.load_state(folder)
            restored = state.history if state else []
        records.start_trial(
            self.engine,
            worker_id=self.worker_id,
            restored=restored,
            **self._result_row(trial, trial_id),
            is_baseline=is_baseline,
            retry_of=retry_of,
            checkpoint_dir=str(folder),
        )
        slot = self.options.slot
        self.emit(TrialStarted(slot, number=trial.number, baseline=is_baseline, retry_of=retry_of))
        board = None
        if self.config.tensorboard:  # --logdir STUDY_FOLDER/tensorboard
            from sweeps.worker.tensorboard import TrialBoard

            board = TrialBoard(logs, logs.name)

        held = self.handle.storage.writing_held

        def on_start(facts: dict[str, object]) -> None:
            # The model is built: every parameter it asked is written with its facts (its
            # size, its input), so other workers' samplers see them while it trains.
            with held(trial_id) as params:
                records.update_result(self.engine, trial_id, also=params, **facts)

        def on_epoch(record: EpochRecord) -> None:
            values = dict(vars(record))
            epoch = values.pop("epoch")
            with held(trial_id) as report:  # the epoch's value, as Optuna was told it
                records.record_epoch(
                    self.engine, trial_id, epoch, worker_id=self.worker_id, also=report, **values
                )
            self.emit(
                EpochEnded(
                    slot,
                    number=trial.number,
                    epoch=epoch,
                    epochs=self.config.epochs,
                    val_accuracy=record.val_accuracy,
                )
            )
            if board is not None:
                board.epoch(record)

        run = TrialRun(
            trial=trial,
            config=self.config,
            space=self.space,
            splits=self.splits,
            checkpoint_dir=folder,
            resume=resume,
            baseline=is_baseline,
            should_stop=self.should_stop,
            on_epoch=on_epoch,
            on_start=on_start,
        )
        fatal = False
        try:
            outcome = train_trial(run, device=self.options.device)
        except FatalSweepError as exc:
            outcome, fatal = _failed(str(exc)), True
        except (TrialFailedError, SweepsError) as exc:
            outcome = _failed(str(exc))
        except Exception as exc:  # a shape error deep in Keras, a full disk: this trial only
            outcome = _failed(_one_line(exc), retryable=is_transient(exc))
            self.emit(WorkerMessage(slot, text=traceback.format_exc(limit=3)))
        finally:
            # Free the graph before the next trial; the full garbage collection that frees its
            # memory costs ~0.2 s, so it runs every GC_EVERY trials (memory stays bounded).
            keras.backend.clear_session(free_memory=self.trials_done % GC_EVERY == GC_EVERY - 1)
        if board is not None:
            board.close(trial.params, outcome)
        self._tell(trial, trial_id, outcome, asked_at=asked_at)
        self.emit(
            TrialEnded(
                slot,
                number=trial.number,
                status=outcome.status,
                val_accuracy=outcome.val_accuracy,
                test_accuracy=outcome.test_accuracy,
                reason=outcome.failure_reason,
                finished=self._finished(),
            )
        )
        # --keep-models: drop what can no longer make the top K.
        prune_checkpoints(self.handle, self.options.artifacts)
        return fatal

    def _result_row(self, trial: optuna.Trial, trial_id: int) -> dict[str, object]:
        """What our result row of a trial this worker has started says from the start."""
        return {
            "trial_id": trial_id,
            "study_id": self.study_id,
            "number": trial.number,
            "space": self.config.space,
            "dataset": self.config.dataset,
            "worker": self.worker_name,
        }

    def _abandon(self, trial: optuna.Trial, trial_id: int, exc: BaseException) -> None:
        """The worker itself is going down: fail the trial and queue it, so nothing waits on it."""
        if self.handle.storage.get_trial(trial_id).state != TrialState.RUNNING:
            return
        interrupted = isinstance(exc, KeyboardInterrupt)
        outcome = TrialOutcome(
            status=TrialStatus.INTERRUPTED if interrupted else TrialStatus.LOST,
            failure_reason=None if interrupted else f"worker crashed: {_one_line(exc)}",
        )
        try:
            records.start_result(self.engine, **self._result_row(trial, trial_id))
        except Exception:
            pass  # the row exists already
        self._tell(trial, trial_id, outcome)

    def _tell(
        self,
        trial: optuna.Trial,
        trial_id: int,
        outcome: TrialOutcome,
        *,
        asked_at: float | None = None,
    ) -> None:
        """Tell Optuna how the trial ended, in one transaction with its result attributes and
        our rows of its end (sweeps.held_writes); then queue its retry, if it gets one.

        ``asked_at``: when the trial was asked, for its wall time.
        """
        study = self.handle.study
        if outcome.failure_reason:  # a driver's error may quote the storage URL: never stored
            outcome.failure_reason = scrub(outcome.failure_reason, self.options.storage_url)
        state = _optuna_state(outcome)
        retry = None
        if state == TrialState.FAIL:
            outcome.failure_reason, retry = self._retry_plan(trial, outcome)
        values = {
            "val_accuracy": outcome.val_accuracy,
            "val_loss": outcome.val_loss,
            "test_accuracy": outcome.test_accuracy,
            "test_loss": outcome.test_loss,
            "best_epoch": outcome.best_epoch,
            "epochs_run": outcome.epochs_run,
            "resumed_from_epoch": outcome.resumed_from_epoch,
            "fit_seconds": outcome.fit_seconds,
            "failure_reason": outcome.failure_reason,
        }
        if asked_at is not None:
            # From ask to tell: what the trial cost the sweep, bookkeeping included.
            values["wall_seconds"] = time.perf_counter() - asked_at
        # What Optuna's own tools (optuna trials, best-trial, optuna-dashboard) show beside val.
        attrs = _user_attrs(outcome, trial)
        done = self.trials_done + int(state != TrialState.FAIL)

        def end(session: Session) -> None:
            records.write_result_attrs(session, trial_id, attrs)
            records.end_trial(
                session, trial_id=trial_id, worker_id=self.worker_id, trials_done=done, **values
            )

        storage = self.handle.storage
        storage.finish_with(trial_id, end)
        try:
            if state == TrialState.COMPLETE:
                frozen = study.tell(trial, outcome.val_accuracy)
            else:
                frozen = study.tell(trial, state=state)
        except (ValueError, optuna.exceptions.UpdateFinishedTrialError) as exc:
            storage.release(trial_id)
            if storage.get_trial(trial_id).state == TrialState.RUNNING:
                raise
            raise optuna.exceptions.UpdateFinishedTrialError(
                f"trial {trial.number} was finished by someone else (a reaper?) before its end"
            ) from exc
        if retry is not None:
            enqueue_retry(study, frozen, max_retries=self.config.max_retries, **retry)

    def _retry_plan(
        self, trial: optuna.Trial, outcome: TrialOutcome
    ) -> tuple[str | None, dict[str, Any] | None]:
        """The failed trial's reason, saying what becomes of it, and how its retry is queued
        (None: it gets none): decided before the tell that records the reason.

        Interrupted trials continue from their checkpoint (not counted as a retry); a transient
        failure (see :func:`is_transient`) is retried from its checkpoint; a trial that ran out
        of memory starts again at half its batch size. A deterministic failure, one that the
        same parameters would raise again, is not retried.
        """
        reason, attrs = outcome.failure_reason, trial.user_attrs
        max_retries = self.config.max_retries
        if outcome.status == TrialStatus.INTERRUPTED:
            retry = {"resume": True, "counts_as_retry": False}
            return "interrupted; continued by a retry from its checkpoint", retry
        if outcome.status == TrialStatus.OUT_OF_MEMORY:
            half = (outcome.facts.get("batch_size") or 0) // 2
            if half < 1:
                return f"{reason}; no smaller batch to retry with", None
            if not retries_left(attrs, counts_as_retry=True, max_retries=max_retries):
                return f"{reason} (retries used up)", None
            retry = {"resume": False, "counts_as_retry": True, "attrs": {BATCH_SIZE_ATTR: half}}
            return f"{reason}; retried at batch size {half}", retry
        if outcome.status == TrialStatus.FAILED and not outcome.retryable:
            return f"{reason} (not retried: the same parameters would fail again)", None
        if not retries_left(attrs, counts_as_retry=True, max_retries=max_retries):
            return f"{reason} (retries used up)", None
        return f"{reason}; retried from its checkpoint", {"resume": True, "counts_as_retry": True}


def _optuna_state(outcome: TrialOutcome) -> TrialState:
    """What Optuna is told, chosen for what the sampler learns from it.

    - Early-stopped trials are pruned in our words, but their value (the best epoch's val
      accuracy) is a full result: COMPLETE.
    - Diverged trials are PRUNED. TPE ranks pruned trials after every complete one, by the
      epochs they reached and their last reported value, so the region they came from is taught
      as bad (FAIL trials would teach it nothing), and PRUNED counts against the budget, as a
      result should. Their last finite epochs were reported, so a late divergence still says how
      far the configuration got.
    - Failed, out-of-memory, lost and interrupted trials are FAIL: they say nothing about the
      configuration, and do not count against the budget.
    """
    if outcome.status == TrialStatus.COMPLETE or outcome.early_stopped:
        return TrialState.COMPLETE
    if outcome.status in (TrialStatus.PRUNED, TrialStatus.DIVERGED):
        return TrialState.PRUNED
    return TrialState.FAIL


def is_transient(exc: BaseException) -> bool:
    """Whether a trial's exception may not happen again on a second run.

    Deterministic, never retried: everything the space's own code or Keras raises for the
    configuration (a bad combination of values, a shape error, a NaN check), since the same
    parameters raise it again. Transient, retried from the checkpoint: the machine's faults, I/O
    errors (a full disk, a network file system hiccup, the store busy) and TensorFlow's
    unavailable, aborted and deadline-exceeded errors.
    """
    import sqlalchemy.exc
    import tensorflow as tf

    transient = (
        OSError,
        sqlalchemy.exc.OperationalError,
        tf.errors.UnavailableError,
        tf.errors.AbortedError,
        tf.errors.DeadlineExceededError,
    )
    return isinstance(exc, transient)


def _user_attrs(outcome: TrialOutcome, trial: optuna.Trial) -> dict[str, object]:
    """The trial's result as Optuna user attributes: test beside val, status, baseline mark."""
    values = {
        "test_accuracy": outcome.test_accuracy,
        "test_loss": outcome.test_loss,
        "val_loss": outcome.val_loss,
        "best_epoch": outcome.best_epoch,
        "epochs_run": outcome.epochs_run,
        "fit_seconds": round(outcome.fit_seconds, 3) if outcome.fit_seconds else None,
        SECONDS_PER_EPOCH_ATTR: (
            round(outcome.seconds_per_epoch, 4) if outcome.seconds_per_epoch else None
        ),
        "param_count": outcome.facts.get("param_count"),
        OUTCOME_ATTR: str(outcome.status),
        "failure_reason": outcome.failure_reason,
        "baseline": bool(trial.user_attrs.get(BASELINE_ATTR, False)),
    }
    return {key: value for key, value in values.items() if value is not None}


def _failed(reason: str, retryable: bool = False) -> TrialOutcome:
    return TrialOutcome(status=TrialStatus.FAILED, failure_reason=reason, retryable=retryable)

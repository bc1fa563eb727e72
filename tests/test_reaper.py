"""Reaping without anyone asking: a worker on another host stops beating; its trial goes back."""

from __future__ import annotations

from datetime import timedelta

import optuna

from storage import records
from storage.engine import session_scope
from storage.queries import trial_detail
from storage.tables import TrialResult, WorkerRecord, utcnow
from sweeps.config import SweepConfig, SweepSpec
from sweeps.optuna_study import LINEAGE_ATTR, RESUME_ATTR, RETRY_OF_ATTR, create_study
from sweeps.reaper import reap_dead_workers


def test_a_silent_remote_worker_is_reaped_and_its_trial_queued_to_resume(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    handle = create_study(SweepConfig(SweepSpec(trials=3)), url, "remote", baseline=None)
    study_id, engine = handle.study_id, handle.engine
    worker = records.register_worker(engine, study_id, "other-host", 4242, "gpu:0")
    assert records.claim_trial(engine, study_id, worker)
    trial = handle.study.ask()
    trial.report(0.5, 1)
    trial_id = handle.trial_id(trial.number)
    records.start_result(
        engine,
        trial_id=trial_id,
        study_id=study_id,
        number=trial.number,
        space="mnist_cnn",
        dataset="digits",
    )
    records.set_worker(
        engine, worker, state="training", trial_id=trial_id, trial_number=trial.number, epoch=1
    )

    assert reap_dead_workers(handle, grace_seconds=60) == []  # still beating: left alone
    with session_scope(engine) as session:
        session.get(WorkerRecord, worker).last_seen = utcnow() - timedelta(seconds=120)
    assert reap_dead_workers(handle, grace_seconds=60) == [trial.number]

    states = {t.number: t for t in handle.study.get_trials(deepcopy=False)}
    assert states[trial.number].state == optuna.trial.TrialState.FAIL
    assert states[trial.number].user_attrs["status"] == "lost"  # Optuna's tools say so too
    assert "other-host:4242" in states[trial.number].user_attrs["failure_reason"]
    retry = next(t for t in states.values() if t.state == optuna.trial.TrialState.WAITING)
    assert retry.user_attrs[RETRY_OF_ATTR] == trial.number
    assert retry.user_attrs[LINEAGE_ATTR] == trial.number
    assert retry.user_attrs[RESUME_ATTR] is True
    assert retry.intermediate_values == {1: 0.5}  # the pruner sees the same history
    with session_scope(engine) as session:
        result = session.get(TrialResult, trial_id)
        assert "other-host:4242" in result.failure_reason and result.finished_at
        assert session.get(WorkerRecord, worker).state == "dead"
        assert not session.get(WorkerRecord, worker).holds_claim  # its claim is free
    assert trial_detail(engine, handle.sweep, trial.number).status == "lost"
    assert reap_dead_workers(handle, grace_seconds=60) == []  # reaped once only

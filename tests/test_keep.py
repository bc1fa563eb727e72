"""The keep policy (--keep-models): which checkpoint folders go, and the ones that never do.

Scripted trial histories for the rule itself, then a real store whose Optuna study holds a
queued retry and a running trial, pruned by the same function the trial loop calls.
"""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

import pytest
import sqlalchemy as sa
from optuna.trial import TrialState

import sweeps
from storage import TrialStatus
from storage.engine import session_scope
from storage.optuna_tables import OptunaState, trials
from storage.queries import ResultRow
from sweeps.config import SweepConfig, SweepSpec, keep_count
from sweeps.optuna_study import enqueue_retry, open_handle
from sweeps.worker.keep import lineages_to_prune, prune_checkpoints
from tests.conftest import invoke

S = TrialStatus


def _row(number: int, status: TrialStatus, retry_of: int | None = None) -> ResultRow:
    lineage = number if retry_of is None else retry_of
    return ResultRow(number, status, retry_of, f"/artifacts/study/trial-{lineage:05d}")


# 0 is the best; 5 continues 2 (interrupted) and is second; 3 runs; 4 failed and has a retry
# queued; 7 failed for good; 8 continues 1 and runs.
HISTORY = [
    _row(0, S.COMPLETE),
    _row(1, S.LOST),
    _row(2, S.INTERRUPTED),
    _row(3, S.RUNNING),
    _row(4, S.FAILED),
    _row(5, S.COMPLETE, retry_of=2),
    _row(6, S.PRUNED),
    _row(7, S.FAILED),
    _row(9, S.COMPLETE),
]
RANKED = [0, 5, 9, 6]  # finished trials, best validation accuracy first
PENDING = {4}  # lineages of Optuna's waiting and running trials


@pytest.mark.parametrize(
    ("policy", "pruned"),
    [
        ("all", set()),
        ("top-3", {1, 6, 7}),
        ("top-2", {1, 6, 7, 9}),
        ("top-1", {1, 2, 6, 7, 9}),
        ("none", {0, 1, 2, 6, 7, 9}),
    ],
)
def test_the_policy_prunes_what_cannot_make_the_top_k(policy, pruned) -> None:
    assert lineages_to_prune(HISTORY, RANKED, keep_count(policy), PENDING) == pruned


def test_a_running_retry_keeps_its_lineage() -> None:
    history = [*HISTORY, _row(10, S.RUNNING, retry_of=1)]
    assert 1 not in lineages_to_prune(history, RANKED, 0, PENDING)


def _root(parents: dict[int, int | None], number: int) -> int:
    while parents.get(number) is not None:
        number = parents[number]
    return number


def test_never_a_running_trial_or_a_queued_retry_whatever_the_history() -> None:
    statuses = list(TrialStatus)
    rng = random.Random(0)
    for _ in range(300):
        rows: list[ResultRow] = []
        for number in range(rng.randint(1, 12)):
            retry_of = rng.choice([None, None, *range(number)]) if number else None
            rows.append(_row(number, rng.choice(statuses), retry_of))
        finished = [r.number for r in rows if r.status in (S.COMPLETE, S.PRUNED)]
        ranked = rng.sample(finished, len(finished))
        pending = {rng.randrange(len(rows)) for _ in range(rng.randint(0, 2))}
        keep = rng.choice([None, 0, 1, 2, 3])
        pruned = lineages_to_prune(rows, ranked, keep, pending)
        parents = {r.number: r.retry_of for r in rows}
        running = {_root(parents, r.number) for r in rows if r.status == S.RUNNING}
        kept = {_root(parents, n) for n in ranked[: len(ranked) if keep is None else keep]}
        assert not pruned & (running | pending | kept), (rows, ranked, pending, keep)


@pytest.fixture
def swept(tmp_path: Path) -> str:
    """A real sweep that keeps every checkpoint: 4 trials of 1 epoch."""
    url = f"sqlite:///{tmp_path / 'sweeps.db'}"
    sweeps.run(
        trials=4, epochs=1, pruner="none", storage=url, study="keep", keep_models="all", quiet=True
    )
    return url


def _set_state(handle, number: int, state: OptunaState) -> None:
    """Put a trial in Optuna ``state`` by hand: a trial cannot run again, but this one plays
    a trial whose worker died and that nobody reaped yet."""
    with session_scope(handle.engine) as session:
        session.execute(
            sa.update(trials)
            .where(trials.c.trial_id == handle.trial_id(number))
            .values(state=state)
        )


@pytest.mark.slow  # a real sweep; the policy itself is checked quickly above
def test_pruning_spares_the_top_k_a_running_trial_and_a_queued_retry(swept) -> None:
    study = sweeps.load_study("keep", swept)
    best, second, third, fourth = (int(t) for t in study.best(4)["trial"])
    folders = {n: Path(study.show(n).result.checkpoint_dir) for n in (best, second, third, fourth)}
    assert all(folder.is_dir() for folder in folders.values())  # "all" kept every one

    handle = open_handle("keep", swept)
    spec = dataclasses.replace(handle.config.spec, keep_models="top-1")
    handle.config = SweepConfig(spec, handle.config.state)
    # The fourth is running again (a worker died and nobody reaped it yet); the third has a
    # retry queued that will continue from its folder.
    _set_state(handle, fourth, OptunaState.RUNNING)
    frozen = handle.storage.get_trial(handle.trial_id(third))
    enqueue_retry(handle.study, frozen, resume=True, counts_as_retry=False, max_retries=2)

    assert prune_checkpoints(handle) == [folders[second]]
    assert [folders[n].is_dir() for n in (best, second, third, fourth)] == [
        True,
        False,
        True,
        True,
    ]

    retry = handle.study.ask()  # the queued retry starts: running in Optuna, no row of ours yet
    assert prune_checkpoints(handle) == [] and folders[third].is_dir()

    handle.study.tell(retry, state=TrialState.FAIL)
    _set_state(handle, fourth, OptunaState.COMPLETE)
    assert sorted(prune_checkpoints(handle)) == sorted([folders[third], folders[fourth]])
    assert folders[best].is_dir()
    assert not study.model_kept(third) and study.model_kept(best)


@pytest.mark.slow
def test_keep_all_deletes_nothing(swept) -> None:
    handle = open_handle("keep", swept)
    assert handle.config.keep_models == "all" and prune_checkpoints(handle) == []


@pytest.mark.parametrize("policy", ["top-0", "top", "best-3", "top-3.5", "some"])
def test_a_malformed_policy_is_one_line_before_anything_exists(cli, tmp_path, policy) -> None:
    with pytest.raises(sweeps.ConfigError, match="^keep_models must be top-K"):  # Python's words
        SweepSpec(keep_models=policy).validate()
    result = invoke(cli, "run", "--keep-models", policy, "--storage", tmp_path / "s.db")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "--keep-models must be top-K" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_the_default_keeps_a_few() -> None:
    assert SweepSpec().keep_models == "top-5" and keep_count("top-5") == 5
    assert keep_count("all") is None and keep_count("none") == 0

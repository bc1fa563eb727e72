"""Batched queries: `sweeps best`, `show`, `status` and `studies` read a study with a fixed
number of queries, however many trials (and ensemble members, evaluations, studies) it has:
no query per row. Counted (storage.transaction_log.counting_queries), not timed;
benchmarks/bench_queries.py --counts-only prints the same figures."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage import TrialStatus, records
from storage.transaction_log import counting_queries
from sweeps.config import SweepConfig, SweepSpec
from sweeps.optuna_study import create_study
from tests.conftest import invoke
from tests.scripted_trials import add_trial

# Every ending a study shows, in turn; the first trial is the baseline.
ENDINGS = [
    TrialStatus.COMPLETE,
    TrialStatus.PRUNED,
    TrialStatus.DIVERGED,
    TrialStatus.FAILED,
    TrialStatus.COMPLETE,
    TrialStatus.LOST,
    TrialStatus.RUNNING,
]
STUDY = ["--study", "s0"]
COMMANDS = {
    "best": ["best", "--top", "3", *STUDY],
    "best --format json": ["best", "--top", "5", "--format", "json", *STUDY],
    "show": ["show", "0", *STUDY],
    "status": ["status", *STUDY],
    "studies": ["studies"],
}


def _store(folder: Path, trials: int, studies: int = 1) -> str:
    """A store of ``studies`` studies of ``trials`` scripted trials each; the first with an
    ensemble per 7 trials (of 2, 4, ... trained trials) and an evaluation of its trial 0 (a
    class per 4 trials)."""
    url = f"sqlite:///{folder / 'store.db'}"
    folder.mkdir()
    for s in range(studies):
        handle = create_study(SweepConfig(SweepSpec(trials=trials)), url, f"s{s}", baseline=None)
        members = []
        for i in range(trials):
            status = ENDINGS[i % len(ENDINGS)]
            val = 0.5 + i / (2 * trials)
            number = add_trial(
                handle, status, val_accuracy=val, test_accuracy=val, is_baseline=i == 0,
                params={"learning_rate": 0.001 * (i + 1), "dropout": 0.1},
            )  # fmt: skip
            if status in (TrialStatus.COMPLETE, TrialStatus.PRUNED):
                members.append({"trial_id": handle.trial_id(number), "number": number})
        if s == 0:
            for size in range(1, trials // len(ENDINGS) + 1):  # an ensemble per 7 trials
                records.record_ensemble(
                    handle.engine, study_id=handle.study_id, val_accuracy=0.9,
                    test_accuracy=0.9, members=[
                        {**m, "val_accuracy": 0.9, "test_accuracy": 0.9} for m in members
                    ][: size * 2],
                )  # fmt: skip
            classes = [
                {"class_name": f"class-{c}", "support": 1, "correct": 1, "precision": 1.0,
                 "recall": 1.0}
                for c in range(trials // 4)
            ]  # fmt: skip
            confusion = [[int(i == j) for j in range(len(classes))] for i in range(len(classes))]
            for split in ("val", "test"):
                records.record_evaluation(
                    handle.engine, study_id=handle.study_id, trial_id=handle.trial_id(0),
                    split=split, accuracy=1.0, confusion=confusion, classes=classes,
                )  # fmt: skip
        handle.engine.dispose()
    return url


def _counts(cli, url: str) -> dict[str, int]:
    counts = {}
    for name, args in COMMANDS.items():
        with counting_queries() as queries:
            result = invoke(cli, *args, "--storage", url)
        assert result.exit_code == 0, result.output
        counts[name] = len(queries)
    return counts


@pytest.fixture(scope="module")
def stores(tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("counts")
    return {
        # Both with the baseline below the top 5: its row is read apart, in both.
        "small": _store(folder / "small", trials=2 * len(ENDINGS)),
        "large": _store(folder / "large", trials=12 * len(ENDINGS), studies=3),
    }


def test_the_query_commands_read_a_study_in_as_many_queries_whatever_its_size(
    cli, stores: dict[str, str]
) -> None:
    """Six times the trials, ensembles, members and evaluated classes, three times the
    studies: not one query more."""
    _counts(cli, stores["small"])  # the process's own first-time reads (Optuna's schema check)
    small, large = _counts(cli, stores["small"]), _counts(cli, stores["large"])
    assert large == small


def test_the_tables_hold_what_was_counted(cli, stores: dict[str, str]) -> None:
    """The counted commands read everything: every member, evaluation class and study."""
    url = stores["large"]
    from storage import create_engine
    from storage.queries import ensemble_rows

    trained = (TrialStatus.COMPLETE, TrialStatus.PRUNED)
    members = [n for n in range(12 * len(ENDINGS)) if ENDINGS[n % len(ENDINGS)] in trained]
    ensembles = ensemble_rows(create_engine(url))
    assert [e["members"] for e in ensembles] == [members[: 2 * k] for k in range(1, 13)]
    show = invoke(cli, "show", "0", "--study", "s0", "--storage", url)
    classes = (12 * len(ENDINGS)) // 4
    assert all(f"class-{c} " in show.stdout for c in range(classes)), show.stdout
    studies = invoke(cli, "studies", "--storage", url)
    assert all(f"s{s}" in studies.stdout for s in range(3)), studies.stdout

"""The keep policy: delete the checkpoints of trials that can no longer make the top K.

A sweep of 500 trials would otherwise keep 500 folders of weights. After each trial is told,
its worker works out which checkpoint folders the study's ``--keep-models`` policy still needs
and deletes the others. A folder is needed while any of these uses it:

* one of the K best finished trials by validation accuracy (the ranking of ``sweeps best``);
* a trial that is running: it writes there;
* a queued retry: it continues from its lineage's folder.

A retry writes into the folder of the first trial of its chain (its lineage), so folders are
kept or deleted per lineage. The ranking only ever grows more demanding, so a trial outside the
top K never re-enters it, and a lineage with nothing running or queued is never resumed: what
is deleted is never needed again.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path

from optuna.trial import TrialState

from storage import TrialStatus
from storage.queries import ResultRow, ranked_trials, result_rows
from sweeps.artifacts import trial_folder
from sweeps.config import keep_count
from sweeps.optuna_study import LINEAGE_ATTR, StudyHandle

__all__ = ["lineages_to_prune", "prune_checkpoints"]


def _lineages(rows: Iterable[ResultRow]) -> dict[int, int]:
    """Trial number -> number of the first trial of its retry chain."""
    parent = {row.number: row.retry_of for row in rows}
    lineage: dict[int, int] = {}
    for number in parent:
        root, seen = number, set()
        while parent.get(root) is not None and root not in seen:
            seen.add(root)
            root = int(parent[root])
        lineage[number] = root
    return lineage


def lineages_to_prune(
    rows: list[ResultRow],
    ranked: list[int],
    keep: int | None,
    pending_lineages: set[int],
) -> set[int]:
    """The lineages whose checkpoints the policy no longer needs.

    Args:
        rows: Every trial of the study that a worker started (our table).
        ranked: Finished trials' numbers, best validation accuracy first.
        keep: How many of ``ranked`` keep their checkpoints (None: all, 0: none).
        pending_lineages: Lineages of the trials Optuna holds as waiting or running.
    """
    if keep is None:
        return set()
    lineage = _lineages(rows)
    needed = set(pending_lineages)
    needed |= {lineage.get(number, number) for number in ranked[:keep]}
    needed |= {lineage[row.number] for row in rows if row.status == TrialStatus.RUNNING}
    return {lineage[row.number] for row in rows if row.checkpoint_dir} - needed


def prune_checkpoints(handle: StudyHandle, root: str | None = None) -> list[Path]:
    """Delete the checkpoint folders ``handle``'s keep policy no longer needs; returns them.

    ``root`` is the artifacts folder the workers use now: a store moved with its artifacts
    (then resumed) finds its old trials' folders there, not where they were recorded. Never
    raises: a failed deletion or a busy database leaves the folders for the next call.
    """
    keep = keep_count(handle.config.keep_models)
    if keep is None:
        return []
    try:
        # Our table first, Optuna's states second: a failing trial is queued for retry before
        # its row stops saying running, so one of the two reads protects its folder.
        rows = result_rows(handle.engine, handle.study_id)
        # Diverged trials have no model to keep: their folders go once they are not pending.
        ranked = ranked_trials(handle.engine, handle.sweep, trained_only=True)
        ranked = [int(n) for n in ranked.get("trial", [])]
        pending = handle.study.get_trials(
            deepcopy=False, states=(TrialState.WAITING, TrialState.RUNNING)
        )
        pending_lineages = {int(t.user_attrs.get(LINEAGE_ATTR, t.number)) for t in pending}
    except Exception:  # a busy database must not fail the worker; the next trial tries again
        return []
    doomed = lineages_to_prune(rows, ranked, keep, pending_lineages)
    lineage = _lineages(rows)
    deleted = []
    study_folder = handle.config.study_folder
    folders = {
        str(trial_folder(root, study_folder, lineage[r.number]))
        if root and study_folder
        else r.checkpoint_dir
        for r in rows
        if r.checkpoint_dir and lineage[r.number] in doomed
    }
    for folder in sorted(folders):
        path = Path(folder)
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
            deleted.append(path)
    return deleted

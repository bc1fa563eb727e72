"""What ``sweeps show`` and ``sweeps best`` print, and what a study, a trial and a ranking look
like in Python: one view each (:mod:`sweeps.display`), so the terminal and a notebook agree.

No TensorFlow, no Optuna: only our tables, through :class:`sweeps.results.Study`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from sweeps.display import Grid, Line, View
from sweeps.phrasing import either, next_step, setting, sweeps_command

if TYPE_CHECKING:
    from storage.queries import TrialDetail
    from storage.tables import EpochMetric, TrialResult
    from sweeps.config import SweepConfig
    from sweeps.results import Study

__all__ = ["RankingView", "TrialView", "cell", "notebook_of", "sweep_file_lines"]

_RANKING = ("rank", "trial", "val acc", "test acc", "val loss", "best epoch", "status", "note")
_NUMBERS = frozenset(_RANKING[:6])


def cell(value: object, digits: int = 4) -> str:
    """A table cell: ``-`` for nothing, floats at ``digits`` decimals."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def exact(value: object) -> str:
    """A parameter or a learning rate: 6 significant digits, so 3.2e-05 keeps its digits
    where fixed decimals would show 0.000032 (or 0.0000 at four)."""
    if isinstance(value, float) and not math.isnan(value):
        return f"{value:.6g}"
    return cell(value)


def notebook_of(space: str) -> str | None:
    """The seed notebook of a sweep's space, when it is a built-in one (no Keras import)."""
    from search_spaces import BUILTIN_SPACES
    from sweeps.space_access import load_space

    if space not in BUILTIN_SPACES:
        return None
    return load_space(space).info.notebook


def sweep_file_lines(config: SweepConfig) -> list[Line]:
    """The sweep file a study was started from, comments and credentials left out (nothing
    when none)."""
    if config.sweep_file_text is None:
        return []
    from sweeps.sweep_file import saved_text

    # Masked again: a study saved by an older release holds the text as it was read.
    text = saved_text(config.sweep_file_text)
    return [Line(f"Sweep file {config.sweep_file}:")] + [
        Line(f"  {line}") for line in text.rstrip().splitlines()
    ]


class RankingView(View):
    """The trials of a study by validation accuracy, test accuracy beside it: the table of
    ``sweeps best``. The baseline is always in it, below a rule at its own rank when it is not
    among the top trials; the study's ensembles follow as rows of their own."""

    def __init__(
        self,
        study: Study,
        rows: list[dict[str, Any]],
        ensembles: list[dict[str, Any]],
        top: int,
    ) -> None:
        self.name, self.rows, self.ensembles, self.top = study.name, rows, ensembles, top
        self.budget = study.config.trials
        self.notebook = (
            notebook_of(study.config.space) if any(r["baseline"] for r in rows) else None
        )

    def grid(self) -> Grid:
        grid = Grid(
            _RANKING,
            title=f"{self.name}: best of {self.budget} trials by validation accuracy",
            right=_NUMBERS,
        )
        for row in self.rows:
            if row["rank"] > self.top:  # the baseline, below the top trials
                grid.section()
            note = ""
            if row["baseline"]:
                note = f"baseline (notebook {self.notebook})" if self.notebook else "baseline"
            grid.add(
                str(row["rank"]),
                str(row["trial"]),
                cell(row["val_accuracy"]),
                cell(row["test_accuracy"]),
                cell(row["val_loss"]),
                f"{cell(row['best_epoch'])}/{cell(row['epochs'])}",
                str(row["status"]),
                note,
            )
        for index, row in enumerate(self.ensembles):
            if index == 0:
                grid.section()
            grid.add(
                "ens",
                f"top {row['size']}",
                cell(row["val_accuracy"]),
                cell(row["test_accuracy"]),
                "-",
                "-",
                "ensemble",
                f"trials {', '.join(map(str, row['members']))}, logits averaged",
            )
        return grid

    def blocks(self) -> Iterator[Line | Grid]:
        if not self.rows:
            yield Line(f"{self.name}: no finished trials yet.")
            return
        yield self.grid()


class TrialView(View):
    """One trial as ``sweeps show`` prints it: its result, the notes that explain it (baseline,
    retry, halved batch, why it stopped, whether its model is kept, its refit and per-class
    evaluation), its parameters and its per-epoch curve.

    Its data are attributes: ``result`` (the recorded row), ``params``, ``epochs`` (the
    per-epoch rows), ``state`` (Optuna's), ``status`` (how it ended) and ``batch_size`` (the
    batch a retry after running out of memory trained with, else None).
    """

    def __init__(self, study: Study, detail: TrialDetail) -> None:
        self._study, self._detail = study, detail

    @property
    def result(self) -> TrialResult:
        return self._detail.result

    @property
    def params(self) -> dict[str, Any]:
        return self._detail.params

    @property
    def epochs(self) -> list[EpochMetric]:
        return self._detail.epochs

    @property
    def state(self) -> str:
        return self._detail.state

    @property
    def status(self) -> str:
        """How the trial ended (a TrialStatus value), from its state and outcome."""
        return self._detail.status

    @property
    def batch_size(self) -> int | None:
        return self._detail.batch_size

    def _step(self, words: str, python: str) -> str:
        study = self._study
        return next_step(sweeps_command(words, study.name, study.storage), f"study.{python}")

    def blocks(self) -> Iterator[Line | Grid]:
        study, r = self._study, self.result
        config = study.config
        yield Line(
            f" of {study.name}: {self.status} (Optuna state {self.state})", f"Trial {r.number}"
        )
        if r.is_baseline:
            notebook = notebook_of(config.space)
            yield Line(
                f"Baseline: reproduces the recipe of notebook {notebook or '?'} for space "
                f"{r.space}."
            )
        measured = config.learning_rates
        if measured and r.param_count is not None:
            ranges = ", ".join(
                f"{family} {low:.2g}..{high:.2g}" for family, (low, high) in measured.items()
            )
            yield Line(f"Learning rates searched (range test of this study): {ranges}.")
        if r.retry_of is not None:
            resumed = (
                f", resumed after epoch {r.resumed_from_epoch}" if r.resumed_from_epoch else ""
            )
            yield Line(f"Retry of trial {r.retry_of}{resumed}.")
        if self.batch_size is not None:
            yield Line(
                f"Trained at batch size {self.batch_size}: half the sampled batch_size, after "
                "running out of memory."
            )
        if r.failure_reason:
            yield Line(f"Reason: {r.failure_reason}")
        facts = Grid(("metric", "value"), title="Result")
        for name, value in [
            ("val accuracy", r.val_accuracy),
            ("val loss", r.val_loss),
            ("test accuracy", r.test_accuracy),
            ("test loss", r.test_loss),
            ("best epoch", r.best_epoch),
            ("epochs run", r.epochs_run),
            ("parameters", r.param_count),
            ("input", r.input_shape),
            ("resized from", r.resized_from),
            ("wall seconds", r.wall_seconds),
            ("fit seconds", r.fit_seconds),
            ("worker", r.worker),
            ("checkpoints", r.checkpoint_dir),
        ]:
            facts.add(name, cell(value))
        yield facts
        yield from self._model_facts()
        params = Grid(("parameter", "value"), title="Parameters")
        for name, value in self.params.items():
            params.add(name, exact(value))
        yield params
        curve = Grid(
            ("epoch", "loss", "acc", "val loss", "val acc", "lr", "s", "img/s"),
            title="Per-epoch curve",
        )
        for e in self.epochs:
            curve.add(
                f"{e.epoch}{'*' if e.restored else ''}",
                cell(e.loss),
                cell(e.accuracy),
                cell(e.val_loss),
                cell(e.val_accuracy),
                exact(e.learning_rate),
                cell(e.seconds, 2),
                cell(e.images_per_second, 0),
            )
        yield curve
        if any(e.restored for e in self.epochs):
            yield Line("* restored from the checkpoint of the trial this one retries")
        yield from sweep_file_lines(config)

    def _model_facts(self) -> Iterator[Line | Grid]:
        """Whether the trial's model is kept, its refit, and its per-class evaluation."""
        from storage.tables import TRAINED

        study, r = self._study, self.result
        if self.status not in TRAINED:
            return
        n = r.number
        missing = study.missing_model(n)
        if missing is None:
            saving = self._step(f"model {n}", f"save_model({n})")
            yield Line(f"Model: kept ({saving} writes it as a .keras file).")
        elif missing.by_policy:
            policy = setting("--keep-models", study.config.keep_models)
            yield Line(
                f"Model: not kept ({policy}); {self._step(f'refit {n}', f'refit({n})')} "
                "retrains its configuration."
            )
        else:  # deleted by hand, or the artifacts are elsewhere: the message says which
            yield Line(f"Model: missing: {missing.message}")
        refit = study.recorded_refit(n)
        if refit is not None:
            yield Line(
                f"Refit on train+val ({refit.train_images} images, {refit.epochs} epochs): test "
                f"accuracy {cell(refit.test_accuracy)}, model {refit.model_path}"
            )
        evaluation = study.evaluation(n)
        if "test" not in evaluation:
            if missing is None:  # evaluate needs the model
                yield Line(
                    f"Per-class accuracy: run {self._step(f'evaluate {n}', f'evaluate({n})')}."
                )
            return
        test, val = evaluation["test"], evaluation.get("val")
        table = Grid(
            ("class", "test images", "test accuracy", "test precision", "val accuracy"),
            title=f"Per-class accuracy ({either('`sweeps evaluate`', '`study.evaluate`')}): "
            f"test {cell(test.accuracy)}",
        )
        val_recall = {c.class_index: c.recall for c in val.classes} if val else {}
        for c in test.classes:
            table.add(
                c.class_name,
                str(c.support),
                cell(c.recall),
                cell(c.precision),
                cell(val_recall.get(c.class_index)),
            )
        yield table

"""Figures of a sweep: Optuna's own plots (optuna.visualization.matplotlib) where they do
the job, and ours where Optuna's cannot: the history with test accuracy and the baseline, and
the learning curves from our per-epoch table. No TensorFlow.

Optuna's plots read the study through Optuna's storage (loaded read-only: nothing is written);
sweeps.optuna_figures draws them and makes them readable at a sweep's size.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from storage.tables import TrialStatus
from sweeps.phrasing import option, setting

if TYPE_CHECKING:
    import optuna
    from matplotlib.figure import Figure

__all__ = [
    "MIN_PARAMS",
    "OPTUNA_PLOTS",
    "PLOTS",
    "check_params",
    "plot_study",
    "plot_sweep",
    "sweep_figure",
]

# Kinds drawn by optuna.visualization.matplotlib ("params" is the old name of "slice").
OPTUNA_PLOTS = ("params", "importance", "parallel", "contour", "slice", "intermediate")
PLOTS = (
    "history",
    "curves",
    "params",
    "importance",
    "parallel",
    "contour",
    "slice",
    "intermediate",
)
# How many parameters, the most important first, a kind draws when none are named: a contour
# grid is n x n panels, a slice row n panels; more than this is unreadable.
TOP_PARAMS = {"contour": 2, "slice": 4, "params": 4, "parallel": 8}
# The kinds that draw chosen parameters, and the fewest distinct ones each can draw: a
# contour is drawn between two parameters (Optuna's draws an empty figure for one), the others
# draw one panel, bar or axis per parameter.
MIN_PARAMS = {"contour": 2, "slice": 1, "params": 1, "parallel": 1, "importance": 1}


def check_params(kind: str, params: list[str] | None) -> None:
    """Raise ConfigError when ``kind`` cannot draw ``params`` (None: the most important few),
    before anything is read or drawn.
    """
    from sweeps.errors import ConfigError

    if params is None:
        return
    params_, kind_ = option("--params"), option("--kind")
    if kind not in MIN_PARAMS:
        raise ConfigError(
            f"{params_} applies to {kind_} {', '.join(MIN_PARAMS)}, but got "
            f"{setting('--kind', kind)}, which draws no chosen parameters; drop {params_}."
        )
    repeated = sorted({name for name in params if params.count(name) > 1})
    if repeated:
        raise ConfigError(f"{params_} names {repeated[0]!r} twice; give each parameter once.")
    if len(params) < MIN_PARAMS[kind]:
        given = ",".join(params)
        raise ConfigError(
            f"{kind_} {kind} needs at least {MIN_PARAMS[kind]} parameters, but got "
            f"{params_} {given!r}; name {MIN_PARAMS[kind]} or more, or leave {params_} out "
            "for the most important ones."
        )


def _history(ax, ranked: pd.DataFrame) -> None:
    """Val accuracy of each finished trial in order, the best so far, test accuracy, and the
    baseline, pruned and diverged trials marked.

    Drawn from our table rather than with Optuna's plot_optimization_history: Optuna's needs
    every trial loaded through its storage (about 10x slower on a 10,000-trial study) and
    knows neither the test accuracy nor the baseline.
    """
    ordered = ranked.sort_values("trial")
    # Diverged trials keep their last finite val accuracy but have no model: drawn apart, and
    # never the best so far.
    diverged = ordered[ordered["status"] == TrialStatus.DIVERGED]
    done = ordered[ordered["status"] != TrialStatus.DIVERGED]
    if not diverged.empty:
        ax.scatter(
            diverged["trial"],
            diverged["val_accuracy"],
            s=24,
            marker="v",
            color="0.5",
            label="diverged (val of its last finite epoch)",
            zorder=3,
        )
    # A pruned trial's val is where it was stopped, not where it would have ended: hollow.
    pruned = done["status"] == TrialStatus.PRUNED
    ax.scatter(
        done["trial"][~pruned], done["val_accuracy"][~pruned], s=18, label="val accuracy", zorder=3
    )
    if pruned.any():
        ax.scatter(
            done["trial"][pruned],
            done["val_accuracy"][pruned],
            s=22,
            facecolors="none",
            edgecolors="C0",
            linewidths=1.2,
            label="val accuracy, pruned (when stopped)",
            zorder=3,
        )
    ax.scatter(
        done["trial"],
        done["test_accuracy"],
        s=12,
        marker="x",
        alpha=0.7,
        label="test accuracy (not used to select)",
        zorder=3,
    )
    ax.step(
        done["trial"],
        done["val_accuracy"].cummax(),
        where="post",
        color="C2",
        label="best val so far",
    )
    baseline = done[done["baseline"].astype(bool)]
    ax.scatter(
        baseline["trial"],
        baseline["val_accuracy"],
        s=100,
        facecolors="none",
        edgecolors="C3",
        linewidths=1.5,
        label="baseline (notebook recipe)",
        zorder=4,
    )
    ax.set(xlabel="trial", ylabel="accuracy", title="Optimization history")
    ax.legend(loc="best", fontsize=8)


def _curves(ax, ranked: pd.DataFrame, epochs: pd.DataFrame, top: int = 5) -> None:
    """Validation curves of the best trials by validation accuracy (``ranked`` is best first),
    labelled with their val accuracy; the baseline's dashed, as in ``intermediate``."""
    for row in ranked.head(top).itertuples():
        curve = epochs[epochs["trial"] == row.trial]
        label = f"trial {row.trial}: val {row.val_accuracy:.4f}" + (
            ", baseline" if row.baseline else ""
        )
        style = "--" if row.baseline else "-"
        ax.plot(curve["epoch"], curve["val_accuracy"], style, marker=".", label=label)
    from sweeps.optuna_figures import epoch_ticks

    ax.set(xlabel="epoch", ylabel="val accuracy", title=f"Learning curves of the top {top}")
    epoch_ticks(ax)
    ax.legend(loc="best", fontsize=8)


def plot_sweep(
    kind: str, ranked: pd.DataFrame, epochs: pd.DataFrame | None, out: Path, title: str
) -> Path:
    """Draw one of our kinds (``history``, ``curves``) into ``out`` (PNG, PDF or SVG).

    Args:
        ranked: The finished trials, best val first (trial, status, baseline, val/test
            accuracy), as :func:`storage.queries.ranked_rows` gives them.
        epochs: Every epoch row (``curves`` only).
    """
    return _save(sweep_figure(kind, ranked, epochs), out, title)


def sweep_figure(kind: str, ranked: pd.DataFrame, epochs: pd.DataFrame | None) -> Figure:
    """The figure :func:`plot_sweep` writes, not yet titled or saved."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    if kind == "history":
        _history(ax, ranked)
    else:
        _curves(ax, ranked, epochs)
    return fig


def _save(fig: Any, out: Path, title: str, *, relayout: bool = True) -> Path:
    """Title the figure with the study's name and write it. ``relayout=False`` keeps the
    layout as drawn (Optuna places its colour bars itself; tight_layout would overlap them)."""
    import matplotlib.pyplot as plt

    if relayout:
        fig.suptitle(title)
        fig.tight_layout()
    else:
        fig.suptitle(title, y=1.02)
    fig.savefig(out, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return out


def _important_params(study: optuna.Study, count: int) -> list[str]:
    """The ``count`` parameters that matter most to val accuracy (fANOVA), most first."""
    import optuna

    evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
    return list(optuna.importance.get_param_importances(study, evaluator=evaluator))[:count]


def _check_contour(study: optuna.Study, params: list[str]) -> None:
    """A contour panel needs two parameters that each took two values or more in finished
    trials: Optuna leaves any other panel empty (and says so only in a log line)."""
    import optuna

    done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    for name in params:
        values = {repr(t.params[name]) for t in done if name in t.params}
        if len(values) < 2:
            taken = f"only {next(iter(values))}" if values else "no value"
            raise ValueError(
                f"contour needs parameters that took two values or more in complete trials, "
                f"but {name} took {taken}; name others with {option('--params')}, or run "
                "more trials."
            )


def plot_study(
    kind: str,
    study: optuna.Study,
    out: Path,
    title: str,
    params: list[str] | None = None,
) -> Path:
    """Draw one of OPTUNA_PLOTS with Optuna's matplotlib backend into ``out``.

    Args:
        params: The parameters to draw (contour, slice, parallel, importance); default the
            most important few by fANOVA.

    Raises:
        ValueError: Optuna cannot draw it (too few complete trials, an unknown parameter).
    """
    import matplotlib

    matplotlib.use("Agg")
    from sweeps.tf_logs import quiet_optuna, verbose

    quiet_optuna()
    check_params(kind, params)
    with warnings.catch_warnings():
        if not verbose():  # Optuna's and matplotlib's notes: the figure is what the user asked
            warnings.simplefilter("ignore")
        return _draw(kind, study, out, title, params)


def _draw(kind: str, study: optuna.Study, out: Path, title: str, params: list[str] | None) -> Path:
    """The figure itself, drawn and saved (see plot_study)."""
    from sweeps.optuna_figures import draw

    if kind in TOP_PARAMS and params is None:
        params = _important_params(study, TOP_PARAMS[kind])
        if len(params) < MIN_PARAMS[kind]:  # a study that searched fewer parameters
            raise ValueError(
                f"{kind} needs at least {MIN_PARAMS[kind]} parameters that every finished "
                f"trial has, but the study has {len(params)}: {', '.join(params) or 'none'}."
            )
    if kind == "contour":
        _check_contour(study, params)
    fig = draw(kind, study, params)
    return _save(fig, out, title, relayout=kind in ("importance", "intermediate"))

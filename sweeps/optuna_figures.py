"""Optuna's own figures (optuna.visualization.matplotlib), drawn by Optuna and then made
readable where they are not at a sweep's size:

- ``intermediate``: Optuna gives every trial a colour and a legend entry; past a dozen
  trials neither can be read. The best few complete trials keep a colour and a legend entry,
  the baseline is drawn dashed, every other trial is grey, and a pruned trial's curve ends in
  a cross where it was stopped.
- ``parallel`` and ``slice``: Optuna's colour scale starts at white, so the worst trial's line
  (or the first trial's point) vanishes on a white background; the scale here starts at a
  visible blue. The parallel plot's parameter names are set level (staggered when they would
  touch) and the figure widens with the number of axes.
- ``contour``: Optuna interpolates a smooth surface across a categorical axis as if False
  and True (or batch sizes 32 and 64) had values in between. A panel with an axis asked as a
  choice shows the trials themselves instead, coloured by val accuracy, each choice at its
  own tick, as the slice and parallel plots draw choices.

Optuna's plots switch matplotlib's global style to ggplot; they are drawn inside an
``rc_context``, so the caller's own figures keep their style.
"""

from __future__ import annotations

import itertools
import re
from typing import TYPE_CHECKING, Any

import numpy as np

from storage.tables import TrialStatus
from storage.trial_status import OUTCOME_ATTR, trial_status

if TYPE_CHECKING:
    import optuna
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["TARGET_NAME", "TOP_CURVES", "categorical_params", "draw", "epoch_ticks"]

TARGET_NAME = "val accuracy"
TOP_CURVES = 5  # intermediate: trials drawn in colour, with a legend entry each
PARALLEL_TICK_CHARS = 12  # parallel: a longer choice is cut, or it runs into the next axis
# The lightest end of the colour scale left out: Blues at 0.3 still shows on white and grey.
_VISIBLE_FROM = 0.3
# intermediate: the marker at the end of a stopped trial's curve, and what the point is
_ENDS = {TrialStatus.PRUNED: ("X", "stopped"), TrialStatus.DIVERGED: ("v", "last finite epoch")}
_JITTER = 0.12  # a categorical position's spread, so trials of one category do not hide each other


def draw(kind: str, study: optuna.Study, params: list[str] | None) -> Figure:
    """Draw ``kind`` (one of plots.OPTUNA_PLOTS) with Optuna, then make it readable."""
    import matplotlib

    with matplotlib.rc_context():  # Optuna's plt.style.use("ggplot") ends with the figure
        return _draw(kind, study, params)


def _draw(kind: str, study: optuna.Study, params: list[str] | None) -> Figure:
    import optuna
    from optuna.visualization import matplotlib as vis

    if kind == "importance":
        evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
        drawn = vis.plot_param_importances(
            study, evaluator=evaluator, params=params, target_name=TARGET_NAME
        )
    elif kind == "parallel":
        drawn = vis.plot_parallel_coordinate(study, params=params, target_name=TARGET_NAME)
    elif kind == "contour":
        drawn = vis.plot_contour(study, params=params, target_name=TARGET_NAME)
    elif kind in ("slice", "params"):
        drawn = vis.plot_slice(study, params=params, target_name=TARGET_NAME)
    else:
        drawn = vis.plot_intermediate_values(study)
    axes = list(np.ravel(drawn))
    fig = axes[0].figure
    if kind == "intermediate":
        _intermediate(axes[0], study)
        fig.set_size_inches(9, 5.5)
    elif kind in ("slice", "params"):  # one row of panels; choice names slanted to fit
        _visible_colours(fig)
        fig.set_size_inches(3.6 * len(axes) + 1.5, 4.6)
        categories = categorical_params(study, [ax.get_xlabel() for ax in axes])
        for ax in axes:
            if ax.get_xlabel() in categories:  # Optuna puts the end choices on the frame
                ax.set_xlim(-0.5, len(categories[ax.get_xlabel()]) - 0.5)
            for label in ax.get_xticklabels():
                label.set(rotation=30, horizontalalignment="right")
    elif kind == "contour":  # an n x n grid, or one panel for two parameters
        _categorical_panels(axes, study)
        side = round(len(axes) ** 0.5)
        fig.set_size_inches(4.5 * side + 2, 4 * side)
    elif kind == "parallel":
        _visible_colours(fig)
        _parallel_labels(fig, axes[0])
    else:
        fig.set_size_inches(9, 5.5)
    return fig


def _visible(cmap: Any) -> Any:
    """``cmap`` without its lightest 30%, whichever end that is."""
    from matplotlib.colors import ListedColormap

    def lightness(rgba: tuple[float, ...]) -> float:
        return sum(rgba[:3])

    start, stop = (
        (_VISIBLE_FROM, 1.0) if lightness(cmap(0.0)) > lightness(cmap(1.0)) else (0.0, 0.7)
    )
    return ListedColormap(cmap(np.linspace(start, stop, 256)), name=f"{cmap.name}_visible")


def _visible_colours(fig: Figure) -> None:
    """Every colour-mapped line or point set of the figure on the visible scale; its colour
    bar follows (it listens to its mappable)."""
    from matplotlib.collections import Collection

    for collection in fig.findobj(Collection):
        if collection.get_array() is not None:
            collection.set_cmap(_visible(collection.get_cmap()))


def _parallel_labels(fig: Figure, ax: Axes) -> None:
    """Level parameter names under their axes, every other one a line lower when neighbours
    would touch; the figure as wide as its axes need."""
    names = [label.get_text() for label in ax.get_xticklabels()]
    fig.set_size_inches(max(9.0, 1.2 * len(names) + 2.5), 5.5)
    ax.set_xticks(range(len(names)), names, rotation=0, horizontalalignment="center")
    fig.canvas.draw()
    boxes = [label.get_window_extent() for label in ax.get_xticklabels()]
    if any(left.x1 + 4 > right.x0 for left, right in itertools.pairwise(boxes)):
        staggered = [name if i % 2 == 0 else f"\n{name}" for i, name in enumerate(names)]
        ax.set_xticks(range(len(names)), staggered)
    for twin in fig.axes:  # the parameter axes: tick labels small enough to stay apart
        if twin is not ax and twin.get_label() != "<colorbar>":
            twin.tick_params(axis="y", labelsize=8)
            # A long choice ("15,40,75,90,115,140") would run into the next axis' ticks.
            ticks = twin.get_yticks()
            labels = [_shortened(label.get_text()) for label in twin.get_yticklabels()]
            twin.set_yticks(ticks, labels)


def _shortened(text: str, most: int = PARALLEL_TICK_CHARS) -> str:
    return text if len(text) <= most else f"{text[: most - 1]}…"


def categorical_params(study: optuna.Study, names: list[str]) -> dict[str, list[Any]]:
    """The ``names`` asked as a choice (``hp.Choice``, ``hp.Boolean``), each with its choices
    in the space's order. Optuna's slice and parallel plots draw these as categories, its
    contour only those of strings or booleans; here every plot draws them all as categories.
    """
    from optuna.distributions import CategoricalDistribution

    found: dict[str, list[Any]] = {}
    for trial in study.get_trials(deepcopy=False):
        for name in names:
            dist = trial.distributions.get(name)
            if name not in found and isinstance(dist, CategoricalDistribution):
                found[name] = list(dist.choices)
    return found


def _categorical_panels(axes: list[Axes], study: optuna.Study) -> None:
    """Each contour panel with a categorical axis: its trials as points instead of Optuna's
    interpolated surface. Points share the colour bar of the surfaces left; when none is left,
    the colour bar is redrawn for the points (Optuna's spans the surface it interpolated,
    which can miss the worst trials)."""
    import optuna
    from matplotlib.colors import Normalize
    from matplotlib.contour import ContourSet

    panels = [ax for ax in axes if ax.get_xlabel() and ax.get_xlabel() != ax.get_ylabel()]
    names = sorted({ax.get_xlabel() for ax in panels} | {ax.get_ylabel() for ax in panels})
    categories = categorical_params(study, names)
    replaced = [ax for ax in panels if {ax.get_xlabel(), ax.get_ylabel()} & set(categories)]
    if not replaced:
        return  # numeric axes only: Optuna's contours are right
    surfaces = [c for ax in panels for c in ax.collections if isinstance(c, ContourSet)]
    optuna_bar = next((s.colorbar for s in surfaces if s.colorbar is not None), None)
    done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    keep_bar = optuna_bar is not None and len(replaced) < len(panels)
    if keep_bar:
        cmap, norm = optuna_bar.cmap, optuna_bar.norm
    else:
        import matplotlib

        cmap = _visible(matplotlib.colormaps["Blues"])
        norm = Normalize(min(t.value for t in done), max(t.value for t in done))
        if optuna_bar is not None:
            optuna_bar.remove()
    for ax in axes:  # the diagonal's empty panels too: a grid's columns must line up
        for axis, name in ((ax.xaxis, ax.get_xlabel()), (ax.yaxis, ax.get_ylabel())):
            if name in categories:
                _category_ticks(axis, categories[name])
    rng = np.random.default_rng(0)  # the same spread on every draw
    for ax in replaced:
        x_name, y_name = ax.get_xlabel(), ax.get_ylabel()
        for collection in list(ax.collections):
            collection.remove()
        trials = [t for t in done if x_name in t.params and y_name in t.params]
        xs = _positions([t.params[x_name] for t in trials], categories.get(x_name), rng)
        ys = _positions([t.params[y_name] for t in trials], categories.get(y_name), rng)
        points = ax.scatter(
            xs,
            ys,
            c=[t.value for t in trials],
            cmap=cmap,
            norm=norm,
            s=45,
            edgecolors="0.25",
            linewidths=0.8,
            zorder=3,
        )
        note = (
            "trials, not interpolated"
            if len(axes) > 1
            else "a categorical axis is not interpolated"
        )
        ax.set_title(note, fontsize=9)
    if not keep_bar:
        axes[0].figure.colorbar(points, ax=axes).set_label(TARGET_NAME)


def _category_ticks(axis: Any, choices: list[Any]) -> None:
    """A categorical axis: every choice at its own tick, in the space's order."""
    axis.set_ticks(range(len(choices)), [str(choice) for choice in choices])
    if axis.axis_name == "x" and len(choices) > 3:  # side by side they would touch
        for label in axis.get_ticklabels():
            label.set(rotation=30, horizontalalignment="right")
    axis.axes.set(**{f"{axis.axis_name}lim": (-0.5, len(choices) - 0.5)})


def _positions(values: list[Any], choices: list[Any] | None, rng: Any) -> list[Any]:
    """Where ``values`` go: as they are on a numeric axis; on a categorical one, at their
    choice's tick, spread a little so that trials of one choice do not hide each other."""
    if choices is None:
        return values
    labels = [str(choice) for choice in choices]
    spread = rng.uniform(-_JITTER, _JITTER, len(values))
    return [labels.index(str(value)) + offset for value, offset in zip(values, spread, strict=True)]


def _intermediate(ax: Axes, study: optuna.Study) -> None:
    """The best TOP_CURVES complete trials in colour, the baseline dashed, the rest grey; a
    cross where the pruner (or early stopping) stopped a trial, a triangle where it diverged."""
    import matplotlib.pyplot as plt
    import optuna
    from matplotlib.lines import Line2D

    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    complete = [t for t in trials.values() if t.state == optuna.trial.TrialState.COMPLETE]
    top = sorted(complete, key=lambda t: (-t.value, t.number))[:TOP_CURVES]
    rank = {t.number: i for i, t in enumerate(top)}
    colours = plt.get_cmap("tab10")
    ended: set[TrialStatus] = set()
    greys = False
    for line in ax.get_lines():
        match = re.fullmatch(r"Trial(\d+)", str(line.get_label()))
        if match is None or int(match[1]) not in trials:
            continue
        trial = trials[int(match[1])]
        baseline = bool(trial.user_attrs.get("baseline"))
        if trial.number in rank:
            note = ", baseline" if baseline else ""
            line.set(
                color=colours(rank[trial.number]),
                linewidth=2,
                alpha=1,
                zorder=4 + TOP_CURVES - rank[trial.number],
                label=f"trial {trial.number}: val {trial.value:.4f}{note}",
                linestyle="--" if baseline else "-",
            )
        elif baseline:
            line.set(color="0.15", linewidth=1.6, alpha=1, zorder=3, linestyle="--")
            line.set_label(f"trial {trial.number}: baseline (notebook recipe)")
        else:
            line.set(color="0.65", linewidth=1, alpha=0.7, zorder=2, marker="")
            line.set_label("_" if greys else "other trials")
            greys = True
        if trial.state == optuna.trial.TrialState.PRUNED:  # diverged ones are told as pruned
            how = trial_status(trial.state.name, trial.user_attrs.get(OUTCOME_ATTR))
            x, y = line.get_xdata()[-1], line.get_ydata()[-1]
            ax.plot(
                [x], [y], linestyle="none", marker=_ENDS[how][0], markersize=7,
                color=line.get_color(), zorder=line.get_zorder() + 1,
            )  # fmt: skip
            ended.add(how)
    handles, labels = ax.get_legend_handles_labels()
    order = sorted(range(len(labels)), key=lambda i: _legend_order(labels[i], rank))
    handles, labels = [handles[i] for i in order], [labels[i] for i in order]
    for how, (marker, where) in _ENDS.items():
        if how in ended:
            handles.append(Line2D([], [], linestyle="none", marker=marker, color="0.3"))
            labels.append(f"{how} ({where})")
    if ax.get_legend() is not None:
        ax.get_legend().remove()
    if handles:
        ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.02, 1), fontsize=9)
    title = f"the top {len(top)} complete trials in colour" if top else "no trial complete yet"
    ax.set(
        xlabel="epoch",
        ylabel=f"{TARGET_NAME} (reported to the pruner)",
        title=f"Intermediate values: {title}",
    )
    epoch_ticks(ax)


def epoch_ticks(ax: Axes) -> None:
    """Whole epochs on the x axis, also when every curve has only one."""
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    epochs = {x for line in ax.get_lines() for x in line.get_xdata()}
    if len(epochs) == 1:  # the locator would label fractions around it
        ax.set_xticks(sorted(epochs))


def _legend_order(label: str, rank: dict[int, int]) -> tuple[int, int]:
    """Top trials by rank, then the baseline, then the grey rest."""
    match = re.match(r"trial (\d+):", label)
    if match and int(match[1]) in rank:
        return (0, rank[int(match[1])])
    return (1, 0) if match else (2, 0)

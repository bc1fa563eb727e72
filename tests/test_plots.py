"""The figures read at a sweep's size: a real Optuna study of 16 scripted trials (a boolean,
a choice of strings, a choice of numbers, floats; pruned, diverged and baseline trials) drawn
by Optuna and by us, then read back from the figure: colours, text positions, what is drawn
where. No training: the figures only read the study."""

from __future__ import annotations

import itertools
import math

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")

import optuna  # noqa: E402
from matplotlib.collections import LineCollection, PathCollection  # noqa: E402
from matplotlib.contour import ContourSet  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from storage.tables import TrialStatus  # noqa: E402
from sweeps.optuna_figures import TOP_CURVES, draw  # noqa: E402
from sweeps.plots import plot_study, sweep_figure  # noqa: E402

TRIALS = 16
PRUNED = {3, 7, 11}  # stopped after epoch 2 of 3
DIVERGED = 13  # told to Optuna as pruned, as the workers do


def _val(params: dict, epoch: int) -> float:
    """A scripted curve: batch norm and a mid learning rate help, every epoch helps."""
    rate = -abs(math.log10(params["learning_rate"]) + 2.5) / 4
    return 0.5 + 0.15 * params["batch_norm"] + rate + 0.05 * epoch - params["dropout"] / 4


@pytest.fixture(scope="module")
def study() -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(0))
    for number in range(TRIALS):
        trial = study.ask()
        params = {
            "batch_norm": trial.suggest_categorical("batch_norm", [False, True]),
            "schedule": trial.suggest_categorical("schedule", ["constant", "step", "cosine"]),
            "batch_size": trial.suggest_categorical("batch_size", [32, 64, 128]),
            "learning_rate": trial.suggest_float("learning_rate", 1e-4, 1e-1, log=True),
            "dropout": trial.suggest_float("dropout", 0.0, 0.5),
        }
        trial.set_user_attr("baseline", number == 0)
        stopped = number in PRUNED or number == DIVERGED
        for epoch in range(1, 3 if stopped else 4):
            trial.report(_val(params, epoch), epoch)
        if number == DIVERGED:
            trial.set_user_attr("status", TrialStatus.DIVERGED.value)
        if stopped:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(trial, _val(params, 3))
    return study


def _drawn_texts(fig: Figure) -> list:
    """Every text the figure shows: titles, axis labels, legend entries, tick labels of the
    ticks inside their axis' view (others exist but are not drawn)."""
    fig.canvas.draw()
    texts = list(fig.texts)
    for ax in fig.axes:
        texts += [ax.title, ax.xaxis.label, ax.yaxis.label]
        if ax.get_legend() is not None:
            texts += ax.get_legend().get_texts()
        for axis in (ax.xaxis, ax.yaxis):
            low, high = sorted(axis.get_view_interval())
            for tick in axis.get_major_ticks():
                if low - 1e-9 <= tick.get_loc() <= high + 1e-9:
                    texts += [tick.label1, tick.label2]
    return [t for t in texts if t.get_visible() and t.get_text().strip()]


def _overlaps(fig: Figure) -> list[tuple[str, str]]:
    boxes = [(t.get_text(), t.get_window_extent()) for t in _drawn_texts(fig)]
    return [
        (a, b) for (a, box), (b, other) in itertools.combinations(boxes, 2) if box.overlaps(other)
    ]


def _contrast(colour, background) -> float:
    """How far a colour is from the background it is drawn on (0: invisible)."""
    return float(np.max(np.abs(np.asarray(colour)[:3] - np.asarray(background)[:3])))


def test_intermediate_colours_the_top_trials_greys_the_rest_and_marks_the_pruned(study) -> None:
    fig = draw("intermediate", study, None)
    ax = fig.axes[0]
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    top = sorted(complete, key=lambda t: -t.value)[:TOP_CURVES]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == [
        *(f"trial {t.number}: val {t.value:.4f}" for t in top),
        "trial 0: baseline (notebook recipe)",
        "other trials",
        "pruned (stopped)",
        "diverged (last finite epoch)",
    ], labels
    curves = [line for line in ax.get_lines() if len(line.get_xdata()) > 1]
    assert len(curves) == TRIALS
    grey = [line for line in curves if matplotlib.colors.to_hex(line.get_color()) == "#a6a6a6"]
    assert len(grey) == TRIALS - TOP_CURVES - 1  # every trial but the top and the baseline
    coloured = {matplotlib.colors.to_hex(line.get_color()) for line in curves[:]} - {"#a6a6a6"}
    assert len(coloured) == TOP_CURVES + 1  # each top trial its own colour, the baseline black
    ends = [line for line in ax.get_lines() if len(line.get_xdata()) == 1]
    assert sorted(line.get_marker() for line in ends) == ["X"] * len(PRUNED) + ["v"]
    assert all(line.get_xdata()[0] == 2 for line in ends)  # where each was stopped
    assert not _overlaps(fig)


def test_parallel_shows_every_trial_and_its_labels_apart(study) -> None:
    fig = draw("parallel", study, None)
    ax = fig.axes[0]
    (lines,) = [c for c in ax.collections if isinstance(c, LineCollection)]
    fig.canvas.draw()
    complete = sum(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    assert len(lines.get_colors()) == complete
    background = ax.get_facecolor()
    weakest = min(_contrast(colour, background) for colour in lines.get_colors())
    assert weakest > 0.2, f"the worst trial's line is almost the background ({weakest:.2f})"
    assert not _overlaps(fig), _overlaps(fig)
    categories = [sorted(t.get_text() for t in a.get_yticklabels()) for a in fig.axes]
    assert ["False", "True"] in categories, "batch_norm is drawn as its two categories"


def _points(ax) -> np.ndarray:
    return np.vstack([c.get_offsets() for c in ax.collections if isinstance(c, PathCollection)])


def test_contour_draws_a_boolean_axis_as_categories_never_interpolated(study) -> None:
    fig = draw("contour", study, ["batch_norm", "dropout"])
    (ax,) = [a for a in fig.axes if a.get_xlabel() == "batch_norm"]
    assert not [c for c in ax.collections if isinstance(c, ContourSet)], "interpolated"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["False", "True"]
    points = _points(ax)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(points) == len(complete)
    expected = sorted(int(t.params["batch_norm"]) for t in complete)
    assert sorted(np.round(points[:, 0]).astype(int)) == expected
    assert np.all(np.abs(points[:, 0] - np.round(points[:, 0])) < 0.2)  # at its category
    # Two numeric axes keep Optuna's contour.
    numeric = draw("contour", study, ["dropout", "learning_rate"])
    assert any(isinstance(c, ContourSet) for a in numeric.axes for c in a.collections)


def test_a_contour_grid_lines_up_its_categorical_columns(study) -> None:
    fig = draw("contour", study, ["batch_size", "dropout", "schedule"])
    for name, choices in (
        ("batch_size", ["32", "64", "128"]),
        ("schedule", ["constant", "step", "cosine"]),
    ):
        column = [a for a in fig.axes if a.get_xlabel() == name]
        assert len(column) == 3, name
        for ax in column:  # the diagonal's empty panel too: all line up with the labelled one
            assert ax.get_xlim() == (-0.5, len(choices) - 0.5), name
            assert list(ax.get_xticks()) == list(range(len(choices))), name
            assert not [c for c in ax.collections if isinstance(c, ContourSet)], name
        labelled = [[t.get_text() for t in ax.get_xticklabels()] for ax in column]
        assert choices in labelled, (name, labelled)


def test_slice_draws_choices_as_categories_and_every_trial_visibly(study) -> None:
    fig = draw("slice", study, ["batch_norm", "schedule", "dropout"])
    (ax,) = [a for a in fig.axes if a.get_xlabel() == "batch_norm"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["False", "True"]
    assert ax.get_xlim() == (-0.5, 1.5)  # the end categories off the frame
    fig.canvas.draw()
    for panel in (a for a in fig.axes if a.get_xlabel()):
        drawn = (c for c in panel.collections if isinstance(c, PathCollection))
        for points in (c for c in drawn if len(c.get_offsets())):
            colours = points.get_facecolors()
            assert min(_contrast(c, panel.get_facecolor()) for c in colours) > 0.15


def test_optunas_style_does_not_leak_into_the_callers_figures(study, tmp_path) -> None:
    """Optuna's plots call plt.style.use("ggplot"); the caller's next figure keeps its own
    style. Checked from matplotlib's defaults, whatever the tests before left behind."""
    with matplotlib.rc_context():
        matplotlib.rcdefaults()
        before = dict(matplotlib.rcParams)
        for kind, params in (("contour", ["batch_norm", "dropout"]), ("intermediate", None)):
            plot_study(kind, study, tmp_path / f"{kind}.png", "t", params=params)
        changed = sorted(k for k, v in matplotlib.rcParams.items() if before.get(k) != v)
    assert not changed, changed[:5]


def test_history_marks_pruned_diverged_and_baseline_trials() -> None:
    ranked = pd.DataFrame(
        {
            "trial": [0, 1, 2, 3, 4],
            "status": [
                TrialStatus.COMPLETE, TrialStatus.COMPLETE, TrialStatus.PRUNED,
                TrialStatus.DIVERGED, TrialStatus.COMPLETE,
            ],
            "baseline": [True, False, False, False, False],
            "val_accuracy": [0.80, 0.85, 0.40, 0.10, 0.90],
            "test_accuracy": [0.79, 0.84, 0.41, None, 0.88],
        }
    )  # fmt: skip
    fig = sweep_figure("history", ranked, None)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == [
        "diverged (val of its last finite epoch)",
        "val accuracy",
        "val accuracy, pruned (when stopped)",
        "test accuracy (not used to select)",
        "best val so far",
        "baseline (notebook recipe)",
    ]
    sets = {c.get_label(): c.get_offsets() for c in ax.collections}
    assert sets["val accuracy, pruned (when stopped)"].tolist() == [[2, 0.40]]
    assert sets["val accuracy"][:, 0].tolist() == [0, 1, 4]
    assert sets["baseline (notebook recipe)"].tolist() == [[0, 0.80]]

"""Build a sweep's first model and read its dataset once, before the study exists.

``sweeps.run`` and ``sweeps.resume`` call :func:`preflight` in a spawned child
(:func:`sweeps.spawn.run_in_child`) before they create or change anything. What would
otherwise fail in every worker after the study exists becomes one line and exit code 2: a
space file that ends the process when imported, a ``build`` that raises, a BASELINE value
outside its own question's choices, a weights file of another architecture, an image that
TensorFlow's decoder (the one training uses) cannot read. It does what a worker does, with the
worker's own parts: the space import, ``load_splits``, the Optuna adapter with the baseline
enqueued, the trial's recipe up to its network (:func:`sweeps.worker.recipe.build_network`),
then one forward pass.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import time
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import optuna

from search_spaces import SearchSpace
from sweeps.config import SweepConfig
from sweeps.data import Splits, load_splits
from sweeps.errors import SpaceError
from sweeps.space_access import load_space
from sweeps.tf_logs import SHOW_ENV
from sweeps.trial_questions import ask_trial_questions, settings_for_trial

if TYPE_CHECKING:
    from sweeps.worker.hp_adapter import OptunaHyperParameters

# TensorFlow, Keras and the trainer are imported only after the space: a space reference
# that does not import (a typo in a module path, a file that raises) is answered in about a
# second, without TensorFlow's start-up.

__all__ = ["preflight"]


def preflight(config: SweepConfig) -> dict[str, Any]:
    """Import the space, load the dataset and build the first trial's model as a worker would.

    Returns plain values (the model's parameter count, the check's seconds after TensorFlow's
    import): a class defined here would make the caller import this module, and TensorFlow,
    to unpickle it.

    Raises:
        SpaceError: the space cannot be imported or built, its BASELINE holds a
            value its own question does not allow, its model does not fit the dataset, or
            the weights file does not fit its model.
        DatasetError: the dataset cannot be read, decoded or split.
    """
    started = time.perf_counter()
    with _quiet():
        space = load_space(config.space)
        import tensorflow as tf

        # A short check on the CPU: a GPU's memory stays free for the workers that follow.
        tf.config.set_visible_devices([], "GPU")
        splits = load_splits(config.dataset, val_fraction=config.val_fraction, seed=config.seed)
        model = _build_first(space, splits, config)
        count = int(model.count_params())
    return {"param_count": count, "seconds": round(time.perf_counter() - started, 3)}


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Keep Keras' warnings (a mismatched weights file prints one per layer) and prints off
    the user's terminal: what matters comes back as the one error."""
    if os.environ.get(SHOW_ENV):
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            os.dup2(devnull.fileno(), 2)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, copy in zip((1, 2), saved, strict=True):
            os.dup2(copy, fd)
            os.close(copy)


def _first_trial(space: SearchSpace, config: SweepConfig) -> optuna.Trial:
    """A trial asked the way the study's first one is: the BASELINE enqueued.

    Without the baseline trial the BASELINE is still the space's canonical point (only the
    parameters a sweep file overrides are left to the sampler), so the check never trips on a
    combination the space is allowed to refuse.
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize", sampler=optuna.samplers.RandomSampler(seed=config.seed)
    )
    overrides = config.overrides or {}
    study.enqueue_trial(
        {k: v for k, v in space.baseline.items() if config.baseline or k not in overrides}
    )
    return study.ask()


def _build(
    hp: OptunaHyperParameters, space: SearchSpace, splits: Splits, config: SweepConfig,
    weights: str | None,
) -> tuple[Any, tuple[int, ...]]:  # fmt: skip
    """The trainer's first steps: the training questions, the input plan, the build."""
    from sweeps.worker.recipe import build_network

    settings = dataclasses.replace(settings_for_trial(config, splits, 0), weights=weights)
    try:  # the training questions alone first: what fails there is the BASELINE's doing
        ask_trial_questions(hp, space, settings)
    except SpaceError:
        raise
    except ValueError as exc:  # KerasTuner refuses a BASELINE default outside its choices
        raise SpaceError(
            f"space {space.reference!r}: its BASELINE does not fit the training questions "
            f"({_why(exc)}); give BASELINE training values those questions offer (every "
            "space shares them: `sweeps spaces mnist_cnn` lists them)."
        ) from None
    network = build_network(space, hp, splits, settings)  # asked again: answered from hp
    return network.model, network.plan.spec.shape


def _build_first(space: SearchSpace, splits: Splits, config: SweepConfig) -> Any:
    from sweeps.worker.hp_adapter import OptunaHyperParameters

    hp = OptunaHyperParameters(_first_trial(space, config), overrides=config.overrides)
    try:
        model, shape = _build(hp, space, splits, config, config.weights)
    except (Exception, SystemExit) as exc:
        _check_baseline_values(space, hp)  # the cause, rather than its symptom
        if isinstance(exc, SpaceError):  # already says what and how to fix it
            raise
        if config.weights and _builds_without_weights(space, splits, config):
            raise SpaceError(
                f"{space.name}: weights file {config.weights!r} does not fit its model "
                f"({_why(exc)}); pass weights saved from this space's own pretrained base, "
                "or drop --weights."
            ) from None
        raise SpaceError(
            f"space {space.reference!r}: build(hp, spec) fails for the first trial "
            f"({_why(exc)}); fix build, or call it by hand to see the traceback."
        ) from None
    _check_baseline_values(space, hp)
    _check_model(space, model, shape, splits.info.num_classes)
    return model


def _builds_without_weights(space: SearchSpace, splits: Splits, config: SweepConfig) -> bool:
    from sweeps.worker.hp_adapter import OptunaHyperParameters

    hp = OptunaHyperParameters(_first_trial(space, config), overrides=config.overrides)
    try:
        _build(hp, space, splits, config, None)
    except (Exception, SystemExit):
        return False
    return True


def _allowed(question: Any, value: Any) -> str | None:
    """Why ``value`` is not an answer ``question`` (a KerasTuner hyperparameter) can give."""
    kind = type(question).__name__
    if kind == "Choice":
        ok = value in list(question.values)
        return None if ok else f"is not one of its choices {list(question.values)!r}"
    if kind == "Boolean":
        return None if isinstance(value, bool) else "is not a bool (True or False)"
    if kind == "Fixed":
        return None if value == question.value else f"is not its fixed value {question.value!r}"
    if kind in ("Int", "Float"):
        low, high = question.min_value, question.max_value
        if not isinstance(value, int | float) or isinstance(value, bool):
            return f"is not a number in its range {low!r}..{high!r}"
        if not low - 1e-12 * abs(low) <= value <= high + 1e-12 * abs(high):
            return f"is outside its range {low!r}..{high!r}"
        step = question.step
        if step and question.sampling == "linear":
            k = (value - low) / step
            if abs(k - round(k)) > 1e-6:
                return f"is not on its grid {low!r}, {low + step!r}, ... (step {step!r})"
    return None


def _check_baseline_values(space: SearchSpace, hp: OptunaHyperParameters) -> None:
    """Raise SpaceError for a BASELINE value its own question cannot give: the baseline trial
    would fail at run time (a choice) or run outside its search space (a range)."""
    for question in hp.space:
        if question.name not in space.baseline:
            continue
        why = _allowed(question, space.baseline[question.name])
        if why:
            raise SpaceError(
                f"space {space.reference!r}: BASELINE[{question.name!r}] = "
                f"{space.baseline[question.name]!r} {why}; change BASELINE or the question."
            )


def _check_model(space: SearchSpace, model: Any, shape: tuple[int, ...], classes: int) -> None:
    """The built model is a Keras model that takes a batch of the pipeline's images and
    gives one logit per class."""
    import keras

    if not isinstance(model, keras.Model):
        raise SpaceError(
            f"space {space.reference!r}: build must return a keras.Model, but returned "
            f"{type(model).__name__}."
        )
    try:
        out = model(np.zeros((2, *shape), dtype="float32"), training=False)
    except Exception as exc:
        raise SpaceError(
            f"space {space.reference!r}: its model cannot take a batch of {shape} images "
            f"({_why(exc)}); build it on keras.Input(spec.shape)."
        ) from None
    got = tuple(getattr(out, "shape", ()))
    if got != (2, classes):
        raise SpaceError(
            f"space {space.reference!r}: its model gives outputs of shape {got} for 2 images, "
            f"but the dataset has {classes} classes; end it with Dense(spec.num_classes)."
        )


def _why(exc: BaseException) -> str:
    if isinstance(exc, SystemExit):
        return f"it calls sys.exit({exc.code!r})"
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    text = f"{type(exc).__name__}: {lines[0] if lines else ''}".strip()
    return text if len(text) <= 300 else text[:297] + "..."

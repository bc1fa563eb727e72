"""What a space asks, read by building it once under KerasTuner: ``sweeps spaces``' tunables
and the ranges a sweep file's ``parameters`` are checked against.

Building a space imports TensorFlow, so both run in a spawned child
(:func:`sweeps.spawn.run_in_child`, from :mod:`sweeps.cli.catalog_commands` and
:mod:`sweeps.sweep_file`): the CLI, a notebook, or the process about to dispatch a sweep never
imports it. The child hides the GPUs first: one build on the smallest input needs none, and
the workers may need them all.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from search_spaces import InputSpec, SearchSpace
from sweeps.space_access import load_space
from sweeps.tf_logs import import_tensorflow_quietly
from sweeps.trial_questions import ask_trial_questions

__all__ = ["asked_ranges", "describe_tunables", "every_question"]


def _on_the_cpu() -> None:
    """Hide the GPUs, BEFORE TensorFlow is imported (it takes every visible GPU on import)."""
    os.environ["CUDA_VISIBLE_DEVICES"] = "-1"
    import_tensorflow_quietly()


def every_question(space: SearchSpace, defaults: dict[str, Any] | None = None) -> list[Any]:
    """Every hyperparameter ``space`` can ask (KerasTuner's objects, in asking order), under
    the generic ranges; ``defaults`` answer in place of the BASELINE's values (a learning
    rate's range follows the optimizer chosen).

    Builds the space once on its smallest input.
    """
    import keras
    import keras_tuner as kt

    if defaults:
        space = dataclasses.replace(space, baseline={**space.baseline, **defaults})
    hp = kt.HyperParameters()
    ask_trial_questions(hp, space)
    space.build(hp, InputSpec((*space.info.min_input, max(space.info.channels)), 10))
    keras.backend.clear_session()
    return list(hp.space)


def _describe(hp: Any) -> tuple[str, str]:
    config = hp.get_config()
    kind = type(hp).__name__
    if kind == "Choice":
        return kind, "{" + ", ".join(map(str, config["values"])) + "}"
    if kind in ("Float", "Int"):
        text = f"[{config['min_value']:g}, {config['max_value']:g}]"
        if config.get("step"):
            text += f" step {config['step']:g}"
        if config.get("sampling") not in (None, "linear"):
            text += f" {config['sampling']}"
        return kind, text
    if kind == "Fixed":
        return kind, str(config["value"])
    return kind, "{False, True}"


def _rows(space: SearchSpace) -> list[dict[str, str]]:
    rows = []
    for parameter in every_question(space):
        kind, values = _describe(parameter)
        condition = ""
        for c in parameter.conditions:
            config = c.get_config()
            condition = f"{config['name']} in {{{', '.join(map(str, config['values']))}}}"
        default = parameter.default if kind != "Fixed" else parameter.value
        rows.append(
            {
                "name": parameter.name,
                "kind": kind,
                "values": values,
                "default": str(default),
                "when": condition,
            }
        )
    return rows


def describe_tunables(references: list[str]) -> list[list[dict[str, str]]]:
    """For each space, one row per hyperparameter it (and the shared training tunables) can
    ask: name, kind, values, default, and the condition it is asked under. Plain strings, so
    the caller unpickles them without KerasTuner.

    Raises:
        SpaceError: a space cannot be loaded.
    """
    _on_the_cpu()
    return [_rows(load_space(reference)) for reference in references]


def asked_ranges(reference: str, defaults: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every hyperparameter space ``reference`` asks, with its kind and KerasTuner's config
    (range or choices, step, sampling), answered with ``defaults`` in place of the BASELINE's.

    Raises:
        SpaceError: the space cannot be loaded.
    """
    _on_the_cpu()
    ranges = {}
    for parameter in every_question(load_space(reference), defaults):
        config = parameter.get_config()
        config.pop("conditions", None)
        ranges[parameter.name] = {"kind": type(parameter).__name__, **config}
    return ranges

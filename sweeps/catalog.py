"""Describe a space's tunables (names, ranges, defaults) by asking them as a trial does, once,
under KerasTuner (:func:`sweeps.trial_questions.every_question`)."""

from __future__ import annotations

from typing import Any

from search_spaces import SearchSpace
from sweeps.trial_questions import every_question

__all__ = ["describe_tunables"]


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


def describe_tunables(space: SearchSpace) -> list[dict[str, str]]:
    """One row per hyperparameter the space (and the shared training tunables) can ask."""
    from sweeps.tf_logs import import_tensorflow_quietly

    import_tensorflow_quietly()
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

"""Sweep files: every ``sweeps run`` option, and overrides of a space's ranges, in one YAML file.

A sweep file is what W&B users call a sweep config::

    space: leaky_cnn
    dataset: cifar10
    trials: 32
    epochs: 10
    sampler: tpe
    parameters:                      # narrow the space (optional)
      optimizer: {values: [adamax, adam]}     # drop choices
      learning_rate: {min: 1.0e-4, max: 1.0e-2}  # narrow a range
      batch_size: {value: 64}                 # fix a parameter

Keys are :class:`~sweeps.config.SweepConfig` fields plus ``storage`` and ``study``;
command-line flags (or :func:`sweeps.run` keywords) override the file. The overrides are saved
in the study's config, so ``sweeps resume`` needs neither the file nor the flags, and the
worker's hp adapter applies them to every trial. Loading a file never imports TensorFlow;
checking its ``parameters`` against the space builds the space once in a CPU-only child
process, so the dispatcher's process never touches a GPU.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sweeps.config import SweepConfig
from sweeps.errors import ConfigError

__all__ = ["OVERRIDE_FORMS", "SweepFile", "check_overrides", "file_keys", "load_sweep_file"]

# Keys of a sweep file that are not SweepConfig fields: where the sweep is recorded.
_PLACE_KEYS = ("storage", "study")
# SweepConfig fields a file does not set: filled in by run() itself.
# Fields sweeps fills in itself: a file cannot set them.
_INTERNAL = ("overrides", "sweep_file", "sweep_file_text", "study_folder", "learning_rates")
PARAMETERS_KEY = "parameters"
OVERRIDE_FORMS = (
    "{value: V} (fix it), {values: [A, B]} (keep only these choices) or {min: A, max: B}"
)
# PyYAML reads YAML 1.1, where 1e-3 (no dot) is a string; a user means the number.
_EXPONENT_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$")


def _number(value: Any) -> Any:
    if isinstance(value, str) and _EXPONENT_NUMBER.match(value.strip()):
        return float(value)
    return value


def file_keys() -> list[str]:
    """The keys a sweep file may hold, sorted."""
    fields = [f.name for f in dataclasses.fields(SweepConfig) if f.name not in _INTERNAL]
    return sorted([*fields, *_PLACE_KEYS, PARAMETERS_KEY])


@dataclass(frozen=True)
class SweepFile:
    """A loaded sweep file: its path, its text, and :func:`sweeps.run` keywords."""

    path: str
    text: str
    settings: dict[str, Any]  # run() keywords; the parameters block as ``overrides``


def _type_error(path: str, key: str, wanted: str, value: Any) -> ConfigError:
    return ConfigError(f"{path}: {key} must be {wanted}, but got {value!r}.")


def _check_type(path: str, key: str, value: Any) -> Any:
    """The value of one top-level key, in the type its SweepConfig field takes."""
    kinds = {f.name: f.type for f in dataclasses.fields(SweepConfig)}
    kind = str(kinds.get(key, "str | None"))
    if key == "gpus":
        if isinstance(value, int) and not isinstance(value, bool):
            return [value]
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list) and all(str(v).isdigit() for v in value):
            return [int(v) for v in value]
        raise _type_error(path, key, "a list of GPU indices such as [0, 1]", value)
    if kind == "bool":
        if not isinstance(value, bool):
            raise _type_error(path, key, "true or false", value)
        return value
    if kind == "int | None" and value is None:
        return None
    if kind in ("int", "int | None"):  # the range is SweepConfig.validate's to check
        if isinstance(value, bool) or not isinstance(value, int):
            raise _type_error(path, key, "an integer", value)
        return value
    if kind == "float | None" and value is None:
        return None
    if kind in ("float", "float | None"):
        value = _number(value)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _type_error(path, key, "a number", value)
        return float(value)
    if value is None and "None" in kind:
        return None
    if not isinstance(value, str) or not value:
        raise _type_error(path, key, "a non-empty string", value)
    return value


def _override(path: str, name: Any, spec: Any) -> dict[str, Any]:
    """One entry of ``parameters``, checked for form (its values are checked against the space)."""
    where = f"{path}: parameters.{name}"
    if not isinstance(name, str):
        raise ConfigError(f"{path}: parameters names must be strings, but got {name!r}.")
    if not isinstance(spec, dict) or not spec:
        raise ConfigError(f"{where} must be one of {OVERRIDE_FORMS}, but got {spec!r}.")
    keys = set(spec)
    unknown = sorted(map(str, keys - {"value", "values", "min", "max"}))
    if unknown:
        raise ConfigError(
            f"{where}: unknown key {unknown[0]!r}; valid keys are value, values, min and max."
        )
    if len(keys & {"value", "values"}) + bool(keys & {"min", "max"}) != 1:
        raise ConfigError(f"{where} mixes forms; use one of {OVERRIDE_FORMS}.")
    if "value" in spec:
        return {"value": _number(spec["value"])}
    if "values" in spec:
        values = spec["values"]
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{where}: values must be a non-empty list, but got {values!r}.")
        return {"values": [_number(v) for v in values]}
    bounds = {k: _number(spec[k]) for k in ("min", "max") if k in spec}
    for key, value in bounds.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}: {key} must be a number, but got {value!r}.")
    if "min" in bounds and "max" in bounds and not bounds["min"] < bounds["max"]:
        raise ConfigError(
            f"{where}: min must be below max, but got min={bounds['min']!r}, "
            f"max={bounds['max']!r}; to fix the parameter write {{value: V}}."
        )
    return bounds


def load_sweep_file(path: str | Path) -> SweepFile:
    """Read and check a YAML sweep file; no space is loaded and nothing is created.

    Raises:
        ConfigError: the file is missing or not YAML, or a key or value is wrong (the message
            names the key and the valid ones).
    """
    import yaml

    where = str(path)
    file = Path(path).expanduser()
    if not file.is_file():
        raise ConfigError(f"sweep file {where!r} does not exist; give the path of a .yaml file.")
    text = file.read_text()
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise ConfigError(f"{where}: not valid YAML ({problem}{line}).") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{where}: a sweep file is a mapping of keys such as space: and trials:, "
            f"but got a {type(data).__name__}."
        )
    valid = file_keys()
    settings: dict[str, Any] = {}
    for key, value in data.items():
        if key not in valid:
            raise ConfigError(f"{where}: unknown key {key!r}; valid keys are {', '.join(valid)}.")
        if key == PARAMETERS_KEY:
            if not isinstance(value, dict):
                raise ConfigError(
                    f"{where}: parameters must map parameter names to {OVERRIDE_FORMS}."
                )
            settings["overrides"] = {name: _override(where, name, s) for name, s in value.items()}
        else:
            settings[key] = _check_type(where, key, value)
    config_keys = {k: v for k, v in settings.items() if k not in (*_PLACE_KEYS, "space", "dataset")}
    try:  # the ranges of every value, with the file's key names in the message
        SweepConfig(**config_keys).validate()
    except ConfigError as exc:
        message = re.sub(r"--([a-z][a-z-]*)", lambda m: m.group(1).replace("-", "_"), str(exc))
        raise ConfigError(f"{where}: {message}") from None
    return SweepFile(path=str(file.resolve()), text=text, settings=settings)


# Checking overrides against the space ------------------------------------------------------


def _asked_ranges(reference: str, defaults: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every hyperparameter the space asks, with its range (runs in the child process)."""
    import keras
    import keras_tuner as kt

    from search_spaces import InputSpec, load_space, tunables

    space = load_space(reference)
    hp = kt.HyperParameters()
    tunables.ask_training(
        hp,
        {**space.baseline, **defaults},
        normalization=space.info.normalization,
        augmentations=space.info.augmentations,
    )
    space.build(hp, InputSpec((*space.info.min_input, max(space.info.channels)), 10))
    keras.backend.clear_session()
    ranges = {}
    for parameter in hp.space:
        config = parameter.get_config()
        config.pop("conditions", None)
        ranges[parameter.name] = {"kind": type(parameter).__name__, **config}
    return ranges


def _print_ranges(reference: str, defaults_json: str) -> None:
    """The child's entry: the ranges as JSON on stdout."""
    print(json.dumps(_asked_ranges(reference, json.loads(defaults_json)), default=str))


def _space_ranges(reference: str, defaults: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Build the space once in a CPU-only child: a GPU stays free for the workers."""
    code = "import sys; from sweeps.sweep_file import _print_ranges; _print_ranges(*sys.argv[1:])"
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "-1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, "-c", code, reference, json.dumps(defaults)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or ["no output"]
        raise ConfigError(
            f"space {reference!r} could not be built to check parameters: {lines[-1]}"
        )
    return json.loads(done.stdout.strip().splitlines()[-1])


def _on_grid(value: float, low: float, step: float | None, log: bool) -> bool:
    if not step:
        return True
    k = math.log(value / low) / math.log(step) if log else (value - low) / step
    return abs(k - round(k)) < 1e-6


def _check_against(name: str, spec: dict[str, Any], asked: dict[str, Any], where: str) -> None:
    """Check one override against what the space asks: a choice it has, a range inside its."""
    kind = asked["kind"]
    if kind == "Fixed":
        choices: list | None = [asked["value"]]
    elif kind == "Boolean":
        choices = [False, True]
    elif kind == "Choice":
        choices = list(asked["values"])
    else:
        choices = None
    if "value" in spec or "values" in spec:
        wanted = [spec["value"]] if "value" in spec else spec["values"]
        if choices is None and "values" in spec:
            raise ConfigError(
                f"{where}: {name} is a range [{asked['min_value']}, {asked['max_value']}], "
                "so give {min: A, max: B} or {value: V}, not values."
            )
        if choices is not None:
            # True == 1 in Python: a boolean is a choice only of a boolean parameter.
            bad = [
                v for v in wanted if v not in choices or isinstance(v, bool) != (kind == "Boolean")
            ]
            if bad:
                raise ConfigError(
                    f"{where}: {bad[0]!r} is not a choice of {name}; valid ones are "
                    f"{', '.join(map(repr, choices))}."
                )
            return
        spec = {"min": spec["value"], "max": spec["value"]}
    if choices is not None:
        raise ConfigError(
            f"{where}: {name} is a choice of {', '.join(map(repr, choices))}; "
            "give {values: [...]} or {value: V}, not min/max."
        )
    low, high = asked["min_value"], asked["max_value"]
    log, step = asked.get("sampling") == "log", asked.get("step")
    for key in ("min", "max"):
        value = spec.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}: {key} must be a number, but got {value!r}.")
        if not low <= value <= high:
            raise ConfigError(
                f"{where}: {key} {value!r} is outside {name}'s range [{low}, {high}]; "
                "a sweep file can narrow a range, not widen it."
            )
        if kind == "Int" and value != int(value):
            raise ConfigError(f"{where}: {name} takes integers, but got {key} {value!r}.")
        if not _on_grid(value, low, step, log):
            raise ConfigError(
                f"{where}: {key} {value!r} is off {name}'s grid ({low} "
                f"{'times' if log else 'plus'} multiples of step {step})."
            )
    return None


def check_overrides(
    reference: str,
    overrides: dict[str, dict[str, Any]],
    baseline: dict[str, Any] | None,
    source: str = "parameters",
) -> None:
    """Check ``overrides`` against what space ``reference`` asks, and against its baseline.

    Args:
        baseline: The space's BASELINE when the sweep runs it as its first trial: every value
            it sets must stay allowed, or that trial would fall outside the search space.
        source: Where the overrides come from, for messages (the sweep file's path).

    Raises:
        ConfigError: an override names a parameter the space never asks (the message lists
            the valid ones), or a value, choice or range it cannot take.
    """
    # Describe the space under the overrides' own choices: the learning rate's range follows
    # the optimizer, so a file that fixes adadelta narrows adadelta's range.
    overrides = {name: _override(source, name, spec) for name, spec in overrides.items()}
    defaults = {}
    for name, spec in overrides.items():
        if "value" in spec:
            defaults[name] = spec["value"]
        elif "values" in spec:
            defaults[name] = spec["values"][0]
    ranges = _space_ranges(reference, defaults)
    for name, spec in overrides.items():
        where = f"{source}: parameters.{name}"
        if name not in ranges:
            raise ConfigError(
                f"{where}: space {reference!r} has no parameter {name!r}; valid ones are "
                f"{', '.join(sorted(ranges))}."
            )
        _check_against(name, spec, ranges[name], where)
        if baseline is None or name not in baseline:
            continue
        value = baseline[name]
        if "value" in spec:
            kept = value == spec["value"]
        elif "values" in spec:
            kept = value in spec["values"]
        else:
            kept = spec.get("min", -math.inf) <= value <= spec.get("max", math.inf)
        if not kept:
            raise ConfigError(
                f"{where} excludes the baseline's {name}={value!r} (the notebook's recipe, "
                "run as the first trial); keep it in, or set baseline: false."
            )

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

Keys are the settings :class:`~sweeps.config.SweepSpec` declares for files (its
``overrides`` as ``parameters``) plus ``storage`` and ``study``, each checked against its
declared type and range; command-line flags (or :func:`sweeps.run` keywords) override the
file. The overrides are saved in the study's config, so ``sweeps resume`` needs neither the
file nor the flags, and the worker's hp adapter applies them to every trial. Loading a file
never imports TensorFlow; checking its ``parameters`` against the space builds the space once
in a CPU-only child process (:mod:`sweeps.worker.questions`), so the dispatcher's process
never touches a GPU.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sweeps.config import PLACE_KEYS, Setting, declared
from sweeps.errors import ConfigError

__all__ = [
    "OVERRIDE_FORMS",
    "SweepFile",
    "check_overrides",
    "file_keys",
    "load_sweep_file",
    "saved_text",
]

OVERRIDE_FORMS = (
    "{value: V} (fix it), {values: [A, B]} (keep only these choices) or {min: A, max: B}"
)
# PyYAML reads YAML 1.1, where 1e-3 (no dot) is a string; a user means the number.
_EXPONENT_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$")


def _number(value: Any) -> Any:
    if isinstance(value, str) and _EXPONENT_NUMBER.match(value.strip()):
        return float(value)
    return value


def _file_settings() -> dict[str, Setting]:
    """The declared settings a sweep file gives, by their key (sweeps/config.py)."""
    return {s.file_key: s for s in declared() if s.file_key}


def file_keys() -> list[str]:
    """The keys a sweep file may hold, sorted."""
    return sorted([*_file_settings(), *PLACE_KEYS])


@dataclass(frozen=True)
class SweepFile:
    """A loaded sweep file: its path, its text, and :func:`sweeps.run` keywords."""

    path: str
    text: str  # as saved with the study and printed: comments and credentials left out
    settings: dict[str, Any]  # run() keywords; the parameters block as ``overrides``


def _type_error(path: str, key: str, wanted: str, value: Any) -> ConfigError:
    return ConfigError(f"{path}: {key} must be {wanted}, but got {value!r}.")


def _check_type(path: str, key: str, value: Any, setting: Setting | None) -> Any:
    """The value of one top-level key, in the type its declared setting takes (a place key's:
    a string, or nothing)."""
    kind, optional = (str, True) if setting is None else (setting.kind, setting.optional)
    if value is None and optional:
        return None
    if kind is bool:
        if not isinstance(value, bool):
            raise _type_error(path, key, "true or false", value)
        return value
    if kind is int:  # the range is the setting's check, after every key's type
        if isinstance(value, bool) or not isinstance(value, int):
            raise _type_error(path, key, "an integer", value)
        return value
    if kind is float:
        value = _number(value)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _type_error(path, key, "a number", value)
        return float(value)
    if kind == list[int]:  # one index, "0,1", or a list
        if isinstance(value, int) and not isinstance(value, bool):
            return [value]
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list) and all(str(v).isdigit() for v in value):
            return [int(v) for v in value]
        raise _type_error(path, key, setting.described or "a list of integers", value)
    if kind is str:
        if not isinstance(value, str) or not value:
            raise _type_error(path, key, "a non-empty string", value)
        return value
    raise TypeError(f"sweep files cannot read {key!r} of type {kind}: teach _check_type it")


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


class _DuplicateKeyError(Exception):
    """A mapping names one key twice (raised inside the YAML loader, reported with the path)."""

    def __init__(self, key: Any, first: int, second: int) -> None:
        super().__init__(key, first, second)
        self.key, self.first, self.second = key, first, second


def _loader() -> type:
    """PyYAML's safe loader, but a key given twice in one mapping is an error.

    Plain YAML keeps the last value silently, so ``trials: 8`` followed later by ``trials: 2``
    would run 2 trials with no word said.
    """
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # `<<: *base` merges, and the keys after it override: allowed
                key = self.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                try:
                    if key in seen:
                        raise _DuplicateKeyError(key, seen[key], line)
                except TypeError:  # an unhashable key: PyYAML's own error says so
                    continue
                seen[key] = line
            return super().construct_mapping(node, deep=deep)

    return UniqueKeyLoader


def _comment_spans(text: str) -> list[tuple[int, int]]:
    """Where the comments of ``text`` (valid YAML) are: every ``#`` outside a token starts one.

    The scanner skips comments, so whatever lies between its tokens, apart from white space,
    is a comment. A block scalar's token (``|`` or ``>``) also spans the comment on its header
    line; only its content, from the first line break on, is text of the value.
    """
    import yaml

    protected = []
    for token in yaml.scan(text, Loader=yaml.SafeLoader):
        start, end = token.start_mark.index, token.end_mark.index
        if isinstance(token, yaml.ScalarToken) and text[start : start + 1] in ("|", ">"):
            header_end = text.find("\n", start, end)
            protected.append((start, start + 1))
            start = end if header_end < 0 else header_end
        protected.append((start, end))
    inside = bytearray(len(text))
    for start, end in protected:
        inside[start:end] = b"\x01" * (end - start)
    spans = []
    position = 0
    while (hash_at := text.find("#", position)) >= 0:
        if inside[hash_at]:
            position = hash_at + 1
            continue
        line_end = min(
            i for i in (text.find("\n", hash_at), text.find("\r", hash_at), len(text)) if i >= 0
        )
        spans.append((hash_at, line_end))
        position = line_end
    return spans


def _without_comments(text: str) -> str:
    """``text`` less its comments: a comment line goes, a trailing comment and the blanks
    before it go."""
    pieces, position = [], 0
    for start, end in _comment_spans(text):
        line_start = max(text.rfind("\n", 0, start), text.rfind("\r", 0, start)) + 1
        if not text[line_start:start].strip():  # a line of its own: drop it with its break
            cut_start = line_start
            if text.startswith("\r\n", end):
                end += 2
            elif text.startswith(("\n", "\r"), end):
                end += 1
        else:
            cut_start = len(text[:start].rstrip(" \t"))
        pieces.append(text[position:cut_start])
        position = end
    pieces.append(text[position:])
    return "".join(pieces)


def _urls_masked(text: str) -> str:
    """``text`` with every value that holds a credential (a storage URL's password, a
    ``?password=`` query) written masked, however the file quoted or escaped it."""
    import yaml

    from storage.engine import mask_url

    edits = []
    stack, seen = [yaml.compose(text, Loader=yaml.SafeLoader)], set()
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:  # an alias may repeat a node, even inside itself
            continue
        seen.add(id(node))
        if isinstance(node, yaml.ScalarNode):
            masked = mask_url(node.value)
            if masked != node.value:
                start, end = node.start_mark.index, node.end_mark.index
                source = text[start:end]
                # The node's span starts at its anchor or tag, if any: both stay.
                head = re.match(r"(?:[&!]\S*\s+)*", source).group(0)
                tail = source[len(source.rstrip("\r\n")) :]
                # A JSON string is a YAML double-quoted scalar.
                edits.append((start, end, head + json.dumps(masked) + tail))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            stack.extend(part for pair in node.value for part in pair)
    for start, end, replacement in sorted(edits, reverse=True):  # from the end backwards
        text = text[:start] + replacement + text[end:]
    return text


COMMENTS_LEFT_OUT = "# (comments left out: sweeps stores none, as one may hold a password)\n"


def saved_text(text: str, storage: str | None = None) -> str:
    """The sweep file's text as sweeps stores and prints it: no secret left in it.

    Comments are left out whole: a comment is free text, where a password (a storage URL
    that was commented out, a note) cannot be told from any other words. Values holding a
    credential are masked as :func:`storage.mask_url` masks them, and the credentials of
    ``storage`` are scrubbed from whatever text remains.
    """
    from storage.engine import scrub

    kept = _without_comments(text)
    if kept != text:
        kept = COMMENTS_LEFT_OUT + kept
    kept = _urls_masked(kept)
    return scrub(kept, storage) if storage else kept


def load_sweep_file(path: str | Path) -> SweepFile:
    """Read and check a YAML sweep file; no space is loaded and nothing is created.

    Raises:
        ConfigError: the path is empty, a folder or missing, the file is not UTF-8 or not
            YAML, it gives a key twice, or a key or value is wrong (the message names the key
            and the valid ones).
    """
    import yaml

    where = str(path)
    if not where.strip():
        raise ConfigError(
            "the sweep file's path is empty; give the path of a .yaml file such as "
            "examples/003_mnist_cnn.yaml."
        )
    file = Path(path).expanduser()
    if file.is_dir():
        raise ConfigError(f"sweep file {where!r} is a folder; give the path of a .yaml file.")
    if not file.is_file():
        raise ConfigError(f"sweep file {where!r} does not exist; give the path of a .yaml file.")
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"sweep file {where!r} cannot be read ({exc.strerror}); check its permissions."
        ) from None
    try:
        text = raw.decode("utf-8-sig")  # a byte-order mark, as some editors write, is fine
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{where}: not UTF-8 text (byte {raw[exc.start]:#04x} on line {line}); save the "
            "file as UTF-8."
        ) from None
    try:
        data = yaml.load(text, Loader=_loader())  # noqa: S506 (a SafeLoader subclass)
    except _DuplicateKeyError as exc:
        lines = (
            f"line {exc.first}"
            if exc.first == exc.second
            else f"lines {exc.first} and {exc.second}"
        )
        raise ConfigError(f"{where}: key {exc.key!r} is given twice ({lines}); keep one.") from None
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
    valid, declared_keys = file_keys(), _file_settings()
    settings: dict[str, Any] = {}  # run() keywords: a setting under its name
    for key, value in data.items():
        if key not in valid:
            raise ConfigError(f"{where}: unknown key {key!r}; valid keys are {', '.join(valid)}.")
        setting = declared_keys.get(key)
        if setting is not None and setting.name == "overrides":
            if not isinstance(value, dict):
                raise ConfigError(f"{where}: {key} must map parameter names to {OVERRIDE_FORMS}.")
            settings[setting.name] = {n: _override(where, n, s) for n, s in value.items()}
        else:
            settings[setting.name if setting else key] = _check_type(where, key, value, setting)
    for key, setting in declared_keys.items():  # the ranges, the file's key names in messages
        if setting.name in settings:
            try:
                setting.check_value(settings[setting.name], key)
            except ConfigError as exc:
                raise ConfigError(f"{where}: {exc}") from None
    text = saved_text(text, settings.get("storage"))
    return SweepFile(path=str(file.resolve()), text=text, settings=settings)


# Checking overrides against the space ------------------------------------------------------


def _space_ranges(reference: str, defaults: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every hyperparameter the space asks, with its range: the space is built once in a
    spawned child, on the CPU, so this process never imports TensorFlow and a GPU stays free
    for the workers."""
    from sweeps.spawn import TaskFailedError, run_in_child

    try:
        return run_in_child("sweeps.worker.questions:asked_ranges", reference, defaults)
    except TaskFailedError as exc:
        raise ConfigError(
            f"space {reference!r} could not be built to check parameters: {exc.reason}"
        ) from None


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

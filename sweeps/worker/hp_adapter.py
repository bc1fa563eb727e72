"""Answer KerasTuner's ``HyperParameters`` questions from an Optuna trial, define-by-run.

Search spaces ask every question through ``keras_tuner.HyperParameters`` so that the same
``build(hp, spec)`` runs under KerasTuner's own tuners. Here each question a space asks is
forwarded to ``optuna.Trial.suggest_*`` the moment it is asked, so only the branches a trial
actually takes reach Optuna (KerasTuner returns ``None`` for inactive ones and we never ask).

KerasTuner has no public hook for "a value is being asked", so this overrides its private
``_register`` and ``_retrieve``; pyproject.toml pins keras-tuner to the tested 1.4 series.
"""

from __future__ import annotations

import copy
from typing import Any

import keras_tuner as kt
import optuna

from sweeps.errors import SpaceError

__all__ = ["OptunaHyperParameters"]

_KIND_NAMES = {
    "Float": "Float",
    "Int": "Int",
    "Choice": "Choice",
    "Boolean": "Boolean",
    "Fixed": "Fixed",
}


def _kind(hp: Any) -> str:
    return _KIND_NAMES.get(type(hp).__name__, type(hp).__name__)


class OptunaHyperParameters(kt.HyperParameters):
    """A ``kt.HyperParameters`` whose values come from ``trial``.

    Mapping of KerasTuner's kinds onto Optuna's distributions:

    * ``Float``/``Int`` linear or log without a step -> ``suggest_float``/``suggest_int``;
      linear with a step -> the same with ``step``. Log-scaled *with* a step describes a
      geometric grid (``min * step**k``), which Optuna cannot express, so it becomes a
      categorical over exactly that grid.
    * ``Choice`` -> ``suggest_categorical``; ``Boolean`` -> categorical over False/True.
    * ``Fixed`` -> a one-value categorical, so the value is recorded with the trial's params.

    Overrides (a sweep file's ``parameters``, checked by :func:`sweeps.sweep_file.check_overrides`)
    replace a question's range before Optuna sees it: ``{"value": v}`` asks a one-value
    categorical, ``{"values": [...]}`` the kept choices, ``{"min", "max"}`` the narrowed range
    with the question's own step and scale.
    """

    def __init__(self, trial: optuna.Trial, overrides: dict[str, dict[str, Any]] | None = None):
        super().__init__()
        self.trial = trial
        self.overrides = overrides or {}
        self._kinds: dict[str, str] = {}

    def _retrieve(self, hyperparameter):
        # KerasTuner answers a repeated name from its cache without looking at the kind.
        name, kind = hyperparameter.name, _kind(hyperparameter)
        previous = self._kinds.setdefault(name, kind)
        if previous != kind:
            raise SpaceError(
                f"hyperparameter {name!r} is asked as {previous} and as {kind}: "
                "give one of them another name."
            )
        return super()._retrieve(hyperparameter)

    def _register(self, hyperparameter, overwrite=False):
        super()._register(hyperparameter, overwrite=overwrite)
        if not self.is_active(hyperparameter):
            return None
        value = self._suggest(hyperparameter)
        self.values[hyperparameter.name] = value
        return value

    def _suggest(self, hp: Any) -> Any:
        trial, name, kind = self.trial, hp.name, _kind(hp)
        override = self.overrides.get(name)
        try:
            if override is not None:
                return self._suggest_override(hp, kind, override)
            if kind == "Fixed":
                return trial.suggest_categorical(name, [hp.value])
            if kind == "Boolean":
                return trial.suggest_categorical(name, [False, True])
            if kind == "Choice":
                return trial.suggest_categorical(name, list(hp.values))
            if kind in ("Float", "Int"):
                return self._suggest_numerical(hp, kind)
        except ValueError as exc:
            # A value outside its distribution, or one name with two ranges in one trial.
            raise SpaceError(f"hyperparameter {name!r}: {exc}") from exc
        raise SpaceError(f"hyperparameter {name!r} has kind {kind}, which sweeps cannot map.")

    def _suggest_numerical(self, hp: Any, kind: str) -> Any:
        trial, name = self.trial, hp.name
        log = hp.sampling == "log"
        if hp.sampling == "reverse_log" or (log and hp.step is not None):
            if hp.step is None:
                raise SpaceError(
                    f"hyperparameter {name!r} uses sampling='reverse_log' without a step; "
                    "give it a step or use sampling='log'."
                )
            grid = [int(v) if kind == "Int" else float(v) for v in hp.values]
            return trial.suggest_categorical(name, grid)
        if kind == "Int":
            return trial.suggest_int(name, hp.min_value, hp.max_value, step=hp.step or 1, log=log)
        return trial.suggest_float(name, hp.min_value, hp.max_value, step=hp.step, log=log)

    def _suggest_override(self, hp: Any, kind: str, override: dict[str, Any]) -> Any:
        if "value" in override:
            return self.trial.suggest_categorical(hp.name, [override["value"]])
        if "values" in override:
            return self.trial.suggest_categorical(hp.name, list(override["values"]))
        narrowed = copy.copy(hp)  # same step and scale, narrower bounds
        narrowed.min_value = override.get("min", hp.min_value)
        narrowed.max_value = override.get("max", hp.max_value)
        return self._suggest_numerical(narrowed, kind)

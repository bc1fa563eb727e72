"""Read-only views of the Optuna tables we join to (Optuna owns and writes them)."""

from __future__ import annotations

import enum
import json
from typing import Any

import sqlalchemy as sa

__all__ = [
    "BASELINE_ATTR",
    "BASELINE_RECIPE_ATTR",
    "BATCH_SIZE_ATTR",
    "FINISHED_STATES",
    "OptunaState",
    "decode_param",
    "studies",
    "trial_params",
    "trial_user_attributes",
    "trial_values",
    "trials",
]


class OptunaState(enum.StrEnum):
    """Optuna's trial states as its ``trials.state`` column spells them (optuna.trial.TrialState
    by name), so the query side can count them without importing Optuna."""

    RUNNING = "RUNNING"
    COMPLETE = "COMPLETE"
    PRUNED = "PRUNED"
    FAIL = "FAIL"
    WAITING = "WAITING"


# The trial user attribute that marks the notebook's own recipe (and its retries).
BASELINE_ATTR = "sweeps:baseline"
# The study's: every answer of the baseline's recipe, as enqueued (its trial's params fill in
# only as it asks its questions, and the sampler plans other trials meanwhile).
BASELINE_RECIPE_ATTR = "sweeps:baseline_recipe"

# The trial user attribute in which a retry after running out of memory keeps the halved batch
# size it trains with (its sampled parameter stays as the sampler proposed it).
BATCH_SIZE_ATTR = "sweeps:batch_size"

# A finished trial's median epoch after its first, in seconds: the sampler prefers the
# cheaper of recipes tied on validation (a result attribute, so Optuna's tools show it too).
SECONDS_PER_EPOCH_ATTR = "seconds_per_epoch"

# The states that count against a sweep's budget.
FINISHED_STATES = (OptunaState.COMPLETE, OptunaState.PRUNED)

_meta = sa.MetaData()

studies = sa.Table(
    "studies",
    _meta,
    sa.Column("study_id", sa.Integer, primary_key=True),
    sa.Column("study_name", sa.String),
)
trials = sa.Table(
    "trials",
    _meta,
    sa.Column("trial_id", sa.Integer, primary_key=True),
    sa.Column("number", sa.Integer),
    sa.Column("study_id", sa.Integer),
    # Optuna declares an Enum: a native type named "trialstate" on PostgreSQL, which does not
    # compare with VARCHAR parameters.
    sa.Column("state", sa.Enum(*OptunaState, name="trialstate", create_type=False)),
    sa.Column("datetime_start", sa.DateTime),
    sa.Column("datetime_complete", sa.DateTime),
)
trial_params = sa.Table(
    "trial_params",
    _meta,
    sa.Column("param_id", sa.Integer, primary_key=True),
    sa.Column("trial_id", sa.Integer),
    sa.Column("param_name", sa.String),
    sa.Column("param_value", sa.Float),
    sa.Column("distribution_json", sa.Text),
)
trial_user_attributes = sa.Table(
    "trial_user_attributes",
    _meta,
    sa.Column("trial_user_attribute_id", sa.Integer, primary_key=True),
    sa.Column("trial_id", sa.Integer),
    sa.Column("key", sa.String),
    sa.Column("value_json", sa.Text),
)
trial_values = sa.Table(
    "trial_values",
    _meta,
    sa.Column("trial_value_id", sa.Integer, primary_key=True),
    sa.Column("trial_id", sa.Integer),
    sa.Column("objective", sa.Integer),
    sa.Column("value", sa.Float),
)


def decode_param(internal: float, distribution_json: str) -> Any:
    """Optuna stores categoricals as an index into their choices; turn it back into the value."""
    distribution = json.loads(distribution_json)
    kind = distribution["name"]
    attributes = distribution["attributes"]
    if kind == "CategoricalDistribution":
        return attributes["choices"][int(internal)]
    if kind.startswith("Int"):
        return int(internal)
    return float(internal)

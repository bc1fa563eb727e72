"""Schema 3: a trial's status is derived from Optuna's state and its outcome, not stored.

Schema 2 kept ``sweeps_trial_result.status`` beside the two things it copied: Optuna's state
of the trial and the outcome the worker records with it (the ``status`` user attribute, which
every release wrote). The queries now derive it from those (storage.trial_status), so the copy
and the index that ranked by it go. A finished trial whose outcome was never recorded as an
attribute first gets it from the copy, so no store loses a word of what it said.

SQLite: the table is made again, as storage.tables makes it, and its rows copied (as revision
2 does, for the same reason: Alembic's batch mode would leave a renamed table's DDL behind it).
PostgreSQL drops the column in place.

Revision ID: 3
Revises: 2
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "3"
down_revision = "2"
branch_labels = None
depends_on = None

TABLE = "sweeps_trial_result"
OLD = "_sweeps_trial_result_schema_2"
OUTCOME = "status"  # the outcome's user attribute (storage.trial_status.OUTCOME_ATTR)

# The copy's words for trials Optuna finished and no outcome attribute holds, as JSON.
_KEEP_OUTCOMES = f"""
INSERT INTO trial_user_attributes (trial_id, key, value_json)
SELECT r.trial_id, '{OUTCOME}', '"' || r.status || '"'
FROM {TABLE} r JOIN trials t ON t.trial_id = r.trial_id
WHERE t.state NOT IN ('RUNNING', 'WAITING') AND NOT EXISTS (
    SELECT 1 FROM trial_user_attributes a WHERE a.trial_id = r.trial_id AND a.key = '{OUTCOME}'
)
"""

# Schema 2's copy, as storage.trial_status derives it.
_COPY_STATUS = f"""
UPDATE {TABLE} SET status = (
    SELECT CASE
        WHEN t.state IN ('RUNNING', 'WAITING') THEN 'running'
        WHEN a.value_json IS NOT NULL THEN substr(a.value_json, 2, length(a.value_json) - 2)
        WHEN t.state = 'COMPLETE' THEN 'complete'
        WHEN t.state = 'PRUNED' THEN 'pruned'
        ELSE 'failed'
    END
    FROM trials t LEFT JOIN trial_user_attributes a
        ON a.trial_id = t.trial_id AND a.key = '{OUTCOME}'
    WHERE t.trial_id = {TABLE}.trial_id
)
"""


def _result_table(*, with_status: bool) -> sa.Table:
    """The result table of schema 3 (as storage.tables declares it), or of schema 2."""
    status = [sa.Column("status", sa.String(16), nullable=False)] if with_status else []
    rank = ("study_id", "status", "val_accuracy") if with_status else ("study_id", "val_accuracy")
    return sa.Table(
        TABLE,
        sa.MetaData(),
        sa.Column("trial_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("study_id", sa.Integer, nullable=False, index=True),
        sa.Column("number", sa.Integer, nullable=False),
        *status,
        sa.Column("space", sa.String(256), nullable=False),
        sa.Column("dataset", sa.String(1024), nullable=False),
        sa.Column("is_baseline", sa.Boolean, nullable=False),
        sa.Column("retry_of", sa.Integer),
        sa.Column("resumed_from_epoch", sa.Integer),
        sa.Column("val_accuracy", sa.Double),
        sa.Column("val_loss", sa.Double),
        sa.Column("test_accuracy", sa.Double),
        sa.Column("test_loss", sa.Double),
        sa.Column("best_epoch", sa.Integer),
        sa.Column("epochs_run", sa.Integer, nullable=False),
        sa.Column("param_count", sa.Integer),
        sa.Column("input_shape", sa.String(64)),
        sa.Column("resized_from", sa.String(64)),
        sa.Column("wall_seconds", sa.Double),
        sa.Column("fit_seconds", sa.Double),
        sa.Column("failure_reason", sa.Text),
        sa.Column("checkpoint_dir", sa.Text),
        sa.Column("worker", sa.String(256)),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("finished_at", sa.DateTime),
        sa.Index("ix_trial_result_rank", *rank),
        sa.Index("ix_trial_result_number", "study_id", "number", unique=True),
    )


def _remake(new: sa.Table, copied: dict[str, str]) -> None:
    """SQLite: move the table aside (its indexes dropped: their names are the new table's),
    make ``new`` under its name, copy its columns over (``copied``: a column's SQL, if not the
    old column of its name)."""
    for index in ("ix_trial_result_rank", "ix_trial_result_number", f"ix_{TABLE}_study_id"):
        op.drop_index(index, table_name=TABLE)
    op.rename_table(TABLE, OLD)
    new.create(op.get_bind())
    names = [c.name for c in new.columns]
    values = ", ".join(copied.get(name, name) for name in names)
    op.execute(f"INSERT INTO {TABLE} ({', '.join(names)}) SELECT {values} FROM {OLD}")
    op.drop_table(OLD)


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table("trials"):
        op.execute(_KEEP_OUTCOMES)
    if op.get_bind().dialect.name == "sqlite":
        _remake(_result_table(with_status=False), {})
        return
    op.drop_index("ix_trial_result_rank", table_name=TABLE)
    op.drop_column(TABLE, "status")
    op.create_index("ix_trial_result_rank", TABLE, ["study_id", "val_accuracy"])


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _remake(_result_table(with_status=True), {"status": "'failed'"})
    else:
        op.drop_index("ix_trial_result_rank", table_name=TABLE)
        status = sa.Column("status", sa.String(16), nullable=False, server_default="failed")
        op.add_column(TABLE, status)
        op.alter_column(TABLE, "status", server_default=None)
        op.create_index("ix_trial_result_rank", TABLE, ["study_id", "status", "val_accuracy"])
    if sa.inspect(op.get_bind()).has_table("trials"):  # else no trial can have a result
        op.execute(_COPY_STATUS)

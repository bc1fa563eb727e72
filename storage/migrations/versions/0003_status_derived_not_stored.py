"""Schema 3: a trial's status is derived from Optuna's state and its outcome, not stored.

Schema 2 kept ``sweeps_trial_result.status`` beside the two things it copied: Optuna's state
of the trial and the outcome the worker records with it (the ``status`` user attribute, which
every release wrote). The queries now derive it from those (storage.trial_status), so the copy
and the index that ranked by it go. A finished trial whose outcome was never recorded as an
attribute first gets it from the copy, so no store loses a word of what it said.

SQLite drops a column by copying the table (Alembic's batch mode); PostgreSQL in place.

Revision ID: 3
Revises: 2
Create Date: 2026-12-09
"""

import sqlalchemy as sa
from alembic import op

revision = "3"
down_revision = "2"
branch_labels = None
depends_on = None

TABLE = "sweeps_trial_result"
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


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table("trials"):
        op.execute(_KEEP_OUTCOMES)
    with op.batch_alter_table(TABLE) as batch:
        batch.drop_index("ix_trial_result_rank")
        batch.drop_column("status")
        batch.create_index("ix_trial_result_rank", ["study_id", "val_accuracy"])


def downgrade() -> None:
    with op.batch_alter_table(TABLE) as batch:
        batch.drop_index("ix_trial_result_rank")
        batch.add_column(sa.Column("status", sa.String(16)))
    op.execute(_COPY_STATUS)
    with op.batch_alter_table(TABLE) as batch:
        batch.alter_column("status", existing_type=sa.String(16), nullable=False)
        batch.create_index("ix_trial_result_rank", ["study_id", "status", "val_accuracy"])

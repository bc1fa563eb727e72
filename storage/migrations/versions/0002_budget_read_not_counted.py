"""Schema 2: the sweep row no longer counts the budget's claimed slots.

Schema 1 kept ``sweeps_sweep.claimed``, a counter of the trials finished or in flight, beside
the two things it counted (Optuna's finished trials, the claims workers hold); a repair,
``reconcile_claims``, reset it whenever they drifted apart. A claim now reads them directly
(storage.records.claim_trial), so the counter and its range check go.

SQLite cannot drop a column that a CHECK constraint names: the table is made again, as
storage.tables makes it, and its rows copied (Alembic's batch mode would leave a renamed
table's DDL behind it, no longer the DDL that a new store has). PostgreSQL drops both in place.

Revision ID: 2
Revises: 1
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "2"
down_revision = "1"
branch_labels = None
depends_on = None

TABLE = "sweeps_sweep"
OLD = "_sweeps_sweep_schema_1"
KEPT = ("study_id", "study_name", "config_json", "budget", "created_at")


def _sweep_table(*, with_claimed: bool) -> sa.Table:
    """The sweep table of schema 2 (as storage.tables declares it), or of schema 1."""
    columns = [
        sa.Column("study_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("study_name", sa.String(512), nullable=False, unique=True),
        sa.Column("config_json", sa.Text, nullable=False),
        sa.Column("budget", sa.Integer, nullable=False),
    ]
    checks = [sa.CheckConstraint("budget > 0", name="ck_sweep_budget_positive")]
    if with_claimed:
        columns.append(sa.Column("claimed", sa.Integer, nullable=False))
        checks.append(
            sa.CheckConstraint("claimed >= 0 AND claimed <= budget", name="ck_sweep_claimed_range")
        )
    columns.append(sa.Column("created_at", sa.DateTime, nullable=False))
    return sa.Table(TABLE, sa.MetaData(), *columns, *checks)


def _remake(new: sa.Table, copied: str) -> None:
    """SQLite: move the table aside, make ``new`` under its name, copy ``copied`` over."""
    op.rename_table(TABLE, OLD)
    new.create(op.get_bind())
    names = ", ".join(c.name for c in new.columns)
    op.execute(f"INSERT INTO {TABLE} ({names}) SELECT {copied} FROM {OLD}")
    op.drop_table(OLD)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _remake(_sweep_table(with_claimed=False), ", ".join(KEPT))
        return
    op.drop_constraint("ck_sweep_claimed_range", TABLE, type_="check")
    op.drop_column(TABLE, "claimed")


def downgrade() -> None:
    # The count starts at 0: schema 1's dispatcher recounts it (reconcile_claims) on start.
    if op.get_bind().dialect.name == "sqlite":
        _remake(_sweep_table(with_claimed=True), ", ".join((*KEPT[:4], "0", KEPT[4])))
        return
    op.add_column(TABLE, sa.Column("claimed", sa.Integer, nullable=False, server_default="0"))
    op.alter_column(TABLE, "claimed", server_default=None)
    op.create_check_constraint(
        "ck_sweep_claimed_range", TABLE, "claimed >= 0 AND claimed <= budget"
    )

"""Schema 1: our tables as the releases before schema versioning made them.

Its upgrade creates whichever of these tables a store lacks, with their indexes, and touches
none it has: a store of those releases holds the tables of its first run, and the later ones
(evaluations, ensembles, refits) only once they were first written. So upgrading such a store
from no version through this revision brings it to schema 1 without copying a row.

The tables are written out here, not taken from storage.tables, which moves on with later
revisions. Their float columns are Double, as SQLAlchemy 2.1 maps ``Mapped[float]`` (DOUBLE on
SQLite, DOUBLE PRECISION on PostgreSQL).

Revision ID: 1
Revises:
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "1"
down_revision = None
branch_labels = None
depends_on = None

_tables = sa.MetaData()

sa.Table(
    "sweeps_sweep",
    _tables,
    sa.Column("study_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("study_name", sa.String(512), nullable=False, unique=True),
    sa.Column("config_json", sa.Text, nullable=False),
    sa.Column("budget", sa.Integer, nullable=False),
    sa.Column("claimed", sa.Integer, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.CheckConstraint("budget > 0", name="ck_sweep_budget_positive"),
    sa.CheckConstraint("claimed >= 0 AND claimed <= budget", name="ck_sweep_claimed_range"),
)
sa.Table(
    "sweeps_trial_result",
    _tables,
    sa.Column("trial_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("study_id", sa.Integer, nullable=False, index=True),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
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
    sa.Index("ix_trial_result_rank", "study_id", "status", "val_accuracy"),
    sa.Index("ix_trial_result_number", "study_id", "number", unique=True),
)
sa.Table(
    "sweeps_epoch_metric",
    _tables,
    sa.Column("trial_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("epoch", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("loss", sa.Double),
    sa.Column("accuracy", sa.Double),
    sa.Column("val_loss", sa.Double),
    sa.Column("val_accuracy", sa.Double),
    sa.Column("learning_rate", sa.Double),
    sa.Column("seconds", sa.Double),
    sa.Column("images_per_second", sa.Double),
    sa.Column("restored", sa.Boolean, nullable=False),
)
sa.Table(
    "sweeps_worker",
    _tables,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("study_id", sa.Integer, nullable=False),
    sa.Column("host", sa.String(256), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("device", sa.String(64), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("holds_claim", sa.Boolean, nullable=False),
    sa.Column("trial_id", sa.Integer),
    sa.Column("trial_number", sa.Integer),
    sa.Column("epoch", sa.Integer),
    sa.Column("trials_done", sa.Integer, nullable=False),
    sa.Column("started_at", sa.DateTime, nullable=False),
    sa.Column("last_seen", sa.DateTime, nullable=False),
    sa.Index("ix_worker_study_state", "study_id", "state"),
)
sa.Table(
    "sweeps_evaluation",
    _tables,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("study_id", sa.Integer, nullable=False, index=True),
    sa.Column("trial_id", sa.Integer, nullable=False),
    sa.Column("split", sa.String(8), nullable=False),
    sa.Column("images", sa.Integer, nullable=False),
    sa.Column("accuracy", sa.Double, nullable=False),
    sa.Column("confusion_json", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.UniqueConstraint("trial_id", "split", name="uq_evaluation_trial_split"),
    sa.CheckConstraint("split IN ('val', 'test')", name="ck_evaluation_split"),
)
sa.Table(
    "sweeps_class_metric",
    _tables,
    sa.Column(
        "evaluation_id",
        sa.Integer,
        sa.ForeignKey("sweeps_evaluation.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("class_index", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("class_name", sa.String(256), nullable=False),
    sa.Column("support", sa.Integer, nullable=False),
    sa.Column("correct", sa.Integer, nullable=False),
    sa.Column("precision", sa.Double, nullable=False),
    sa.Column("recall", sa.Double, nullable=False),
)
sa.Table(
    "sweeps_ensemble",
    _tables,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("study_id", sa.Integer, nullable=False, index=True),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("val_accuracy", sa.Double, nullable=False),
    sa.Column("test_accuracy", sa.Double, nullable=False),
    sa.Column("model_path", sa.Text),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.UniqueConstraint("study_id", "size", name="uq_ensemble_study_size"),
    sa.CheckConstraint("size > 0", name="ck_ensemble_size_positive"),
)
sa.Table(
    "sweeps_ensemble_member",
    _tables,
    sa.Column(
        "ensemble_id",
        sa.Integer,
        sa.ForeignKey("sweeps_ensemble.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("rank", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("trial_id", sa.Integer, nullable=False),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("val_accuracy", sa.Double),
    sa.Column("test_accuracy", sa.Double),
)
sa.Table(
    "sweeps_refit",
    _tables,
    sa.Column("trial_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("study_id", sa.Integer, nullable=False, index=True),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("epochs", sa.Integer, nullable=False),
    sa.Column("train_images", sa.Integer, nullable=False),
    sa.Column("test_accuracy", sa.Double, nullable=False),
    sa.Column("test_loss", sa.Double, nullable=False),
    sa.Column("seconds", sa.Double, nullable=False),
    sa.Column("model_path", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
)


def upgrade() -> None:
    _tables.create_all(op.get_bind(), checkfirst=True)


def downgrade() -> None:
    _tables.drop_all(op.get_bind())

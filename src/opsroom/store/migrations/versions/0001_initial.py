"""core tables: runs, audit_log, locks, processed_events

Revision ID: 0001_initial
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("command", sa.String(100), nullable=False),
        sa.Column("args", sa.JSON, nullable=False),
        sa.Column("raw_text", sa.Text, nullable=False),
        sa.Column("user", sa.String(200), nullable=False),
        sa.Column("platform", sa.String(50), nullable=False),
        sa.Column("channel", sa.String(200), nullable=False),
        sa.Column("channel_name", sa.String(200), nullable=False),
        sa.Column("thread", sa.String(200)),
        sa.Column("state", sa.String(30), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("lock_key", sa.String(300)),
        sa.Column("dry_run", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("exit_code", sa.Integer),
        sa.Column("result", sa.Text, nullable=False),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("output", sa.Text, nullable=False),
        sa.Column("output_truncated", sa.Boolean, nullable=False),
        sa.Column("progress_message_id", sa.String(200)),
        sa.Column("timeout", sa.Float, nullable=False),
        sa.Column("extra", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runs")),
    )
    op.create_index("ix_runs_state", "runs", ["state"])
    op.create_index("ix_runs_created_at", "runs", ["created_at"])
    op.create_table(
        "audit_log",
        sa.Column("id", Id, autoincrement=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(60), nullable=False),
        sa.Column("command", sa.String(100), nullable=False),
        sa.Column("platform", sa.String(50), nullable=False),
        sa.Column("channel", sa.String(200), nullable=False),
        sa.Column("run_id", sa.BigInteger),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index("ix_audit_log_ts", "audit_log", ["ts"])
    op.create_index("ix_audit_log_run_id", "audit_log", ["run_id"])
    op.create_index("ix_audit_log_actor", "audit_log", ["actor"])
    op.create_index("ix_audit_log_command", "audit_log", ["command"])
    op.create_table(
        "locks",
        sa.Column("key", sa.String(300)),
        sa.Column("run_id", sa.BigInteger),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_locks")),
    )
    op.create_table(
        "processed_events",
        sa.Column("event_id", sa.String(200)),
        sa.Column("platform", sa.String(50), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_processed_events")),
    )


def downgrade() -> None:
    for name in ("processed_events", "locks", "audit_log", "runs"):
        op.drop_table(name)

"""incidents 2: the war room's channel name on incidents; runbook runs and their steps; web
chat channels created at run time (war rooms)

Revision ID: 0007_incidents2
Revises: 0006_incidents
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_incidents2"
down_revision = "0006_incidents"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("channel_name", sa.String(200), nullable=False, server_default=""))
    op.create_table(
        "runbook_runs",
        sa.Column("id", Id, autoincrement=True),
        sa.Column("runbook", sa.String(120), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("inputs", sa.JSON, nullable=False),
        sa.Column("started_by", sa.String(200), nullable=False),
        sa.Column("incident_id", sa.BigInteger),
        sa.Column("platform", sa.String(40), nullable=False),
        sa.Column("channel", sa.String(200), nullable=False),
        sa.Column("channel_name", sa.String(200), nullable=False),
        sa.Column("thread", sa.String(200)),
        sa.Column("card", sa.String(200)),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("ended_at", TS),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runbook_runs")),
    )
    op.create_index("ix_runbook_runs_state", "runbook_runs", ["state"])
    op.create_table(
        "runbook_steps",
        sa.Column("run_id", Id, nullable=False),
        sa.Column("step", sa.String(40), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("command_run", sa.BigInteger),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("started_at", TS),
        sa.Column("ended_at", TS),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runbook_runs.id"], ondelete="CASCADE", name=op.f("fk_runbook_steps_run_id_runbook_runs")
        ),
        sa.PrimaryKeyConstraint("run_id", "step", name=op.f("pk_runbook_steps")),
    )
    op.create_table(
        "webchat_channels",
        sa.Column("id", sa.String(200), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("members", sa.JSON, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("archived_at", TS),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webchat_channels")),
    )


def downgrade() -> None:
    op.drop_table("webchat_channels")
    op.drop_table("runbook_steps")
    op.drop_index("ix_runbook_runs_state", table_name="runbook_runs")
    op.drop_table("runbook_runs")
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("channel_name")

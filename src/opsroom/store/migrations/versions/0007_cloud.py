"""cloud: cloud_key_deletions (old access keys opsroom deletes after their grace period)

Revision ID: 0007_cloud
Revises: 0001_initial
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_cloud"
down_revision = "0001_initial"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "cloud_key_deletions",
        sa.Column("id", Id, autoincrement=True),
        sa.Column("provider", sa.String(40), nullable=False),
        sa.Column("environment", sa.String(100), nullable=False),
        sa.Column("user_name", sa.String(128), nullable=False),
        sa.Column("key_id", sa.String(128), nullable=False),
        sa.Column("new_key_id", sa.String(128), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_id", Id),
        sa.Column("requested_by", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True)),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cloud_key_deletions")),
    )
    op.create_index("ix_cloud_key_deletions_state_due", "cloud_key_deletions", ["state", "due_at"])


def downgrade() -> None:
    op.drop_index("ix_cloud_key_deletions_state_due", table_name="cloud_key_deletions")
    op.drop_table("cloud_key_deletions")

"""cluster: chat pacing shared by replicas

Revision ID: 0008_cluster_pace
Revises: 0001_initial
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_cluster_pace"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chat_pace",
        sa.Column("key", sa.String(300), nullable=False),
        sa.Column("next_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_chat_pace")),
    )


def downgrade() -> None:
    op.drop_table("chat_pace")

"""desk: desk_questions, desk_ai_usage

Revision ID: 0007_desk
Revises: 0001_initial
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_desk"
down_revision = "0001_initial"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "desk_questions",
        sa.Column("id", Id, autoincrement=True),
        sa.Column("asker", sa.String(200), nullable=False),
        sa.Column("platform", sa.String(40), nullable=False),
        sa.Column("channel", sa.String(200), nullable=False),
        sa.Column("channel_id", sa.String(200), nullable=False),
        sa.Column("thread", sa.String(200)),
        sa.Column("message_id", sa.String(200)),
        sa.Column("question", sa.Text, nullable=False),
        sa.Column("suggestions", sa.JSON, nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("ticket", sa.String(120)),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("settled_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_desk_questions")),
    )
    op.create_index("ix_desk_questions_asked_at", "desk_questions", ["asked_at"])
    op.create_table(
        "desk_ai_usage",
        sa.Column("user", sa.String(200), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("tokens", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("user", "day", name=op.f("pk_desk_ai_usage")),
    )


def downgrade() -> None:
    op.drop_table("desk_ai_usage")
    op.drop_index("ix_desk_questions_asked_at", table_name="desk_questions")
    op.drop_table("desk_questions")

"""built-in ticket store: tickets, ticket_comments

Revision ID: 0004_tickets
Revises: 0001_initial
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_tickets"
down_revision = "0001_initial"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "tickets",
        sa.Column("id", Id, autoincrement=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("priority", sa.String(5), nullable=False),
        sa.Column("opened_by", sa.String(200), nullable=False),
        sa.Column("thread_link", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True)),
        sa.Column("closed_by", sa.String(200)),
        sa.Column("resolution", sa.Text, nullable=False),
        sa.Column("approval", sa.String(20), nullable=False),
        sa.Column("approved_by", sa.String(200)),
        sa.Column("window_start", sa.DateTime(timezone=True)),
        sa.Column("window_end", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tickets")),
    )
    op.create_index("ix_tickets_status", "tickets", ["status"])
    op.create_table(
        "ticket_comments",
        sa.Column("id", Id, autoincrement=True),
        sa.Column("ticket_id", Id, nullable=False),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_comments")),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            ondelete="CASCADE",
            name=op.f("fk_ticket_comments_ticket_id_tickets"),
        ),
    )
    op.create_index("ix_ticket_comments_ticket_id", "ticket_comments", ["ticket_id"])


def downgrade() -> None:
    op.drop_table("ticket_comments")
    op.drop_table("tickets")

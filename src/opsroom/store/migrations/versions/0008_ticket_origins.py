"""tickets: ticket_origins (what opened each ticket, for the console's ticket pages)

Revision ID: 0008_ticket_origins
Revises: 0004_tickets
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_ticket_origins"
down_revision = "0004_tickets"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "ticket_origins",
        sa.Column("id", Id, autoincrement=True),
        sa.Column("provider", sa.String(100), nullable=False),
        sa.Column("ticket_id", sa.String(120), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("opened_by", sa.String(200), nullable=False),
        sa.Column("origin", sa.String(20), nullable=False),
        sa.Column("origin_id", sa.String(40), nullable=False),
        sa.Column("channel_name", sa.String(200), nullable=False),
        sa.Column("thread_link", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_origins")),
    )
    op.create_index("ix_ticket_origins_ticket", "ticket_origins", ["provider", "ticket_id"])
    op.create_index("ix_ticket_origins_origin", "ticket_origins", ["origin", "origin_id"])


def downgrade() -> None:
    op.drop_table("ticket_origins")

"""guardrails: guard_holds, approval_votes, freezes

Revision ID: 0002_guardrails
Revises: 0001_initial
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_guardrails"
down_revision = "0001_initial"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "guard_holds",
        sa.Column("run_id", Id, nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("requester", sa.String(200), nullable=False),
        sa.Column("requirements", sa.JSON, nullable=False),
        sa.Column("flags", sa.JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("decided_at", TS),
        sa.Column("decided_by", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "kind", name=op.f("pk_guard_holds")),
    )
    op.create_index("ix_guard_holds_state", "guard_holds", ["state"])
    op.create_table(
        "approval_votes",
        sa.Column("id", Id, autoincrement=True),
        sa.Column("run_id", Id, nullable=False),
        sa.Column("voter", sa.String(200), nullable=False),
        sa.Column("vote", sa.String(10), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approval_votes")),
        sa.UniqueConstraint("run_id", "voter", name="uq_approval_votes_run_voter"),
    )
    op.create_table(
        "freezes",
        sa.Column("id", Id, autoincrement=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("commands", sa.JSON, nullable=False),
        sa.Column("starts_at", TS, nullable=False),
        sa.Column("ends_at", TS, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("lifted_at", TS),
        sa.Column("lifted_by", sa.String(200)),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_freezes")),
    )
    op.create_index("ix_freezes_ends_at", "freezes", ["ends_at"])


def downgrade() -> None:
    op.drop_table("freezes")
    op.drop_table("approval_votes")
    op.drop_index("ix_guard_holds_state", table_name="guard_holds")
    op.drop_table("guard_holds")

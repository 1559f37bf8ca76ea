"""webchat: index webchat_messages.thread (the thread pane and reply counts read by it)

Revision ID: 0007_webchat
Revises: 0005_webchat
"""

from alembic import op

revision = "0007_webchat"
down_revision = "0005_webchat"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_webchat_messages_thread", "webchat_messages", ["thread"])


def downgrade() -> None:
    op.drop_index("ix_webchat_messages_thread", table_name="webchat_messages")

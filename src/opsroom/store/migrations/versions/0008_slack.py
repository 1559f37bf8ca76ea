"""slack: slack_installations, slack_oauth_states (multi-workspace OAuth install)

Revision ID: 0008_slack
Revises: 0001_initial
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_slack"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "slack_installations",
        sa.Column("team_id", sa.String(40), nullable=False),
        sa.Column("team_name", sa.String(200), nullable=False),
        sa.Column("enterprise_id", sa.String(40), nullable=False),
        sa.Column("app_id", sa.String(40), nullable=False),
        sa.Column("bot_id", sa.String(40), nullable=False),
        sa.Column("bot_user_id", sa.String(40), nullable=False),
        sa.Column("bot_scopes", sa.Text, nullable=False),
        sa.Column("bot_token", sa.Text, nullable=False),
        sa.Column("bot_refresh_token", sa.Text, nullable=False),
        sa.Column("bot_token_expires_at", sa.DateTime(timezone=True)),
        sa.Column("installer_user_id", sa.String(40), nullable=False),
        sa.Column("is_enterprise_install", sa.Boolean, nullable=False),
        sa.Column("installed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("team_id", name=op.f("pk_slack_installations")),
    )
    op.create_table(
        "slack_oauth_states",
        sa.Column("state", sa.String(100), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("state", name=op.f("pk_slack_oauth_states")),
    )


def downgrade() -> None:
    op.drop_table("slack_oauth_states")
    op.drop_table("slack_installations")

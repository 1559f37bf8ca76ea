"""alerts: drop ix_alerts_fingerprint

Nothing looks an alert up by its fingerprint alone (intake finds stored alerts by the
unique (group_id, fingerprint) pair), and every new alert put an entry at a random place in
this index: a hundred more pages written to the WAL per intake batch (docs/performance.md).

Revision ID: 0009_alerts_intake
Revises: 0003_alerts
"""

from alembic import op

revision = "0009_alerts_intake"
down_revision = "0003_alerts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_alerts_fingerprint", table_name="alerts")


def downgrade() -> None:
    op.create_index("ix_alerts_fingerprint", "alerts", ["fingerprint"])

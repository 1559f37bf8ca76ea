"""alerts and on-call: alert_groups, alerts, alert_events, alert_silences, alert_digests,
oncall_overrides

Revision ID: 0003_alerts
Revises: 0001_initial
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_alerts"
down_revision = "0001_initial"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "alert_groups",
        sa.Column("id", Id, autoincrement=True),
        sa.Column("open_key", sa.String(64)),
        sa.Column("group_key", sa.String(64), nullable=False),
        sa.Column("route", sa.String(200), nullable=False),
        sa.Column("platform", sa.String(50), nullable=False),
        sa.Column("channel", sa.String(200), nullable=False),
        sa.Column("channel_name", sa.String(200), nullable=False),
        sa.Column("labels", sa.JSON, nullable=False),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("source_type", sa.String(30), nullable=False),
        sa.Column("external_url", sa.String(2000), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("severity", sa.String(50), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("delivery", sa.String(20), nullable=False),
        sa.Column("message_id", sa.String(200)),
        sa.Column("thread", sa.String(200)),
        sa.Column("digest_id", Id),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("dirty", sa.Boolean, nullable=False),
        sa.Column("flapping", sa.Boolean, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("first_notified_at", TS),
        sa.Column("last_notified_at", TS),
        sa.Column("next_due_at", TS),
        sa.Column("acked_by", sa.String(200)),
        sa.Column("acked_at", TS),
        sa.Column("silenced_until", TS),
        sa.Column("silence_ref", sa.String(200)),
        sa.Column("escalation", sa.String(100), nullable=False),
        sa.Column("escalation_pos", sa.Integer, nullable=False),
        sa.Column("escalation_next_at", TS),
        sa.Column("digested_at", TS),
        sa.Column("closed_at", TS),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_groups")),
        sa.UniqueConstraint("open_key", name=op.f("uq_alert_groups_open_key")),
    )
    op.create_index("ix_alert_groups_next_due_at", "alert_groups", ["next_due_at"])
    op.create_index("ix_alert_groups_escalation_next_at", "alert_groups", ["escalation_next_at"])
    op.create_index("ix_alert_groups_channel_name", "alert_groups", ["channel_name"])
    op.create_index("ix_alert_groups_delivery", "alert_groups", ["delivery"])
    op.create_table(
        "alerts",
        sa.Column("id", Id, autoincrement=True),
        sa.Column("group_id", Id, nullable=False),
        sa.Column("fingerprint", sa.String(128), nullable=False),
        sa.Column("alertname", sa.String(200), nullable=False),
        sa.Column("severity", sa.String(50), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("notified_status", sa.String(20)),
        sa.Column("labels", sa.JSON, nullable=False),
        sa.Column("annotations", sa.JSON, nullable=False),
        sa.Column("starts_at", TS),
        sa.Column("ends_at", TS),
        sa.Column("generator_url", sa.Text, nullable=False),
        sa.Column("first_seen", TS, nullable=False),
        sa.Column("last_seen", TS, nullable=False),
        sa.Column("changes", sa.JSON, nullable=False),
        sa.Column("flapping", sa.Boolean, nullable=False),
        sa.Column("muted", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["alert_groups.id"],
            ondelete="CASCADE",
            name=op.f("fk_alerts_group_id_alert_groups"),
        ),
        sa.UniqueConstraint("group_id", "fingerprint", name="uq_alerts_group_fingerprint"),
    )
    op.create_index("ix_alerts_fingerprint", "alerts", ["fingerprint"])
    op.create_index("ix_alerts_flapping", "alerts", ["flapping"])
    op.create_table(
        "alert_events",
        sa.Column("id", Id, autoincrement=True),
        sa.Column("ts", TS, nullable=False),
        sa.Column("group_id", Id, nullable=False),
        sa.Column("channel_name", sa.String(200), nullable=False),
        sa.Column("alertname", sa.String(200), nullable=False),
        sa.Column("fingerprint", sa.String(128), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_events")),
    )
    op.create_index("ix_alert_events_ts", "alert_events", ["ts"])
    op.create_table(
        "alert_silences",
        sa.Column("id", Id, autoincrement=True),
        sa.Column("matchers", sa.JSON, nullable=False),
        sa.Column("starts_at", TS, nullable=False),
        sa.Column("ends_at", TS, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("group_id", Id),
        sa.Column("alertmanager_url", sa.String(2000), nullable=False),
        sa.Column("alertmanager_id", sa.String(100), nullable=False),
        sa.Column("cancelled_at", TS),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_silences")),
    )
    op.create_index("ix_alert_silences_ends_at", "alert_silences", ["ends_at"])
    op.create_table(
        "alert_digests",
        sa.Column("id", Id, autoincrement=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("platform", sa.String(50), nullable=False),
        sa.Column("channel", sa.String(200), nullable=False),
        sa.Column("channel_name", sa.String(200), nullable=False),
        sa.Column("message_id", sa.String(200)),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("dirty", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_digests")),
    )
    op.create_index("ix_alert_digests_channel_name", "alert_digests", ["channel_name"])
    op.create_table(
        "oncall_overrides",
        sa.Column("id", Id, autoincrement=True),
        sa.Column("schedule", sa.String(100), nullable=False),
        sa.Column("user", sa.String(200), nullable=False),
        sa.Column("starts_at", TS, nullable=False),
        sa.Column("ends_at", TS, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oncall_overrides")),
    )
    op.create_index("ix_oncall_overrides_schedule", "oncall_overrides", ["schedule"])


def downgrade() -> None:
    for name in (
        "oncall_overrides",
        "alert_digests",
        "alert_silences",
        "alert_events",
        "alerts",
        "alert_groups",
    ):
        op.drop_table(name)

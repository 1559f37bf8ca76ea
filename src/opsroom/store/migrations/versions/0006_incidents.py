"""incidents: incidents, incident_roles, incident_events, incident_tasks

Revision ID: 0006_incidents
Revises: 0001_initial
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_incidents"
down_revision = "0001_initial"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", Id, autoincrement=True),
        sa.Column("slug", sa.String(120), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("severity", sa.String(40), nullable=False),
        sa.Column("status", sa.String(40), nullable=False),
        sa.Column("service", sa.String(120), nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("declared_by", sa.String(200), nullable=False),
        sa.Column("platform", sa.String(40), nullable=False),
        sa.Column("channel", sa.String(200), nullable=False),
        sa.Column("thread", sa.String(200)),
        sa.Column("source_groups", sa.JSON, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("declared_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True)),
        sa.Column("mitigated_at", sa.DateTime(timezone=True)),
        sa.Column("resolved_at", sa.DateTime(timezone=True)),
        sa.Column("closed_at", sa.DateTime(timezone=True)),
        sa.Column("postmortem", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incidents")),
        sa.UniqueConstraint("slug", name=op.f("uq_incidents_slug")),
    )
    op.create_index("ix_incidents_status", "incidents", ["status"])
    op.create_table(
        "incident_roles",
        sa.Column("incident_id", Id, nullable=False),
        sa.Column("role", sa.String(60), nullable=False),
        sa.Column("person", sa.String(200), nullable=False),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], ondelete="CASCADE", name=op.f("fk_incident_roles_incident_id_incidents")
        ),
        sa.PrimaryKeyConstraint("incident_id", "role", name=op.f("pk_incident_roles")),
    )
    op.create_table(
        "incident_events",
        sa.Column("id", Id, autoincrement=True),
        sa.Column("incident_id", Id, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("audit_id", sa.BigInteger),
        sa.Column("source", sa.String(300), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], ondelete="CASCADE", name=op.f("fk_incident_events_incident_id_incidents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_events")),
        sa.UniqueConstraint("incident_id", "source", name="uq_incident_events_source"),
    )
    op.create_index("ix_incident_events_incident_at", "incident_events", ["incident_id", "at"])
    op.create_table(
        "incident_tasks",
        sa.Column("id", Id, autoincrement=True),
        sa.Column("incident_id", Id, nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True)),
        sa.Column("done_at", sa.DateTime(timezone=True)),
        sa.Column("ticket", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], ondelete="CASCADE", name=op.f("fk_incident_tasks_incident_id_incidents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_tasks")),
    )


def downgrade() -> None:
    op.drop_table("incident_tasks")
    op.drop_table("incident_events")
    op.drop_table("incident_roles")
    op.drop_table("incidents")

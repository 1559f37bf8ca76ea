"""Imports every module that defines tables on the shared metadata, so ``create_all`` and
Alembic's autogenerate see all of them. Add one import line per module that owns tables."""

from opsroom.alerts import tables as alert_tables  # noqa: F401
from opsroom.chat.slack import tables as slack_tables  # noqa: F401
from opsroom.chat.web import tables as webchat_tables  # noqa: F401
from opsroom.cluster import tables as cluster_tables  # noqa: F401
from opsroom.desk import tables as desk_tables  # noqa: F401
from opsroom.guardrails import tables as guardrail_tables  # noqa: F401
from opsroom.incidents import tables as incident_tables  # noqa: F401
from opsroom.integrations.cloud import tables as cloud_tables  # noqa: F401
from opsroom.integrations.tickets import tables as ticket_tables  # noqa: F401
from opsroom.runbooks import tables as runbook_tables  # noqa: F401
from opsroom.store import tables  # noqa: F401

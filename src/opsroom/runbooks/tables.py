"""Tables of runbook runs (migration 0007_incidents2): one row per run of a runbook, with the
file's content hash pinned, and one row per step with its state, who moved it and when.

Everything a run needs to go on lives here, so a restart picks each run up where it was: a
step waiting for a click keeps waiting, a step whose command was running learns how that
command's run ended from the ``runs`` table."""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, ForeignKey, Index, Integer, String, Table, Text

from opsroom.store.tables import Id, metadata
from opsroom.store.types import UTCDateTime

runbook_runs = Table(
    "runbook_runs",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("runbook", String(120), nullable=False),
    Column("title", String(300), nullable=False),
    Column("digest", String(64), nullable=False),  # sha256 of the file followed
    Column("inputs", JSON, nullable=False),
    Column("started_by", String(200), nullable=False),
    Column("incident_id", BigInteger),  # the incident it ran for, when started in a war room
    Column("platform", String(40), nullable=False),
    Column("channel", String(200), nullable=False),
    Column("channel_name", String(200), nullable=False, default=""),
    Column("thread", String(200)),
    Column("card", String(200)),  # the checklist message, edited in place
    Column("state", String(20), nullable=False),  # active | succeeded | failed | cancelled
    Column("created_at", UTCDateTime(), nullable=False),
    Column("ended_at", UTCDateTime()),
    Index("ix_runbook_runs_state", "state"),
)

runbook_steps = Table(
    "runbook_steps",
    metadata,
    Column("run_id", Id, ForeignKey("runbook_runs.id", ondelete="CASCADE"), primary_key=True),
    Column("step", String(40), primary_key=True),
    Column("position", Integer, nullable=False),
    Column("state", String(20), nullable=False),  # pending | waiting | running | ok | failed | skipped
    Column("actor", String(200), nullable=False, default=""),
    Column("command_run", BigInteger),  # the run of the step's command (runs.id)
    Column("note", Text, nullable=False, default=""),
    Column("started_at", UTCDateTime()),
    Column("ended_at", UTCDateTime()),
)

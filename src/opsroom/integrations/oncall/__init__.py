"""On-call: schedules (rotations, layers, overrides, iCal imports) and escalation chains."""

from opsroom.integrations.oncall.escalation import EscalationPolicy, Step
from opsroom.integrations.oncall.oncall import OnCall
from opsroom.integrations.oncall.schedule import IntervalLayer, Override, Rotation, Schedule, Shift

__all__ = ["EscalationPolicy", "IntervalLayer", "OnCall", "Override", "Rotation", "Schedule", "Shift", "Step"]

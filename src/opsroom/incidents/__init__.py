"""Incidents: declared, led, worked in a war room, time-lined from the audit, written up."""

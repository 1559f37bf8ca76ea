"""Alerts: intake, grouping, routing, notifications (docs/alerts.md)."""

from opsroom.lean_imports import defer_submodule

# before the fast path imports msgspec: its type-introspection module, which only its JSON
# schema generation uses, runs on first use (see opsroom.lean_imports)
defer_submodule("msgspec", "inspect")

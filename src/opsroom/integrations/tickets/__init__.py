"""Ticketing: one protocol (``base.TicketProvider``), the built-in store, Jira, ServiceNow
and GitHub Issues behind it, hooks that open tickets on their own, change review, and the
``/ticket`` commands."""

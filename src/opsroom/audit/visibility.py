"""Who may see which audit entries: the audit follows chat visibility.

An entry is visible to a person when

- it happened in a channel they can read: a configured channel whose ``members`` admit
  them (an empty list admits every configured user), or a channel opsroom has no
  membership list for (the platform decides who is there; configured users see it),
- or they did it themselves (their DMs with the bot, the console, their sign-ins),
- or it belongs to a run they started (the run's later steps, approvals of it by others),

unless policy grants them the ``audit-all`` permission (auditors), who see everything.
Someone else's DMs (channel ``dm``), the console and rows with no channel (sign-ins, config
reloads) are never visible through a channel.

Every surface (chat ``/audit``, the console, ``GET /api/audit``, the API export) asks
``scope_for`` once per request and passes the scope to ``AuditLog.search`` / ``export``,
which add ``AuditScope.clause()`` to the SQL. ``opsroom audit`` on the server's command line
passes no scope and stays complete; the hash chain and ``verify`` never look at scopes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, func, or_, select

from opsroom.audit.chain import AuditEntry
from opsroom.core import Place, Principal
from opsroom.store.tables import audit_log, runs

AUDIT_ALL = "audit-all"  # the policy permission of auditors (docs/audit.md)
PRIVATE_CHANNELS = ("", "dm")  # no channel, or a direct message / the console


def channel_key(name: str) -> str:
    """``#Ops``, ``ops`` and ``#ops`` name one channel."""
    return name.strip().lstrip("#").lower()


def _spellings(keys: Iterable[str]) -> list[str]:
    """Both ways a channel may be stored (``#ops`` and ``ops``), lowercase, for ``lower(channel) IN``."""
    return sorted({k for key in keys for k in (key, "#" + key)})


def _admits(members: Iterable[str], principal: Principal) -> bool:
    """A channel's ``members`` list: empty admits every configured user."""
    members = list(members)
    if not members:
        return principal.known
    return principal.name in members or any(m.startswith("role:") and m[5:] in principal.roles for m in members)


@dataclass(frozen=True)
class AuditScope:
    """What one person may see of the audit log. ``everything`` for auditors."""

    actor: str
    everything: bool = False
    readable: frozenset[str] = frozenset()  # channel keys of configured channels they belong to
    configured: frozenset[str] = frozenset()  # channel keys of every configured channel
    unlisted_readable: bool = False  # channels with no membership list: configured users read them

    @staticmethod
    def all(actor: str = "") -> AuditScope:
        return AuditScope(actor, everything=True)

    def may_read_channel(self, channel: str) -> bool:
        """Could this person read the chat channel an entry names (not a DM, not empty)?"""
        if self.everything:
            return True
        if channel in PRIVATE_CHANNELS:
            return False
        key = channel_key(channel)
        if key in self.readable:
            return True
        return self.unlisted_readable and key not in self.configured

    def admits(self, entry: AuditEntry, run_owner: str | None = None) -> bool:
        """The same rule as ``clause()``, for one entry in hand (``run_owner``: who started
        the entry's run, when known)."""
        return (
            self.everything
            or entry.actor == self.actor
            or self.may_read_channel(entry.channel)
            or (run_owner is not None and run_owner == self.actor)
        )

    def clause(self) -> ColumnElement[bool] | None:
        """The SQL condition for ``audit_log`` rows this person may see; None = no limit."""
        if self.everything:
            return None
        t = audit_log.c
        channel = func.lower(t.channel)
        options: list[ColumnElement[bool]] = [t.actor == self.actor]
        if self.readable:
            options.append(channel.in_(_spellings(self.readable)))
        if self.unlisted_readable:
            options.append(channel.not_in(_spellings(self.configured) + list(PRIVATE_CHANNELS)))
        # A run's own steps: checked per candidate row by primary key, only for rows the
        # cheaper tests above did not admit.
        options.append(
            and_(
                t.run_id.is_not(None),
                exists(select(runs.c.id).where(runs.c.id == t.run_id, runs.c.user == self.actor)),
            )
        )
        return or_(*options)


def scope_for(
    principal: Principal,
    channels: Iterable[Any],
    policy: Any,
    place: Place | None = None,
) -> AuditScope:
    """The audit scope of ``principal``, from the configured ``channels`` (ChannelConfig:
    name, members) and ``policy`` (``audit-all`` granted here means everything)."""
    where = place or Place("web", "console", is_direct=True)
    # With no policy configured everything is allowed, audit-all included; seeing every
    # channel's audit must be granted on purpose, so it needs a configured policy.
    if getattr(policy, "configured", True) and policy.decide(principal, AUDIT_ALL, {}, where).allowed:
        return AuditScope.all(principal.name)
    configured: set[str] = set()
    readable: set[str] = set()
    for channel in channels:
        key = channel_key(channel.name)
        configured.add(key)
        if _admits(channel.members, principal):
            readable.add(key)
    return AuditScope(
        principal.name,
        readable=frozenset(readable),
        configured=frozenset(configured),
        unlisted_readable=principal.known,
    )

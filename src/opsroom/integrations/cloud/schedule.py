"""Scheduled deletion of old access keys: written before the old key is deactivated, carried
out by a sweeper after the grace period, audited at both ends. It lives in opsroom's own
database, so a restart loses nothing: the sweeper picks up whatever is due.

Before deleting, the sweeper asks the provider again: a key someone re-activated during the
grace period (a consumer still needed it) is not deleted; the row is cancelled, and audited.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
import structlog

from opsroom.integrations.cloud.base import CloudError, CloudProvider
from opsroom.integrations.cloud.tables import key_deletions
from opsroom.store.types import utcnow

if TYPE_CHECKING:
    from opsroom.audit import AuditLog
    from opsroom.store import Database

log = structlog.get_logger("opsroom.cloud.keys")
EXTRA = "cloud.key_deletions"  # the key of the KeyDeletions helper in Services.extras
ACTOR = "opsroom"


def short(key_id: str) -> str:
    """How a key is named in chat and the audit: its last four characters (the redactor masks
    whole access key ids anyway)."""
    return f"…{key_id[-4:]}" if len(key_id) > 4 else key_id


@dataclass(frozen=True)
class Scheduled:
    id: int
    provider: str
    environment: str
    user: str
    key_id: str
    due_at: datetime
    state: str
    attempts: int
    last_error: str


class KeyDeletions:
    """The rows and their audit entries; the runner schedules, the sweeper completes."""

    def __init__(self, db: Database, audit: AuditLog, providers: Callable[[str, str], CloudProvider]) -> None:
        self.db = db
        self.audit = audit
        self.providers = providers  # (provider, environment) -> a provider

    def schedule(
        self,
        *,
        provider: str,
        environment: str,
        user: str,
        key_id: str,
        new_key_id: str,
        grace: timedelta,
        run_id: int | None,
        requested_by: str,
    ) -> Scheduled:
        now = utcnow()
        due = now + grace
        with self.db.begin() as conn:
            row_id: Any = conn.execute(
                key_deletions.insert().values(
                    provider=provider,
                    environment=environment,
                    user_name=user,
                    key_id=key_id,
                    new_key_id=new_key_id,
                    state="scheduled",
                    due_at=due,
                    run_id=run_id,
                    requested_by=requested_by,
                    created_at=now,
                    attempts=0,
                    last_error="",
                )
            ).inserted_primary_key
            row_id = row_id[0] if row_id is not None else None
            self.audit.append(
                conn,
                actor=requested_by,
                action="cloud.key_deletion_scheduled",
                run_id=run_id,
                summary=f"old key {short(key_id)} of {user} ({environment}) to be deleted at {due:%Y-%m-%d %H:%M} UTC",
                detail={
                    "provider": provider,
                    "environment": environment,
                    "user": user,
                    "key": short(key_id),
                    "due_at": due.isoformat(),
                    "deletion": row_id,
                },
            )
        return Scheduled(int(row_id), provider, environment, user, key_id, due, "scheduled", 0, "")

    def cancel(self, item: Scheduled, reason: str, actor: str = ACTOR) -> None:
        self._finish(
            item,
            "cancelled",
            f"deletion of {short(item.key_id)} of {item.user} cancelled: {reason}",
            "cloud.key_deletion_cancelled",
            actor,
        )

    def pending(self) -> list[Scheduled]:
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(key_deletions).where(key_deletions.c.state == "scheduled").order_by(key_deletions.c.due_at)
            ).all()
        return [_scheduled(r) for r in rows]

    def due(self, now: datetime | None = None) -> list[Scheduled]:
        return [s for s in self.pending() if s.due_at <= (now or utcnow())]

    async def sweep(self, now: datetime | None = None) -> int:
        """Delete every old key that is due; returns how many were deleted."""
        deleted = 0
        for item in self.due(now):
            try:
                provider = self.providers(item.provider, item.environment)
                keys = {k.key_id: k for k in await provider.access_keys(item.user)}
                key = keys.get(item.key_id)
                if key is None:
                    self._finish(
                        item,
                        "deleted",
                        f"old key {short(item.key_id)} of {item.user} was already gone",
                        "cloud.key_deleted",
                        ACTOR,
                    )
                    continue
                if key.status.lower() == "active":
                    self.cancel(item, "the key is active again, so something still uses it")
                    continue
                await provider.delete_access_key(item.user, item.key_id)
            except (CloudError, KeyError) as err:
                self._failed(item, str(err))
                continue
            self._finish(
                item,
                "deleted",
                f"old key {short(item.key_id)} of {item.user} ({item.environment}) deleted",
                "cloud.key_deleted",
                ACTOR,
            )
            deleted += 1
        return deleted

    def _finish(self, item: Scheduled, state: str, summary: str, action: str, actor: str) -> None:
        with self.db.begin() as conn:
            done = conn.execute(
                key_deletions.update()
                .where(
                    key_deletions.c.id == item.id,
                    key_deletions.c.state == "scheduled",
                )
                .values(state=state, done_at=utcnow())
            ).rowcount
            if done:  # another replica may have finished it first
                self.audit.append(
                    conn,
                    actor=actor,
                    action=action,
                    summary=summary,
                    detail={
                        "deletion": item.id,
                        "user": item.user,
                        "key": short(item.key_id),
                        "environment": item.environment,
                    },
                )

    def _failed(self, item: Scheduled, error: str) -> None:
        log.warning("key_deletion_failed", deletion=item.id, error=error)
        with self.db.begin() as conn:
            conn.execute(
                key_deletions.update()
                .where(key_deletions.c.id == item.id)
                .values(attempts=key_deletions.c.attempts + 1, last_error=error[:2000])
            )
            if item.attempts == 0:  # audit the first failure; the row keeps the latest
                self.audit.append(
                    conn,
                    actor=ACTOR,
                    action="cloud.key_deletion_failed",
                    summary=f"deleting old key {short(item.key_id)} of {item.user} failed: {error}",
                    detail={"deletion": item.id, "user": item.user, "key": short(item.key_id)},
                )


def _scheduled(row: Any) -> Scheduled:
    return Scheduled(
        int(row.id),
        row.provider,
        row.environment,
        row.user_name,
        row.key_id,
        row.due_at,
        row.state,
        int(row.attempts),
        row.last_error,
    )


class KeyDeletionSweeper:
    """The background service: sweeps at start (what fell due while opsroom was down) and
    then every ``interval`` seconds."""

    def __init__(self, deletions: KeyDeletions, interval: float) -> None:
        self.deletions = deletions
        self.interval = interval
        self.leads: Callable[[], bool] = lambda: True  # cluster mode: plugins.Live.leads
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="cloud-key-deletions")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                if self.leads():  # cluster mode: the leader deletes due keys
                    await self.deletions.sweep()
            except Exception:  # a bad sweep must not end the loop; the next one retries
                log.exception("key_deletion_sweep_failed")
            await asyncio.sleep(self.interval)

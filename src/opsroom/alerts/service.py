"""AlertService: the one object the rest of opsroom holds for alerts — a thin facade.

intake → dedup → group → route (``ingest``) → notify (``notifier``, ``cards``) → digest
(``digests``) → escalate (``escalation``); groups silenced in Alertmanager are polled
(``reconcile``), which sends nothing about silenced alerts; people act through ``acks``, ``silences`` and
``overrides``. Intake only writes state and wakes the notifier; the notifier — ``tick()``,
run by the task ``start()`` launches — is the only thing that posts group messages, so a
storm of webhooks never turns into a storm of chat calls. Every state change that matters
(posts, collapses, acks, silences, escalations) is audited inside the same transaction as
the change.

Everything time-based reads ``clock()``: tests move a fake clock and call ``tick()``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Sequence

from sqlalchemy import select

from opsroom.alerts import acks, overrides, silences
from opsroom.alerts.context import AlertContext, AlertError, AuditAppend, Hub, utc_now
from opsroom.alerts.digests import refresh_digests
from opsroom.alerts.digests import send_scheduled_digests as post_scheduled_digests
from opsroom.alerts.escalation import escalate_due
from opsroom.alerts.ingest import IngestResult
from opsroom.alerts.intake_queue import IntakeQueue
from opsroom.alerts.model import Alert
from opsroom.alerts.notifier import flush_due, settle
from opsroom.alerts.reconcile import SilencedPoll
from opsroom.alerts.render import Mint
from opsroom.alerts.tables import alert_groups
from opsroom.config.alerts import AlertsConfig
from opsroom.core import Message, Place, Principal
from opsroom.integrations.oncall import OnCall
from opsroom.store import Database
from opsroom.store.types import as_utc

if TYPE_CHECKING:  # httpx (24 modules) waits for a caller that passes a client
    import httpx

__all__ = ["AlertError", "AlertService", "AuditAppend", "Hub", "IngestResult", "utc_now"]

log = logging.getLogger(__name__)


class AlertService:
    def __init__(
        self,
        config: AlertsConfig,
        db: Database,
        hub: Hub,
        *,
        mint: Mint,
        audit_append: AuditAppend,
        oncall: OnCall | None = None,
        clock: Callable[[], dt.datetime] = utc_now,
        channels: Mapping[str, Place] | None = None,
        users: Mapping[str, Principal] | None = None,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.ctx = ctx = AlertContext(
            config,
            db,
            hub,
            mint=mint,
            audit_append=audit_append,
            oncall=oncall,
            clock=clock,
            channels=channels,
            users=users,
            http=http,
        )
        # The parts read these through ``ctx``; they are the same objects.
        self.config, self.db, self.hub, self.oncall = ctx.config, ctx.db, ctx.hub, ctx.oncall
        self.clock, self.channels, self.users, self.http = ctx.clock, ctx.channels, ctx.users, ctx.http
        self.router, self.budget = ctx.router, ctx.budget
        self._task: asyncio.Task[None] | None = None
        # Cluster mode: only the leader posts alert notifications (plugins.Live.leads), so its
        # budget window is the cluster's; a new leader re-reads the window from the database.
        self.leads: Callable[[], bool] = lambda: True
        self._leading = True
        self._last_scheduled_digest: dt.datetime | None = None
        self._silenced_poll = SilencedPoll()
        self._intake = IntakeQueue(ctx)

    # ------------------------------------------------------------------ places & people
    def place_for(self, channel_name: str) -> Place:
        return self.ctx.place_for(channel_name)

    def principal(self, name: str) -> Principal:
        return self.ctx.principal(name)

    def mentions_for(self, targets: Iterable[str], now: dt.datetime) -> list[Principal]:
        return self.ctx.mentions_for(targets, now)

    # ------------------------------------------------------------------ intake
    async def ingest(self, source: str, batch: Sequence[Alert]) -> IngestResult:
        """Store a parsed payload. Posting happens later, in ``tick()``.

        A batch of 100 alerts is tens of milliseconds of database work; in a storm of many
        such requests that work, done on the event loop, stalled every other request
        (``/healthz``, chat webhooks with a 3-second deadline) by seconds. So it runs on one
        alert thread (``AlertContext.offload``): batches stay serialized (no two intake transactions race to create
        the same group) and the loop stays free. Payloads that arrive while it is busy are
        stored together with one commit (``IntakeQueue``). An in-memory SQLite database is one
        connection shared by everyone, so there it stays on the loop."""
        result = await self._intake.store(source, batch, self.clock())
        self.ctx.wake.set()
        return result

    async def ingest_decoded(self, source: str, decode: Callable[[], Sequence[Alert] | None]) -> IngestResult | None:
        """``ingest(source, decode())`` with ``decode`` run on the parse thread, which hands
        the batch straight to the alert thread (``IntakeQueue.decode_and_store``); None, with
        nothing stored, when ``decode`` gives None. What ``decode`` raises is raised here."""
        result = await self._intake.decode_and_store(source, decode, self.clock())
        if result is not None:
            self.ctx.wake.set()
        return result

    # ------------------------------------------------------------------ the notifier
    async def start(self) -> None:
        """Restore the budget window and overrides, then run the timers in the background."""
        now = self.clock()
        self.restore_budget(now)
        self.load_overrides()
        self._last_scheduled_digest = now
        if self.oncall is not None:
            for problem in await self.oncall.refresh_ical(now):
                log.warning("on-call iCal import: %s", problem)
        self._task = asyncio.create_task(self._run(), name="opsroom-alerts")

    def restore_budget(self, now: dt.datetime) -> None:
        """The budget window as the database has it: the live notifications posted in it."""
        since = now - dt.timedelta(seconds=self.config.budget.window)
        self.budget.clear()
        with self.db.read() as conn:
            for row in conn.execute(
                select(alert_groups.c.channel_name, alert_groups.c.first_notified_at).where(
                    alert_groups.c.delivery == "live", alert_groups.c.first_notified_at > since
                )
            ):
                self.budget.record(row.channel_name, (as_utc(row.first_notified_at) or now).timestamp())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        await self.ctx.settle()  # what the task (or an intake) handed to a thread has finished

    async def _run(self) -> None:
        wake = self.ctx.wake
        while True:
            try:
                if self.oncall is not None:  # iCal feeds age; re-read those that are due
                    for problem in await self.oncall.refresh_due(self.clock()):
                        log.warning("on-call iCal import: %s", problem)
                leading = self.leads()
                if leading and not self._leading:  # just took over: the window another replica spent
                    self.restore_budget(self.clock())
                self._leading = leading
                if leading:
                    await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("alert notifier tick failed")
            try:  # asyncio.timeout, not wait_for: on 3.11 wait_for can drop a cancellation
                async with asyncio.timeout(self.config.tick):
                    await wake.wait()
            except TimeoutError:
                pass
            wake.clear()

    async def tick_at(self, now: dt.datetime) -> None:
        """A periodic job's tick (cluster/periodic.py) on whichever replica took it: the
        budget window as the database has it, then what was due at ``now``; the scheduled
        digest goes out in the one tick whose period crosses a digest boundary."""
        self.restore_budget(now)
        await self.tick(now, every_s=self.config.tick)

    async def tick(self, now: dt.datetime | None = None, *, every_s: float | None = None) -> None:
        """Do everything that is due now: flush groups, escalate, refresh digests."""
        async with self.ctx.lock:
            now = now or self.clock()
            await self._silenced_poll.run(self.ctx, now)
            await self.ctx.offload(settle, self.ctx, now)
            for _ in range(50):
                if not await flush_due(self.ctx, now):
                    break
            await escalate_due(self.ctx, now)
            await refresh_digests(self.ctx, now)
            if every_s is not None:  # a periodic job: the digest boundary from its timestamp alone
                interval, at = self.config.digest.interval, now.timestamp()
                if at // interval != (at - every_s) // interval:
                    await self.send_scheduled_digests(now)
            elif self._last_scheduled_digest is None:
                self._last_scheduled_digest = now
            elif (now - self._last_scheduled_digest).total_seconds() >= self.config.digest.interval:
                await self.send_scheduled_digests(now)

    async def send_scheduled_digests(self, now: dt.datetime | None = None) -> int:
        """Post one digest per channel of the low-severity groups held since the last one."""
        now = now or self.clock()
        self._last_scheduled_digest = now
        return await post_scheduled_digests(self.ctx, now)

    # ------------------------------------------------------------------ acting on alerts
    def find_group(self, target: str | int) -> Any:
        return acks.find_group(self.ctx, target)

    async def ack(self, target: str | int, principal: Principal, place: Place | None = None) -> Message:
        return await acks.ack(self.ctx, target, principal, place)

    async def silence(
        self,
        target: str | int,
        seconds: float,
        principal: Principal,
        place: Place | None = None,
        comment: str = "",
    ) -> Message:
        return await silences.silence(self.ctx, target, seconds, principal, place, comment)

    async def unsilence(self, target: str | int, principal: Principal, place: Place | None = None) -> Message:
        """``target`` is a silence id (as /silence answered) or ``#<group id>``."""
        return await silences.unsilence(self.ctx, target, principal, place)

    def runbook(self, name: str) -> Message:
        return acks.runbook(self.ctx, name)

    async def handle_action(
        self, kind: str, payload: Mapping[str, Any], principal: Principal, place: Place
    ) -> Message | None:
        """Button clicks the engine has already verified and authorized."""
        try:
            group = int(payload.get("group", 0))
            if kind == "alert.ack":
                return await self.ack(group, principal, place)
            if kind == "alert.silence":
                return await self.silence(group, float(payload.get("seconds", 3600)), principal, place)
            if kind == "alert.runbook":
                return self.runbook(str(payload.get("name", "")))
        except AlertError as exc:
            return Message.plain(str(exc), tone="warning")
        except (TypeError, ValueError):
            return Message.plain("that button carries a broken payload", tone="warning")
        return None

    # ------------------------------------------------------------------ on-call overrides
    def load_overrides(self) -> None:
        overrides.load_overrides(self.ctx)

    def add_override(
        self, schedule: str, user: str, seconds: float, principal: Principal, place: Place | None = None
    ) -> Message:
        return overrides.add_override(self.ctx, schedule, user, seconds, principal, place)

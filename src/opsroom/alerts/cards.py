"""A group's card: render it from the store, and re-render it in place after an ack or
silence (with a note in its thread)."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any, Sequence

from sqlalchemy import Connection

from opsroom.alerts.context import AlertContext
from opsroom.alerts.render import render_group
from opsroom.alerts.views import group_view, open_group
from opsroom.core import Message, Principal

log = logging.getLogger(__name__)


def render_card(
    ctx: AlertContext, conn: Connection, group: Any, now: dt.datetime, mentions: Sequence[Principal] = ()
) -> tuple[Message, Any]:
    view = group_view(conn, group)
    message = render_group(
        view,
        mint=ctx.mint,
        now=now,
        silence_durations=ctx.config.silence_durations,
        diagnostics=ctx.config.diagnostics,
        local_runbooks=bool(ctx.config.runbooks_dir),
        mentions=mentions,
    )
    return message, view


async def refresh_card(ctx: AlertContext, gid: int, note: str) -> None:
    """Re-render a live group after an ack/silence and say so in its thread."""
    now = ctx.clock()
    with ctx.db.read() as conn:
        group = open_group(conn, gid)
        if group is None or group.delivery != "live" or not group.message_id:
            return
        message, _ = render_card(ctx, conn, group, now)
    ref = ctx.ref(group)
    try:
        await ctx.hub.update(ref, message)
        await ctx.hub.send(ref.thread_place, Message.plain(note))
    except Exception:
        log.exception("could not update the message of alert group %s", gid)

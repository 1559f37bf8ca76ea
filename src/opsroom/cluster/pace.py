"""Chat rate budgets shared by the replicas.

Slack allows about one message a second per channel, whoever sends it: three replicas each
pacing on their own would post three a second. In cluster mode a channel's next free slot is
a row (``chat_pace``), moved forward by one atomic upsert per post, on the database's clock::

    INSERT … ON CONFLICT (key) DO UPDATE SET next_at = GREATEST(next_at, now) + interval
    RETURNING next_at - interval - now      -- how long this post waits for its slot

Each replica still queues its own posts to a channel in order and collapses waiting edits of
one message (chat/pacing.py); the row only spaces the replicas' turns.
"""

from __future__ import annotations

from sqlalchemy import text

from opsroom.store import Database

_RESERVE = text(
    """
    INSERT INTO chat_pace (key, next_at) VALUES (:key, clock_timestamp() + make_interval(secs => :gap))
    ON CONFLICT (key) DO UPDATE
        SET next_at = GREATEST(chat_pace.next_at, clock_timestamp()) + make_interval(secs => :gap)
    RETURNING EXTRACT(EPOCH FROM (chat_pace.next_at - make_interval(secs => :gap) - clock_timestamp()))
    """
)


class SharedPace:
    def __init__(self, db: Database, platform: str) -> None:
        self.db = db
        self.platform = platform

    def reserve(self, channel: str, interval: float) -> float:
        """Take the channel's next slot; the seconds to wait before posting (0 if it is now)."""
        with self.db.begin() as conn:
            wait = conn.execute(_RESERVE, {"key": f"{self.platform}:{channel}"[:300], "gap": interval}).scalar()
        return max(0.0, float(wait or 0.0))

"""What the Matrix adapter must remember across restarts, in one SQLite file in its store
folder (next to nio's device-key store):

- the sync token, saved only after every event of a sync was handed to the engine, so a
  restart neither replays old commands nor misses the ones sent while opsroom was down;
- the device (id and access token) a password login created, so a restart reuses the same
  device and its encryption keys instead of appearing as a new, unknown device;
- which of the bot's messages carried which buttons, so a reaction on a message an earlier
  process posted still presses the right signed action.

It is the adapter's private state, not opsroom data: deleting the folder makes the bot a new
device that starts from "now".
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from opsroom.chat.local_state import LocalState

BUTTON_DAYS = 30  # buttons older than this are forgotten (their tokens have expired anyway)


@dataclass(frozen=True)
class SavedButton:
    room_id: str
    thread: str | None
    action_id: str


class MatrixState(LocalState):
    def __init__(self, folder: Path) -> None:
        super().__init__(folder, "opsroom-matrix.sqlite")

    def _schema(self) -> str:
        return """
            CREATE TABLE IF NOT EXISTS buttons (
                event_id TEXT NOT NULL, label TEXT NOT NULL, room_id TEXT NOT NULL,
                thread TEXT, action_id TEXT NOT NULL, created REAL NOT NULL,
                PRIMARY KEY (event_id, label));
        """

    def remember_buttons(self, event_id: str, room_id: str, thread: str | None, buttons: dict[str, str]) -> None:
        """Replace the buttons of ``event_id`` (label lower-cased → action id); none = forget."""
        now = time.time()
        with self._lock:
            self._conn.execute("DELETE FROM buttons WHERE event_id = ?", (event_id,))
            self._conn.executemany(
                "INSERT INTO buttons (event_id, label, room_id, thread, action_id, created) VALUES (?,?,?,?,?,?)",
                [(event_id, label, room_id, thread, action, now) for label, action in buttons.items()],
            )
            self._conn.execute("DELETE FROM buttons WHERE created < ?", (now - BUTTON_DAYS * 86400,))

    def button(self, event_id: str, label: str) -> SavedButton | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT room_id, thread, action_id FROM buttons WHERE event_id = ? AND label = ?",
                (event_id, label.lower()),
            ).fetchone()
        return SavedButton(row[0], row[1], row[2]) if row else None

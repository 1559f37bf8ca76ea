"""Checkpointing SQLite's WAL off the event loop.

In WAL mode every commit appends pages to the ``-wal`` file, and a checkpoint copies them
back into the database file. By default SQLite runs it inside whichever commit crosses 1000
WAL pages; with opsroom's ~18 pages per command that was one command in ~55, and that
command's commit took 1–100 ms on the event loop (most of the dispatch benchmark's p99).
``Database`` turns that off for its connections (``wal_autocheckpoint=0``) and runs a
``WalCheckpointer`` instead.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import weakref
from urllib.parse import quote

log = logging.getLogger(__name__)

WAL_SIZE_LIMIT = 16 * 1024 * 1024  # bytes the WAL file is cut back to after a reset
_RESTART_FRAMES = 32_768  # 64 MiB of 2 KiB pages (128 of 4 KiB, older files): then writers wait for a reset


class WalCheckpointer:
    """Copies an SQLite database's WAL back into the database file, from its own thread.

    Every ``interval`` seconds, when the WAL file has changed, it runs a PASSIVE checkpoint,
    which never blocks a writer or a reader (SQLite releases the GIL meanwhile). Durability
    does not change: a commit is durable once it is in the WAL, as before; checkpointing
    only moves pages. Under writes that never pause, a passive checkpoint can never let the
    WAL start over, so past ``_RESTART_FRAMES`` it runs a RESTART checkpoint once, which
    makes writers wait for it (rare: every 32,768 WAL pages, 64–128 MiB of writes).

    The thread holds the owner weakly and ends with ``stop()`` or when the owner is gone.
    """

    def __init__(self, path: str, *, owner: object, interval: float = 0.2) -> None:
        self.path = os.path.abspath(path)
        self.interval = interval
        self._stop = threading.Event()
        self._owner = weakref.ref(owner)
        self._thread = threading.Thread(target=self._loop, name="sqlite-checkpointer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(5)

    def _loop(self) -> None:
        conn: sqlite3.Connection | None = None
        seen: tuple[float, int] | None = None
        try:
            while not self._stop.wait(self.interval) and self._owner() is not None:
                try:
                    st = os.stat(self.path + "-wal")
                except FileNotFoundError:
                    continue
                if (st.st_mtime, st.st_size) == seen:
                    continue
                seen = (st.st_mtime, st.st_size)  # as before it: writes meanwhile go next time
                try:
                    if conn is None:
                        # mode=rw: never create a database where ours has gone
                        conn = sqlite3.connect(
                            f"file:{quote(self.path)}?mode=rw", uri=True, isolation_level=None, check_same_thread=False
                        )
                        conn.execute("PRAGMA busy_timeout=200")
                    self.checkpoint(conn)
                except (sqlite3.Error, OSError) as err:
                    log.warning("sqlite checkpoint failed: %s", err)
        finally:
            if conn is not None:
                conn.close()

    @staticmethod
    def checkpoint(conn: sqlite3.Connection) -> tuple[int, int, int]:
        """(busy, frames in the WAL, frames copied), as SQLite reports them."""
        busy, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        if frames >= _RESTART_FRAMES:
            busy, frames, copied = conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
        return busy, frames, copied

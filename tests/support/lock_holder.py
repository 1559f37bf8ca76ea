"""A command that holds a lock for a while and writes when it does, for the kill -9 test:
``python lock_holder.py TAG LOG`` appends ``TAG start|tick|end <unix time>`` lines, one every
20 ms while it runs, so the test can tell from the file when each run really held the lock
(a run whose process is killed stops ticking)."""

from __future__ import annotations

import os
import sys
import time

# Longer than a restart of the server takes: an orphan left running would still be writing
# when the restarted server starts the next run under the lock.
HOLD_SECONDS = 6.0


def main() -> None:
    tag, log = sys.argv[1], sys.argv[2]
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def note(what: str) -> None:
        os.write(fd, f"{tag} {what} {time.time():.6f}\n".encode())

    note("start")
    until = time.monotonic() + HOLD_SECONDS
    while time.monotonic() < until:
        time.sleep(0.02)
        note("tick")
    note("end")
    print(f"held the lock as {tag}")


if __name__ == "__main__":
    main()

"""A real pseudo-terminal for CLI tests: the process sees a TTY of a known size, and what it
wrote is replayed through a terminal emulator (pyte), so a test reads the screen a person
would see — redrawn blocks collapse to what is left on screen, as they do for the eye."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import termios
import time
from collections.abc import Callable
from pathlib import Path

import pyte

COLUMNS, ROWS = 140, 80


def _take_terminal() -> None:
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Terminal:
    def __init__(self, argv: list[str], *, cwd: Path, env: dict[str, str], columns: int = COLUMNS) -> None:
        master, slave = pty.openpty()
        self.columns = columns
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, columns, 0, 0))
        environ = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "COLUMNS", "LINES")}
        self.process = subprocess.Popen(
            argv,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            cwd=cwd,
            env={**environ, "TERM": "xterm-256color", **env},
            start_new_session=True,
            preexec_fn=_take_terminal,  # noqa: PLW1509 - its controlling terminal: Ctrl-C reaches it
        )
        os.close(slave)
        self.master = master
        self.raw = b""

    def read_until(self, done: Callable[[bytes], bool], timeout: float = 60) -> bytes:
        """Read until ``done(everything read so far)``; fail with the screen if it never is."""
        deadline = time.monotonic() + timeout
        while not done(self.raw):
            assert time.monotonic() < deadline, "timed out; the screen:\n" + "\n".join(self.screen())
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if ready:
                try:
                    self.raw += os.read(self.master, 65536)
                except OSError:  # the process closed the terminal
                    assert done(self.raw), "the process ended; the screen:\n" + "\n".join(self.screen())
        return self.raw

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    def screen(self) -> list[str]:
        """The screen now, trailing blanks dropped."""
        screen = pyte.Screen(self.columns, ROWS)
        pyte.ByteStream(screen).feed(self.raw)
        lines = [line.rstrip() for line in screen.display]
        while lines and not lines[-1]:
            lines.pop()
        return lines

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)
        os.close(self.master)

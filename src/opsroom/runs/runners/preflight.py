"""A runner's pre-flight: a cheap, read-only check run before anyone is asked to confirm or
approve, so nobody approves a run that can only fail ("payments in production already runs
v4.12.3; nothing to roll back").

A runner offers one by having ``async preflight(args) -> str | None``: None lets the command
go on, a sentence refuses it. The ``exec`` runner's is the ``preflight`` option, an argv
template like ``argv``::

    runner:
      type: exec
      argv:      ["{python}", "-m", "tools", "rollback", "{service}", "{version}"]
      preflight: ["{python}", "-m", "tools", "rollback-check", "{service}", "{version}"]

Exit 0 lets the command go on; any other exit refuses it, and the last line the check printed
(stderr first, else stdout) is the sentence shown. A check that cannot start, or does not end
within ``PREFLIGHT_TIMEOUT``, refuses nothing: the run itself will tell. Never a shell; the
same scrubbed environment as the run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

import structlog

PREFLIGHT_TIMEOUT = 10.0
MAX_SENTENCE = 300
READ_LIMIT = 64 * 1024

log = structlog.get_logger(__name__)


async def run_check(argv: Sequence[str], env: Mapping[str, str], cwd: str | None) -> str | None:
    """Run one pre-flight program; its refusal sentence, or None (go on)."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
        )
    except (OSError, ValueError) as exc:
        log.warning("preflight_not_started", program=argv[0] if argv else "", error=str(exc))
        return None
    try:
        out, err = await asyncio.wait_for(proc.communicate(), PREFLIGHT_TIMEOUT)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        log.warning("preflight_timed_out", program=argv[0], seconds=PREFLIGHT_TIMEOUT)
        return None
    if proc.returncode == 0:
        return None
    return sentence(err[-READ_LIMIT:]) or sentence(out[-READ_LIMIT:]) or f"the check exited with {proc.returncode}"


def sentence(raw: bytes) -> str:
    """The last non-empty line, trimmed, without a closing full stop (the caller adds one)."""
    lines = [line.strip() for line in raw.decode(errors="replace").splitlines() if line.strip()]
    return lines[-1][:MAX_SENTENCE].rstrip(".") if lines else ""

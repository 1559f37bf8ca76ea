"""Python runners and helpers for the guardrails integration tests."""

from __future__ import annotations

import os
from typing import Any, AsyncIterator

from opsroom.core import ActionEvent, Button, OutputChunk, RunContext

FAKE_GITHUB = "ghp_" + "Z9" * 18  # a GitHub token shape


async def leaky_stdout(ctx: RunContext) -> AsyncIterator[OutputChunk]:
    yield OutputChunk(f"connecting with {os.environ.get('GUARD_DB_PASSWORD', '')}")
    yield OutputChunk(f"github says {FAKE_GITHUB}", "stderr")
    yield OutputChunk("done", exit_code=0)


async def leaky_crash(ctx: RunContext) -> str:
    raise RuntimeError(f"login failed for postgres://deploy:{os.environ.get('GUARD_DB_PASSWORD', '')}@db/app")


async def private_report(ctx: RunContext) -> str:
    return "customer list: ACME, Globex, Initech"


def buttons(message: Any) -> dict[str, Button]:
    return {b.label: b for b in message.buttons()}


async def click(chat: Any, user: str, action_id: str, channel: str = "#ops") -> None:
    await chat.handler(ActionEvent(chat.place(channel), user, action_id))
